"""On CUDA the torch steps compute what they compute on the CPU. Skipped where there is no CUDA."""
import subprocess
import sys

import pytest
import torch
from ladder import DDP, REFERENCE, as_float64, inputs_for, load, random_problem, world_of_one
from test_ddp import (
    a_pair_with_rank_1_killed,
    check_the_run_ends_naming_rank_1,
    failed_ranks,
    torchrun_command,
    without_torchruns_report,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA is not available on this machine")


@pytest.fixture
def highest_precision():
    """Full float32 matmuls on the GPU (no TF32), so CPU and CUDA differ by rounding only."""
    saved = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    yield
    torch.set_float32_matmul_precision(saved)


def test_same_start_on_cpu_and_cuda(torch_script_name):
    step = load(torch_script_name)
    on_cpu = step.make_data(0, torch.float32, "cpu")
    on_cuda = step.make_data(0, torch.float32, "cuda")
    for a, b in zip(on_cpu, on_cuda):
        assert b.device.type == "cuda"
        torch.testing.assert_close(b.cpu(), a, rtol=0, atol=0)


def test_float32_gradients_match_the_cpu(torch_step_name, highest_precision):
    step = load(torch_step_name)
    loss_cpu, *grads_cpu = step.loss_and_grads(*step.make_data(0, torch.float32, "cpu"))
    loss_cuda, *grads_cuda = step.loss_and_grads(*step.make_data(0, torch.float32, "cuda"))
    assert loss_cuda == pytest.approx(loss_cpu, rel=1e-5)
    for cpu, cuda in zip(grads_cpu, grads_cuda):
        # float32 sums of 1000 products in another order: relative to the largest entry.
        torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-4, atol=1e-5 * cpu.abs().max().item())


def test_float64_training_on_cuda_matches_the_cpu(torch_step_name):
    problem = random_problem(5, 64, 1000, 100, 10)
    cpu_losses = load(REFERENCE).train(*inputs_for(REFERENCE, *problem), print_every=0)
    args = inputs_for(torch_step_name, *problem, device="cuda")
    cuda_losses = load(torch_step_name).train(*args, print_every=0)
    assert args[2].device.type == "cuda"
    torch.testing.assert_close(as_float64(cuda_losses), as_float64(cpu_losses),
                               rtol=1e-7, atol=0)


def test_script_picks_cuda_by_default(torch_script_name, capsys):
    status = load(torch_script_name).main(["--steps", "3"])
    out, err = capsys.readouterr()
    assert status == 0
    assert err.startswith("device: cuda")
    assert len(out.splitlines()) == 3


def test_dynamic_net_float64_on_cuda_matches_the_cpu():
    dynamic = load("dynamic_net")
    cpu_losses = dynamic.train(*dynamic.make_data(0, torch.float64, "cpu"), print_every=0)
    cuda_losses = dynamic.train(*dynamic.make_data(0, torch.float64, "cuda"), print_every=0)
    torch.testing.assert_close(as_float64(cuda_losses), as_float64(cpu_losses),
                               rtol=1e-7, atol=0)


def test_compiled_step_float64_on_cuda_matches_step_3_on_the_cpu():
    """Step 10 with inductor (Triton kernels on a GPU) against eager step 3 on the CPU."""
    problem = random_problem(5, 64, 1000, 100, 10)
    cpu_losses = load(REFERENCE).train(*inputs_for(REFERENCE, *problem), print_every=0)
    args = inputs_for(REFERENCE, *problem, device="cuda")
    cuda_losses = load("two_layer_net_compile").train(*args, print_every=0, backend="inductor")
    torch.testing.assert_close(as_float64(cuda_losses), as_float64(cpu_losses),
                               rtol=1e-7, atol=0)


def test_compiled_step_with_cuda_graphs_trains(capsys):
    status = load("two_layer_net_compile").main(
        ["--steps", "20", "--device", "cuda", "--mode", "reduce-overhead"])
    out, err = capsys.readouterr()
    assert status == 0, err
    losses = [float(line.split()[1]) for line in out.splitlines()]
    assert len(losses) == 20 and losses[-1] < losses[0] / 100
    assert "mode: reduce-overhead" in err
    assert "first step (capture, then compile or reuse from the cache)" in err


def test_ddp_float64_with_nccl_on_cuda_matches_step_3_on_the_cpu():
    """Step 11 in a world of one process on the GPU (NCCL), against step 3 on the CPU."""
    ddp, step_3 = load(DDP), load(REFERENCE)
    cpu_losses = step_3.train(*step_3.make_data(0, torch.float64, "cpu"), print_every=0)
    with world_of_one("nccl"):
        cuda_losses = ddp.train(*ddp.make_data(0, torch.float64, "cuda"), print_every=0)
    torch.testing.assert_close(as_float64(cuda_losses), as_float64(cpu_losses), rtol=1e-7, atol=0)


def test_ddp_wants_a_gpu_per_process(tmp_path):
    """More processes than GPUs with --device cuda: one line, exit 2, on every process; the
    run stops, not hangs."""
    processes = torch.cuda.device_count() + 1
    result = subprocess.run(torchrun_command(processes, "--device", "cuda"), cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    message = (f"{DDP}.py: error: {processes} processes on this machine, and "
               f"{processes - 1} GPUs: --device cuda wants one GPU per process")
    assert without_torchruns_report(result.stderr).count(message) == 1, result.stderr
    assert "2" in failed_ranks(result.stderr).values()


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason="NCCL wants a GPU per process, and a pair needs two GPUs")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker in /proc")
def test_a_killed_process_under_nccl_ends_the_run_within_a_minute_naming_its_rank(tmp_path):
    check_the_run_ends_naming_rank_1(*a_pair_with_rank_1_killed(tmp_path, "--device", "cuda"))
