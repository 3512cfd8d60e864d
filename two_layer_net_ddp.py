"""Step 10: the same network, trained by many processes at once with DistributedDataParallel.

The net maps x (N, D_in) to y_pred (N, D_out) through one hidden ReLU layer with no biases:
y_pred = relu(x @ w1) @ w2. The loss is the sum of squared errors, and gradient descent trains
w1 and w2.

New since step 7 (two_layer_net_module.py), whose model this step keeps: the work is split
between processes, each with its own copy of the model. torchrun starts them and tells each its
rank (0, 1, ...) and the world size (how many there are); init_process_group connects them,
with gloo on the CPU or NCCL on CUDA GPUs, one GPU per process. Every process draws the same
data and weights from --seed, then keeps only its own rows of the batch of 64 (when the world
size does not divide 64, the first shards are a row larger). DistributedDataParallel (DDP)
wraps the model: at the start it checks that every process has parameters of the same shapes
and copies rank 0's values to the others; during backward() it all-reduces the gradients, so
that every process holds the same gradient, and the same update keeps the copies equal.

DDP averages the gradients over processes: it adds them up and divides by the world size. Our
loss is a sum, so the shards' losses add up to the whole batch's loss and their gradients to
the whole batch's gradient. We multiply each shard's loss by the world size before backward(),
which cancels DDP's division: every process gets the gradient of the whole batch's loss, the
one steps 1 to 7 computed. (A mean loss per shard would not give it when the shards have
different sizes: averaging the means weights the rows of a smaller shard more.) The loss
printed is the whole batch's, summed over processes with all_reduce, printed by rank 0 only.

Run without a launcher, the script runs as a world of one process and says so on stderr.
Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss, which is why the learning rate for SGD is as small as 1e-6.

Run it:
    torchrun --standalone --nproc_per_node 2 two_layer_net_ddp.py   # two processes, this machine
    python two_layer_net_ddp.py                                      # a world of one process
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

# N: batch size; D_in: input size; H: hidden size; D_out: output size.
N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, LEARNING_RATE = 500, 1e-6
# Each optimizer, with the learning rate it gets when --lr is not given.
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}
# How long a process waits for the others in a collective (or to connect) before it gives up:
# a process that dies or hangs must not leave the others waiting for ever.
TIMEOUT = datetime.timedelta(seconds=30)


def make_data(seed, dtype, device):
    """Random inputs x, targets y and starting weights w1, w2 (standard normal)."""
    # Draw on the CPU, then move and convert: one seed gives the same starting numbers
    # on every device and in both dtypes, and in every process.
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D_in, generator=generator).to(device, dtype)
    y = torch.randn(N, D_out, generator=generator).to(device, dtype)
    w1 = torch.randn(D_in, H, generator=generator).to(device, dtype)
    w2 = torch.randn(H, D_out, generator=generator).to(device, dtype)
    return x, y, w1, w2


def shard(rank, world_size, rows=N):
    """The rows [start, stop) of the batch that process `rank` keeps. The first
    rows % world_size processes keep one row more than the others."""
    size, extra = divmod(rows, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (rank < extra)


class TwoLayerNet(torch.nn.Module):
    """Two bias-free linear layers with a ReLU between, starting from w1 and w2."""

    def __init__(self, w1, w2):
        super().__init__()
        self.linear1 = torch.nn.Linear(w1.shape[0], w1.shape[1], bias=False)  # D_in -> H
        self.linear2 = torch.nn.Linear(w2.shape[0], w2.shape[1], bias=False)  # H -> D_out
        # As in step 5: the transposed views share memory with w1 and w2.
        self.linear1.weight = torch.nn.Parameter(w1.T)
        self.linear2.weight = torch.nn.Parameter(w2.T)

    def forward(self, x):
        h = self.linear1(x)           # (N, H)
        h_relu = torch.relu(h)        # (N, H)
        y_pred = self.linear2(h_relu)  # (N, D_out)
        return y_pred


# Sum of squared errors, as before (the default reduction, "mean", would divide by N * D_out).
compute_loss = torch.nn.MSELoss(reduction="sum")


def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1,
          optimizer_name="sgd", step_seconds=None):
    """Train w1 and w2 in place on this process's shard of (x, y), the whole batch, with the
    named optimizer; returns the whole batch's loss at every step. The process group must be
    initialised (see main). If step_seconds is a list, the seconds of each step go into it."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    start, stop = shard(rank, world_size, len(x))
    x, y = x[start:stop], y[start:stop]              # this process's rows only
    model = DistributedDataParallel(TwoLayerNet(w1, w2))
    optimizer = OPTIMIZERS[optimizer_name][0](model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        started = time.perf_counter()
        # Forward pass: compute predicted y for this process's rows
        y_pred = model(x)

        # Compute and print loss: this shard's; all_reduce adds up the shards' losses, in
        # place, on every process, which gives the whole batch's loss
        loss = compute_loss(y_pred, y)
        whole_loss = loss.detach().clone()
        dist.all_reduce(whole_loss)
        losses.append(whole_loss.item())
        if not math.isfinite(losses[-1]):          # every process sees it at the same step
            raise FloatingPointError(f"the loss became {losses[-1]} at step {t}")
        if print_every and t % print_every == 0 and rank == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss; first clear the
        # gradients of the last step. During backward() DDP all-reduces the gradients and
        # divides them by the world size; the factor world_size cancels that, so every
        # process gets the gradient of the whole batch's loss
        optimizer.zero_grad()
        (loss * world_size).backward()

        # Update weights: the same gradient everywhere keeps every copy of the model equal
        optimizer.step()
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - started)
    return losses


