"""Step 11, DistributedDataParallel: real torchrun launches on the CPU (gloo, loopback only)
train what step 3 trains, for any world size, and the run's faults end it with one line.

The runs that need no interaction start in the background when the tests are collected
(conftest.py, `torchrun_runs`); the ones that kill or interrupt a run are made here.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from ladder import (
    DDP,
    REFERENCE,
    ROOT,
    STEP_LOSS_LINE,
    as_float64,
    default_losses,
    load,
    our_lines,
    processes,
    run_main,
    step_losses,
)

PROG = f"{DDP}.py"
# What torchrun itself prints when a process fails: a traceback of torchrun's own code, which
# ends in ChildFailedError and a table of the failed processes (rank, exit code, signal).
TORCHRUN_FAILURE = re.compile(r"Traceback \(most recent call last\):\n.*"
                              r"torch\.distributed\.elastic\.multiprocessing\.errors\."
                              r"ChildFailedError: \n=+\n.*\n=+\n?", re.S)


def launcher():
    """torchrun, from the environment the tests run in."""
    torchrun = Path(sys.executable).with_name("torchrun")
    return [str(torchrun)] if torchrun.exists() else [sys.executable, "-m",
                                                      "torch.distributed.run"]


def torchrun_command(processes, *args):
    """The README's command: torchrun --standalone --nproc_per_node P two_layer_net_ddp.py."""
    return [*launcher(), "--standalone", "--nproc_per_node", str(processes), str(ROOT / PROG),
            *args]


def without_torchruns_report(err):
    """Our processes' standard error: without torch's log lines and torchrun's failure report."""
    return TORCHRUN_FAILURE.sub("", our_lines(err))


def failed_ranks(err):
    """rank -> exit code (or the signal's name) from torchrun's failure table."""
    return {int(rank): code for rank, code in re.findall(
        r"rank\s+: (\d+) \(local_rank: \d+\)\n\s+exitcode\s+: (-?\d+)", err)}


def header(processes, dtype="float32"):
    return (f"device: cpu, dtype: {dtype}, optimizer: sgd, lr: 1e-06, backend: gloo, "
            f"processes: {processes}\n")


def test_shards_cover_the_batch_once_larger_first():
    shard = load(DDP).shard
    for world_size in range(1, 65):
        bounds = [shard(rank, world_size) for rank in range(world_size)]
        rows = [row for start, stop in bounds for row in range(start, stop)]
        assert rows == list(range(64)), world_size
        sizes = [stop - start for start, stop in bounds]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] - sizes[-1] <= 1, world_size


def test_float64_losses_of_a_world_of_one_are_step_3s():
    """One process, in a world of one as main() makes it without a launcher, against step 3 as
    below. (Under torchrun only the connecting differs; test_tools launches one process.)"""
    torch.testing.assert_close(as_float64(default_losses(DDP, 0, "float64")),
                               as_float64(default_losses(REFERENCE, 0, "float64")), rtol=1e-9,
                               atol=0)


def check_float64_losses_are_step_3s(out):
    """Rank 0's losses, once per step, within 1e-9 relative of step 3's 500 from the same seed.
    Sums in another order round differently (about 1e-16 relative per operation), which
    gradient descent carries on; measured: at most 7.4e-10."""
    losses = step_losses(out)
    assert [t for t, _ in losses] == list(range(500))
    torch.testing.assert_close(as_float64([loss for _, loss in losses]),
                               as_float64(default_losses(REFERENCE, 0, "float64")), rtol=1e-9,
                               atol=0)


def test_float64_losses_of_two_processes_are_step_3s(torchrun_runs):
    """The README's command, with --dtype float64: the whole batch's loss for 500 steps."""
    result = torchrun_runs[("float64", 2)]
    assert result.returncode == 0, result.stderr
    assert our_lines(result.stderr) == header(2, "float64")
    check_float64_losses_are_step_3s(result.stdout)


