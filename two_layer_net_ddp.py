"""Step 11: the same net, trained by many processes at once with DistributedDataParallel.

New since step 8 (two_layer_net_module.py), whose model this step keeps: torchrun starts the
processes and tells each its rank (0, 1, ...) and the world size; init_process_group connects
them (gloo on the CPU, NCCL on CUDA GPUs, one per process). Each draws the same data and keeps
its own rows of the batch; DDP wraps the model and all-reduces the gradients in backward(), so
every process takes the same step.

Run it:  torchrun --standalone --nproc_per_node 2 two_layer_net_ddp.py   # two processes
         python two_layer_net_ddp.py                                      # a world of one
"""
import argparse
import contextlib
import datetime
import gc
import math
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6
# Each optimizer, with the learning rate it gets when none is given (no --lr; in train(), None).
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}
# How long a process waits for the others (to connect, or in a collective) before it gives up
TIMEOUT = datetime.timedelta(seconds=30)

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    return x, y, w1, w2

def shard(rank, world_size, rows=N):
    """The rows [start, stop) process `rank` keeps; the first rows % world_size keep one more."""
    size, extra = divmod(rows, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (rank < extra)

class TwoLayerNet(torch.nn.Module):
    """Two bias-free linear layers with a ReLU between, starting from w1 and w2."""

    def __init__(self, w1, w2):
        super().__init__()
        self.linear1 = torch.nn.Linear(w1.shape[0], w1.shape[1], bias=False)  # D_in -> H
        self.linear2 = torch.nn.Linear(w2.shape[0], w2.shape[1], bias=False)  # H -> D_out
        # As in step 6: the transposed views share memory with w1 and w2.
        self.linear1.weight = torch.nn.Parameter(w1.T)
        self.linear2.weight = torch.nn.Parameter(w2.T)

    def forward(self, x):
        h = self.linear1(x)           # (N, H)
        h_relu = torch.relu(h)        # (N, H)
        y_pred = self.linear2(h_relu)  # (N, D_out)
        return y_pred

# Sum of squared errors, as before (the default reduction, "mean", would divide by N * D_out).
compute_loss = torch.nn.MSELoss(reduction="sum")

def start_process_group(backend, from_launcher):
    """Connect this process to the others (a world of one without a launcher)."""
    if from_launcher:            # torchrun set MASTER_ADDR and MASTER_PORT: where rank 0 waits
        dist.init_process_group(backend, timeout=TIMEOUT)
    else:                        # a world of one needs no network: a store in this process
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                                timeout=TIMEOUT)

def stop_process_group():
    """Leave the group, after collecting DDP's reference cycles that hold on to it: gloo's
    threads must stop while Python is fully alive (at the exit they may crash it)."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()

def train(x, y, w1, w2, *, steps=STEPS, learning_rate=None, print_every=1,
          optimizer_name="sgd", step_seconds=None):
    """Train w1 and w2 in place on this process's rows of (x, y), with the named optimizer, in a
    started process group; returns the whole batch's loss at every step (step_seconds: times)."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    start, stop = shard(rank, world_size, len(x))
    x, y = x[start:stop], y[start:stop]              # this process's rows only
    model = DistributedDataParallel(TwoLayerNet(w1, w2))
    optimizer_class, default_rate = OPTIMIZERS[optimizer_name]   # e.g. torch.optim.SGD, 1e-6
    if learning_rate is None:
        learning_rate = default_rate
    optimizer = optimizer_class(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        started = time.perf_counter()
        # Forward pass: compute predicted y for this process's rows
        y_pred = model(x)

        # Compute and print loss: all_reduce adds up the shards' losses on every process
        loss = compute_loss(y_pred, y)
        whole_loss = loss.detach().clone()
        dist.all_reduce(whole_loss)
        losses.append(whole_loss.item())
        if not math.isfinite(losses[-1]):          # every process sees it at the same step
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0 and rank == 0:
            print(t, losses[-1])

        # Backprop: DDP divides the gradients by the world size and all-reduces (sums) them; the
        # factor world_size cancels that: every process gets the whole batch's gradient
        optimizer.zero_grad()
        (loss * world_size).backward()

        # Update weights: the same gradient everywhere keeps every copy of the model equal
        optimizer.step()
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - started)
    return losses

# --- The command line. The lesson is above: a first reading can stop here. -----------------------
def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps (at least 1)")
    parser.add_argument("--lr", type=float, help="learning rate (above 0); %(default)s: "
                        "1e-6 for sgd, 1e-3 for adam")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0 to 2**32 - 1)")
    parser.add_argument("--print-every", type=int, default=1, help="0: print no loss")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="type")
    parser.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS), help="update rule")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="auto: cuda, else cpu (torch.distributed has no backend for mps)")
    parser.add_argument("--backend", choices=["gloo", "nccl"],
                        help="how the processes talk; None: nccl on cuda, gloo on cpu")
    parser.add_argument("--timings", action="store_true", help="rank 0 prints the median step time")
    return parser

def launched():
    """Rank, local rank, world size and local world size, as torchrun sets them, or None."""
    names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"]
    if not all(name in os.environ for name in names):
        return None
    return [int(os.environ[name]) for name in names]

