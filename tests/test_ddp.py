"""Step 10, DistributedDataParallel: real torchrun launches on the CPU (gloo, loopback only)
train what step 3 trains, for any world size, and the run's faults end it with one line.

The runs that need no interaction start in the background when the tests are collected
(conftest.py, `torchrun_runs`); the ones that kill or interrupt a run are made here.
"""
import os
import re
import signal
import subprocess
import sys
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
    load,
    our_lines,
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


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_float64_losses_of_any_world_size_are_step_3s(processes, torchrun_runs):
    """The whole batch's loss, printed once per step by rank 0, within 1e-9 relative of step 3's
    for 500 steps from the same seed. Sums in another order round differently (about 1e-16
    relative per operation), which gradient descent carries on; measured: at most 7.4e-10."""
    result = torchrun_runs[("float64", processes)]
    assert result.returncode == 0, result.stderr
    assert our_lines(result.stderr) == header(processes, "float64")
    losses = step_losses(result.stdout)
    assert [t for t, _ in losses] == list(range(500))
    step_3 = load(REFERENCE)
    reference = step_3.train(*step_3.make_data(0, torch.float64, "cpu"), print_every=0)
    torch.testing.assert_close(as_float64([loss for _, loss in losses]),
                               as_float64(reference), rtol=1e-9, atol=0)


def test_divergence_ends_every_rank_with_the_message_of_the_other_steps(torchrun_runs):
    result = torchrun_runs["--lr 1"]
    assert result.returncode != 0
    ours = without_torchruns_report(result.stderr)
    losses = step_losses(result.stdout)
    assert losses and [t for t, _ in losses] == list(range(len(losses)))
    assert ours == header(2).replace("lr: 1e-06", "lr: 1.0") + (
        f"{PROG}: the loss became {'inf' if 'inf' in ours else 'nan'} at step {len(losses)} "
        "with --lr 1.0; try a smaller --lr\n")
    # Each process stops at the same step with status 1 (torchrun may end one first).
    assert set(failed_ranks(result.stderr).values()) <= {"1", "-15"}
    assert "1" in failed_ranks(result.stderr).values()


def test_a_bad_option_gets_one_line_not_one_per_rank(torchrun_runs):
    result = torchrun_runs["--steps 0"]
    assert result.returncode != 0 and result.stdout == ""
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


def start_long_run(tmp_path, *args):
    """Two processes, training for ever; returns once rank 0 has printed a loss."""
    process = subprocess.Popen(
        torchrun_command(2, "--steps", "100000000", *args), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,   # a terminal's own job
        env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    assert STEP_LOSS_LINE.match(process.stdout.readline())
    return process


def stop(process):
    """Whatever the test found, leave no process of the run behind."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def worker_of_rank(launcher_pid, rank):
    """The pid of the process torchrun started with RANK=rank (Linux's /proc)."""
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and int((entry / "stat").read_text().split()[3])
                    == launcher_pid and f"\0RANK={rank}\0".encode()
                    in b"\0" + (entry / "environ").read_bytes()):
                return int(entry.name)
        except OSError:                             # gone, or not ours to read
            continue
    raise AssertionError(f"no process of rank {rank} under torchrun ({launcher_pid})")


def kill_rank_1_and_check_the_run_ends(tmp_path, *args):
    """SIGKILL to rank 1 of a running pair: the run ends within a minute, not 0, and torchrun's
    report names rank 1; rank 0 prints no traceback."""
    process = start_long_run(tmp_path, *args)
    try:
        os.kill(worker_of_rank(process.pid, 1), signal.SIGKILL)
        killed = time.monotonic()
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - killed
    finally:
        stop(process)
    assert process.returncode != 0 and took < 60
    assert failed_ranks(err)[1] == "-9"             # rank 1, SIGKILL: torchrun's report
    root_cause = err.split("Root Cause")[1]
    assert re.search(r"rank\s+: 1 \(local_rank: 1\)", root_cause), err
    assert "[rank" not in without_torchruns_report(err)      # no traceback from rank 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker in /proc")
def test_a_killed_process_ends_the_run_within_a_minute_naming_its_rank(tmp_path):
    kill_rank_1_and_check_the_run_ends(tmp_path)


def test_ctrl_c_ends_every_rank_without_a_traceback(tmp_path):
    """The terminal sends SIGINT to torchrun's process group, and torchrun passes it on to
    each process (they run in sessions of their own). Each stops with status 130, rank 0 says
    so once; then torchrun, on its own, prints a traceback of its own code and exits 1."""
    process = start_long_run(tmp_path)
    try:
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        stop(process)
    assert process.returncode != 0
    ours, torchruns = our_lines(err).split("Traceback (most recent call last):\n", 1)
    assert ours == header(2) + f"{PROG}: interrupted\n", err
    # Then torchrun's own traceback, only: its SignalException
    assert "Traceback" not in torchruns and "torch/distributed/run.py" in torchruns
    assert torchruns.rstrip().endswith("got signal: 2")