def test_float64_losses_of_three_processes_are_step_3s(interactive_runs):
    """Three processes keep 22, 21 and 21 rows, shards of unequal size: together their gradients
    must still make the whole batch's. The first 500 losses of the run that
    test_ctrl_c_ends_every_rank_... then interrupts (one launch for both: each launch costs
    seconds of CPU to start)."""
    lines, result = interactive_runs["three processes, Ctrl-C"]
    assert len(lines) == 500, (lines[-3:], result.stderr)
    assert our_lines(result.stderr).startswith(header(3, "float64")), result.stderr
    check_float64_losses_are_step_3s("".join(lines))


def test_divergence_ends_every_rank_with_the_message_of_the_other_steps(torchrun_runs):
    result = torchrun_runs["--lr 1"]
    assert result.returncode == 1       # torchrun's status, whatever its processes' (versions.md)
    ours = without_torchruns_report(result.stderr)
    losses = step_losses(result.stdout)
    assert losses and [t for t, _ in losses] == list(range(len(losses)))
    assert ours == header(2).replace("lr: 1e-06", "lr: 1.0") + (
        f"{PROG}: the loss became {'inf' if 'inf' in ours else 'nan'} at training step "
        f"{len(losses)} with --lr 1.0; try a smaller --lr\n")
    # Each process stops at the same step with status 1 (torchrun may end one first).
    assert set(failed_ranks(result.stderr).values()) <= {"1", "-15"}
    assert "1" in failed_ranks(result.stderr).values()


def test_a_bad_option_gets_one_line_not_one_per_rank(torchrun_runs):
    result = torchrun_runs["--steps 0"]
    assert result.returncode == 1 and result.stdout == ""
    ours = without_torchruns_report(result.stderr).splitlines()
    assert ours[0].startswith("usage: ") and len([line for line in ours if "usage" in line]) == 1
    assert ours[-1] == f"{PROG}: error: argument --steps: must be at least 1, got 0"
    assert "Traceback" not in "\n".join(ours)
    assert "2" in failed_ranks(result.stderr).values()


def test_other_ranks_check_the_options_silently(monkeypatch, capsys):
    for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2",
                        "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    assert run_main(DDP, ["--steps", "0"], capsys) == (2, "", "")


def test_timings_says_what_a_step_took(capsys):
    status, out, err = run_main(DDP, ["--steps", "3", "--device", "cpu", "--timings"], capsys)
    assert status == 0 and len(step_losses(out)) == 3
    assert re.fullmatch(r"[0-9.]+ ms per step \(median of 3, 1 process\)",
                        err.splitlines()[-1]), err


@pytest.mark.parametrize("argv, world_size, message", [
    (["--backend", "nccl", "--device", "cpu"], "1",
     "--backend nccl moves CUDA tensors only: it needs --device cuda"),
    ([], "65", "the batch has 64 rows, too few for 65 processes: start at most 64"),
])
def test_a_run_that_cannot_be_made_stops_before_connecting(argv, world_size, message,
                                                           monkeypatch, capsys):
    """Before init_process_group, so that no process waits for the others."""
    for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": world_size,
                        "LOCAL_WORLD_SIZE": world_size}.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    status, out, err = run_main(DDP, argv, capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1] == f"{load(DDP).build_parser().prog}: error: {message}"
    assert time.monotonic() - started < 5 and not torch.distributed.is_initialized()