def largest_lr(dtype, optimizer):
    """The largest --lr the optimizer takes in `dtype`: torch refuses a step to add to the weights
    (sgd: lr; adam, at its first step: lr / (1 - 0.9)) that is finite but overflows their dtype.
    float64 is Python's own float, so there no step does: any finite --lr is taken."""
    if dtype == "float64":
        return math.inf
    return torch.finfo(getattr(torch, dtype)).max * (1 - 0.9 if optimizer == "adam" else 1)

def check_options(parser, argv, world_size, local_world_size):
    """The options, checked: (args, device, backend), or a usage error and exit status 2."""
    args = parser.parse_args(argv)
    cap = largest_lr(args.dtype, args.optimizer)
    for option, value, ok, rule in [
            ("--steps", args.steps, args.steps >= 1, "at least 1"),
            ("--lr", args.lr, args.lr is None or 0 < args.lr < math.inf, "above 0 and finite"),
            ("--lr", args.lr, args.lr is None or args.lr <= cap, f"at most {cap} in {args.dtype}"),
            ("--seed", args.seed, 0 <= args.seed < 2**32, "from 0 to 2**32 - 1"),
            ("--print-every", args.print_every, args.print_every >= 0, "at least 0")]:
        if not ok:
            parser.error(f"argument {option}: must be {rule}, got {value}")
    available = [name for name, found in [("cuda", torch.cuda.is_available()),
                                          ("mps", torch.backends.mps.is_available()),
                                          ("cpu", True)] if found]
    device = ("cuda" if "cuda" in available else "cpu") if args.device == "auto" else args.device
    if device not in available:
        parser.error(f"--device {device} is not available here; available: {', '.join(available)}")
    if device == "mps":
        parser.error("--device mps: torch.distributed has no backend for mps (gloo and "
                     "NCCL cannot reach its memory); use --device cpu")
    backend = args.backend or ("nccl" if device == "cuda" else "gloo")
    if backend == "nccl" and (device != "cuda" or not dist.is_nccl_available()):
        parser.error("--backend nccl moves CUDA tensors only: it needs --device cuda" if
                     device != "cuda" else "--backend nccl: this build of torch has no NCCL")
    if world_size > N:
        parser.error(f"the batch has {N} rows, too few for {world_size} processes: start "
                     f"at most {N}")
    if device == "cuda" and local_world_size > torch.cuda.device_count():
        parser.error(f"{local_world_size} processes on this machine, and "
                     f"{torch.cuda.device_count()} GPUs: --device cuda wants one GPU per "
                     "process; start fewer (torchrun --nproc_per_node) or use --device cpu")
    return args, device, backend

def train_in_process_group(parser, args, lr, device, backend, from_launcher, rank, step_seconds):
    """Start the process group, train, and stop it; the exit status."""
    try:
        start_process_group(backend, from_launcher)
        x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
        train(x, y, w1, w2, steps=args.steps, learning_rate=lr, print_every=args.print_every,
              optimizer_name=args.optimizer, step_seconds=step_seconds)
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except FloatingPointError as error:
        if rank == 0:
            print(f"{parser.prog}: {error} with --lr {lr}; try a smaller --lr", file=sys.stderr)
        return 1
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RuntimeError as error:
        # Another process died, hung for TIMEOUT, or was not reached: a DistError, or inside
        # backward() a RuntimeError naming gloo. Any other RuntimeError is a bug: it shows.
        if not (isinstance(error, dist.DistError) or "gloo" in str(error)):
            raise
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"{parser.prog}: rank {rank} lost contact with the other processes: {reason}",
              file=sys.stderr)
        return 1
    finally:
        stop_process_group()
    return 0

def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        argv = []     # pasted into a notebook cell: sys.argv is the kernel's; use the defaults
    from_launcher = launched()
    rank, local_rank, world_size, local_world_size = from_launcher or [0, 0, 1, 1]
    # Every process checks the options; only the first on each machine says what is wrong.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(
            devnull if local_rank else sys.stderr), contextlib.redirect_stdout(
            devnull if local_rank else sys.stdout):
        args, device, backend = check_options(parser, argv, world_size, local_world_size)
    lr = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
    if device == "cuda":
        torch.cuda.set_device(local_rank)       # this process's GPU, before NCCL starts
        device = f"cuda:{local_rank}"
    if rank == 0:
        print(f"device: {device}, dtype: {args.dtype}, optimizer: {args.optimizer}, lr: {lr}, "
              f"backend: {backend}, processes: {world_size}"
              + ("" if from_launcher else " (no launcher; torchrun --nproc_per_node 2 starts 2)"),
              file=sys.stderr)
    step_seconds = []
    try:
        status = train_in_process_group(parser, args, lr, device, backend, from_launcher,
                                        rank, step_seconds)
    except KeyboardInterrupt:
        # Ctrl-C (torchrun passes it on) may come in a collective or while cleaning up
        if rank == 0:
            print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    if status == 0 and args.timings and rank == 0:
        print(f"{statistics.median(step_seconds) * 1e3:.3f} ms per step (median of "
              f"{len(step_seconds)}, {world_size} process{'es' if world_size > 1 else ''})",
              file=sys.stderr)
    return status

if __name__ == "__main__":
    if exit_status := main():    # not sys.exit(0): a notebook shows any sys.exit() as an error
        sys.exit(exit_status)