def whole_number(lowest, highest=None):
    """An argparse type: a whole number in [lowest, highest]."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lowest or (highest is not None and value > highest):
            limits = f"at least {lowest}" if highest is None else f"from {lowest} to {highest}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value
    return parse


def positive_number(text):
    """An argparse type: a finite number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def available_devices():
    """The devices this machine can compute on, in the order --device auto tries them."""
    found = [name for name, ok in [("cuda", torch.cuda.is_available()),
                                   ("mps", torch.backends.mps.is_available())] if ok]
    return found + ["cpu"]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=whole_number(1), default=STEPS,
                        help="gradient-descent steps (default: %(default)s)")
    parser.add_argument("--lr", type=positive_number, help="learning rate (default: " + ", ".join(
        f"{lr} for {name}" for name, (_, lr) in OPTIMIZERS.items()) + ")")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=0,
                        help="seed for the random data and weights (default: %(default)s)")
    parser.add_argument("--print-every", type=whole_number(0), default=1,
                        help="a loss line every this many steps; 0: none (default: %(default)s)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="floating-point type (default: %(default)s)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd",
                        help="how to update the weights (default: %(default)s)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                        help="auto picks cuda, then cpu: torch.distributed has no backend "
                             "for mps (default: %(default)s)")
    parser.add_argument("--backend", choices=["gloo", "nccl"],
                        help="how the processes talk (default: nccl on cuda, gloo on cpu)")
    parser.add_argument("--timings", action="store_true",
                        help="rank 0 says on stderr what a step took (median)")
    return parser


def launched():
    """Rank, local rank (on this machine), world size and processes on this machine, as the
    launcher (torchrun) set them in the environment; None without a launcher."""
    names = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"]
    if not all(name in os.environ for name in names):
        return None
    return [int(os.environ[name]) for name in names]


def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        # Pasted into a notebook cell (Jupyter, VS Code, Colab), this code has no __file__,
        # and sys.argv holds the kernel's own arguments (-f .../kernel-....json), not the
        # user's: take the defaults. From a terminal, or with %run, the arguments are the user's.
        argv = []
    from_launcher = launched()
    rank, local_rank, world_size, local_world_size = from_launcher or [0, 0, 1, 1]
    # Every process checks the options and stops alike; only the first on each machine says
    # why, so that a mistake gets one message, not one per process.
    with contextlib.ExitStack() as quiet:
        if local_rank != 0:
            devnull = quiet.enter_context(open(os.devnull, "w"))
            quiet.enter_context(contextlib.redirect_stdout(devnull))
            quiet.enter_context(contextlib.redirect_stderr(devnull))
        args = parser.parse_args(argv)
        available = available_devices()
        auto = "cuda" if "cuda" in available else "cpu"
        device = auto if args.device == "auto" else args.device
        if device not in available:
            parser.error(f"--device {device} is not available here; "
                         f"available: {', '.join(available)}")
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
    learning_rate = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
    if device == "cuda":
        torch.cuda.set_device(local_rank)       # this process's GPU, before NCCL starts
        device = f"cuda:{local_rank}"
    if rank == 0:
        print(f"device: {device}, dtype: {args.dtype}, optimizer: {args.optimizer}, "
              f"lr: {learning_rate}, backend: {backend}, processes: {world_size}"
              + ("" if from_launcher else " (no launcher; torchrun --nproc_per_node 2 starts 2)"),
              file=sys.stderr)
    step_seconds = []
    try:
        try:
            if from_launcher:
                # torchrun set MASTER_ADDR and MASTER_PORT: where rank 0 waits for the others.
                dist.init_process_group(backend, timeout=TIMEOUT)
            else:
                # A world of one needs no network: its meeting point is a store in-process.
                dist.init_process_group(backend, store=dist.HashStore(), rank=0,
                                        world_size=1, timeout=TIMEOUT)
            x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
            train(x, y, w1, w2, steps=args.steps, learning_rate=learning_rate,
                  print_every=args.print_every, optimizer_name=args.optimizer,
                  step_seconds=step_seconds)
        except FloatingPointError as error:
            if rank == 0:
                print(f"{parser.prog}: {error} with --lr {learning_rate}; try a smaller --lr",
                      file=sys.stderr)
            return 1
        except BrokenPipeError:
            # The reader of our output (say `head`) has gone; stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except RuntimeError as error:
            # Another process died, hung for longer than TIMEOUT, or could not be reached.
            # Inside backward(), DDP passes gloo's report on as a plain RuntimeError;
            # elsewhere it is a DistError. Any other RuntimeError is a bug: its traceback shows.
            if not (isinstance(error, dist.DistError) or "gloo" in str(error)):
                raise
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            print(f"{parser.prog}: rank {rank} lost contact with the other processes: "
                  f"{reason}", file=sys.stderr)
            return 1
        finally:
            if dist.is_initialized():
                # DDP holds on to the process group, and DDP objects form a reference cycle
                # that only the garbage collector frees: free it now, so that
                # destroy_process_group drops the last reference and gloo's threads stop
                # while Python is fully alive. Left to the exit, they may crash it
                # ("terminate called without an active exception").
                gc.collect()
                dist.destroy_process_group()
    except KeyboardInterrupt:
        # Ctrl-C, which torchrun passes on to every process. It may come while a process is
        # in a collective that fails because another has already stopped, or while it cleans
        # up: caught out here, it ends the process quietly wherever it comes.
        if rank == 0:
            print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    if args.timings and rank == 0:
        print(f"{statistics.median(step_seconds) * 1e3:.3f} ms per step "
              f"(median of {len(step_seconds)}, {world_size} "
              f"process{'es' if world_size > 1 else ''})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_status = main()
    if exit_status:      # not sys.exit(0): a notebook shows any sys.exit() as an error
        sys.exit(exit_status)