def start_long_run(folder, *args, processes=2):
    """Processes training for ever: (the process, the first line rank 0 printed)."""
    process = subprocess.Popen(
        torchrun_command(processes, "--steps", "100000000", *args), cwd=folder,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,                                       # a terminal's own job
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    # Whatever the test waits for, the run ends within 5 minutes: a run that hangs then reads
    # as ended (readline() returns ""), and the test says what it did not see.
    watchdog = threading.Timer(300, stop, [process])
    watchdog.daemon = True
    watchdog.start()
    return process, process.stdout.readline()


def stop(process):
    """Whatever happened, leave no process of the run behind."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_of_rank(launcher_pid, rank):
    """The pid of the process torchrun started with RANK=rank (Linux's /proc), or None."""
    for pid, _, parent, _ in processes():
        try:
            if parent == launcher_pid and f"\0RANK={rank}\0".encode() in b"\0" + Path(
                    f"/proc/{pid}/environ").read_bytes():
                return pid
        except OSError:                             # gone, or not ours to read
            continue
    return None


def a_pair_with_rank_1_killed(folder, *args):
    """Once rank 0 of a running pair has printed a loss, SIGKILL to rank 1: the run's first
    line, its CompletedProcess, and the seconds from the kill to the end. (Run in the
    background from conftest.py; the test checks what it returns.)"""
    process, first = start_long_run(folder, *args)
    try:
        worker = worker_of_rank(process.pid, 1)
        if worker is None:                           # the check below names what is missing
            stop(process)
        else:
            os.kill(worker, signal.SIGKILL)
        killed = time.monotonic()
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        stop(process)
    return first, subprocess.CompletedProcess(process.args, process.returncode, out, err), took


def check_the_run_ends_naming_rank_1(first, result, took):
    """What a_pair_with_rank_1_killed returned: the run ended within a minute, not 0, and
    torchrun's report names rank 1; rank 0 printed no traceback."""
    assert STEP_LOSS_LINE.match(first), (first, result.stderr)
    assert result.returncode == 1 and took < 60
    # rank 1, SIGKILL: torchrun's report
    assert failed_ranks(result.stderr).get(1) == "-9", result.stderr
    root_cause = result.stderr.split("Root Cause")[1]
    assert re.search(r"rank\s+: 1 \(local_rank: 1\)", root_cause), result.stderr
    assert "[rank" not in without_torchruns_report(result.stderr)   # no traceback from rank 0


def three_processes_interrupted(folder):
    """Three processes in float64 (3 does not divide the batch of 64), and Ctrl-C, as a terminal
    sends it (SIGINT to torchrun's process group), once rank 0 has printed 500 losses: those
    lines and the CompletedProcess. On Windows, where no SIGINT can be sent to a child, the run
    stops after 500 steps by itself."""
    if sys.platform == "win32":
        result = subprocess.run(torchrun_command(3, "--dtype", "float64"), cwd=folder,
                                capture_output=True, text=True, timeout=300)
        return result.stdout.splitlines(keepends=True), result
    process, first = start_long_run(folder, "--dtype", "float64", processes=3)
    try:
        lines = [first]
        while len(lines) < 500 and lines[-1]:          # "": the run ended first (the tests say)
            lines.append(process.stdout.readline())
        lines = [line for line in lines if line]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        stop(process)
    return lines, subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker in /proc")
def test_a_killed_process_ends_the_run_within_a_minute_naming_its_rank(interactive_runs):
    check_the_run_ends_naming_rank_1(*interactive_runs["a pair, rank 1 killed"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a child on Windows")
def test_ctrl_c_ends_every_rank_without_a_traceback(interactive_runs):
    """The terminal sends SIGINT to torchrun's process group, and torchrun passes it on to
    each process (they run in sessions of their own). Each stops with status 130, rank 0 says
    so once; then torchrun, on its own, prints a traceback of its own code and exits 1."""
    lines, result = interactive_runs["three processes, Ctrl-C"]
    assert len(lines) == 500, (lines[-3:], result.stderr)         # training, when interrupted
    err = result.stderr
    assert result.returncode == 1
    ours, torchruns = our_lines(err).split("Traceback (most recent call last):\n", 1)
    assert ours == header(3, "float64") + f"{PROG}: interrupted\n", err
    # Then torchrun's own traceback, only: its SignalException
    assert "Traceback" not in torchruns and "torch/distributed/run.py" in torchruns
    assert torchruns.rstrip().endswith("got signal: 2")
