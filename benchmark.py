"""Benchmark: what one training step of each step of the ladder costs, next to its floor.

For steps 1 to 8 and 10 (dynamic_net does different work at every step, so it is left out; step
10 is compiled with inductor, and on CUDA also with mode="reduce-overhead") and each
available device (cpu, cuda, mps), it times one training step at the default size, at larger
ones and at a tiny one, next to the floor: the same five matrix products of a step
(x @ w1, h_relu @ w2, h_relu.T @ grad_y_pred, grad_y_pred @ w2.T, x.T @ grad_h), with the same
shapes and library (numpy for steps 1 and 4, torch for the rest), and nothing else. The ratio says
what the rest of the loop costs: elementwise work, temporaries, Python and autograd
bookkeeping. At the "tiny" size (1, 1, 1, 1) the arithmetic is next to nothing, so a step's
time there is its fixed cost: the bookkeeping that every step pays at any size, on top of the
arithmetic.

Method. Each step is timed through its own train() over k steps at a time (k chosen so that one
block takes at least 20 ms), with a learning rate of 1e-12 so that long runs cannot diverge
(the work per step does not depend on the values), less the time of train() with 0 steps: its
setup, building the model and optimizer, is paid once per run, not per step. Step 10's train()
captures and compiles its graphs afresh at every call, in its first step, so it is timed by the
step times that train() itself records, less the first. After a warm-up, every round times each
step right after a block of its floor, so a slow moment on a shared machine hits both alike;
"ms per step" is the median over rounds (a floor's, over all its blocks: one per round before
each step that uses it), and "median x floor" is the median of the per-round ratios of the step
to the floor block before it (so it need not equal the one median over the other). On CUDA
the clock is read after torch.cuda.synchronize(). Memory is measured apart, in a fresh process
per step and size: the peak above the process's memory before the data was made (CPU: resident
set size; CUDA: PyTorch's allocator), and the growth from a run of 5 steps to one of 10, with
the results of both held: a graph kept alive from step to step would show here (on the CPU the
resident set can still move by a few MiB either way).

Step 11 runs as several processes, so it is timed apart, on the CPU at the default size, in
runs launched by torchrun with 1 and 2 processes (--processes): each process runs step 11's
train() for 300 steps, then an all_reduce alone of a tensor the size of the gradients and of
one number, the loss, 300 times each; rank 0 reports the medians; with the bytes each process
must send per step.

On a small shared machine, one thread per library gives steadier numbers (and, at the default
size, faster ones): OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmark.py

Run:
    python benchmark.py                            # every step and device (a few minutes)
    python benchmark.py --sizes tiny,default --rounds 5 --no-memory    # quick look
    python benchmark.py --devices cuda --sizes default,1024,2048,4096
"""
import argparse
import ctypes
import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

# How each step takes its weights: numpy arrays, plain tensors, or leaves that require grad.
STEPS = {
    "two_layer_net_numpy": "numpy",
    "two_layer_net_tensor": "tensor",
    "two_layer_net_autograd": "leaf",
    "two_layer_net_own_autograd": "numpy",
    "two_layer_net_custom_function": "leaf",
    "two_layer_net_nn": "tensor",
    "two_layer_net_optim": "tensor",
    "two_layer_net_module": "tensor",
    "two_layer_net_compile": "leaf",
}
# Step 10 on CUDA also with inductor's mode="reduce-overhead" (CUDA graphs), a row of its own.
REDUCE_OVERHEAD = "two_layer_net_compile reduce-overhead"
# N, D_in, H, D_out. At "tiny" the arithmetic costs next to nothing: a step's time there is its
# fixed cost (Python, operator dispatch, autograd's bookkeeping).
SIZES = {
    "tiny": (1, 1, 1, 1),
    "default": (64, 1000, 100, 10),
    "1024": (1024, 1024, 1024, 10),
    "2048": (2048, 2048, 2048, 10),
    "4096": (4096, 4096, 4096, 10),
}
DEFAULT_SIZES = {"cpu": ["tiny", "default", "1024", "2048"], "cuda": list(SIZES),
                 "mps": list(SIZES)}
TINY_LEARNING_RATE = 1e-12
BLOCK_SECONDS = 0.02
# Step 11 runs as several processes, started by torchrun: it is timed apart, at the default size
# on the CPU, by the median step time of its train() over DDP_STEPS steps, on rank 0.
DDP = "two_layer_net_ddp"
DDP_STEPS = 300


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def make_inputs(kind, size, device):
    """Standard-normal float32 x, y, w1, w2 of the given size, in the form a step takes."""
    n, d_in, h, d_out = size
    generator = torch.Generator().manual_seed(0)
    shapes = [(n, d_in), (n, d_out), (d_in, h), (h, d_out)]
    x, y, w1, w2 = [torch.randn(*shape, generator=generator) for shape in shapes]
    if kind == "numpy":
        return [t.numpy() for t in (x, y, w1, w2)]
    x, y, w1, w2 = [t.to(device) for t in (x, y, w1, w2)]
    if kind == "leaf":
        w1.requires_grad_()
        w2.requires_grad_()
    return [x, y, w1, w2]


def matmul_floor(x, y, w1, w2):
    """The five matrix products of one training step, with the right shapes, and nothing else."""
    h = x @ w1                      # (N, H)
    y_pred = h @ w2                 # (N, D_out)
    grad_w2 = h.T @ y_pred          # (H, D_out); y_pred stands in for grad_y_pred
    grad_h = y_pred @ w2.T          # (N, H)
    grad_w1 = x.T @ grad_h          # (D_in, H)
    return grad_w1, grad_w2


def flops_per_step(size):
    n, d_in, h, d_out = size
    return 2 * (2 * n * d_in * h + 3 * n * h * d_out)


def gradients_per_step(size):
    """How many gradients a step computes, and DDP all-reduces: w1's and w2's."""
    n, d_in, h, d_out = size
    return d_in * h + h * d_out


def seconds(run, k, device):
    """Seconds that run(k) takes."""
    synchronize(device)
    start = time.perf_counter()
    run(k)
    synchronize(device)
    return time.perf_counter() - start


def time_block(run, k, device):
    """Seconds per step of run(k), which does k steps, less run(0): what train() does once
    before its loop is not a step's cost. (Building the model is the most of it: nn.Linear
    draws weights of its own, which steps 6 to 8 then replace; on a GPU, whose steps are fast,
    that costs more than a step at 2048 and above.) A run with a `per_step` of its own (step 10)
    says itself."""
    if hasattr(run, "per_step"):
        return run.per_step(k)
    # A shared machine only ever adds time, so the least of three runs of the setup is the
    # setup's own time; one disturbed run of it could exceed run(k) and make a step negative.
    setup = min(seconds(run, 0, device) for _ in range(3))
    return (seconds(run, k, device) - setup) / k


def timed_blocks(device, size):
    """For the floor and each step: a function that runs k steps of it."""
    numpy_in = make_inputs("numpy", size, "cpu")
    plain_in = make_inputs("tensor", size, device)

    def floor(inputs):
        def run(k):
            with torch.no_grad():
                for _ in range(k):
                    matmul_floor(*inputs)
        return run

    def train(name, **options):
        step = importlib.import_module(name)
        inputs = make_inputs(STEPS[name], size, device)

        def run(k, **more_options):
            step.train(*inputs, steps=k, learning_rate=TINY_LEARNING_RATE, print_every=0,
                       **options, **more_options)

        if name == "two_layer_net_compile":
            # Its first step captures and compiles (every call of train() does): time the
            # k steps after it, as train() records them (loss.item() waits for the device).
            def per_step(k):
                step_seconds = []
                run(k + 1, step_seconds=step_seconds)
                synchronize(device)
                return sum(step_seconds[1:]) / k
            run.per_step = per_step
        return run

    blocks = {"floor (torch)": floor(plain_in)}
    if device == "cpu":                                    # numpy runs on the CPU only
        blocks["floor (numpy)"] = floor(numpy_in)
    names = [name for name in STEPS if device == "cpu" or STEPS[name] != "numpy"]
    blocks.update({name: train(name) for name in names})
    if device == "cuda":
        blocks[REDUCE_OVERHEAD] = train("two_layer_net_compile", mode="reduce-overhead")
    return blocks


def measure(device, size, rounds):
    """Median seconds per step of the floors and the steps, and each step's median ratio to
    its floor, timed in pairs (floor block, then step block) so that both meet the same load."""
    blocks = timed_blocks(device, size)
    ks = {}
    for name, run in blocks.items():         # warm up (step 10: fill the cache), choose k
        run(1)
        ks[name] = max(1, math.ceil(BLOCK_SECONDS / time_block(run, 1, device)))
    times = {name: [] for name in blocks}
    ratios = {name: [] for name in blocks if not name.startswith("floor")}
    for _ in range(rounds):
        for name in ratios:
            floor = "floor (numpy)" if STEPS.get(name) == "numpy" else "floor (torch)"
            floor_time = time_block(blocks[floor], ks[floor], device)
            step_time = time_block(blocks[name], ks[name], device)
            times[floor].append(floor_time)
            times[name].append(step_time)
            ratios[name].append(step_time / floor_time)
    return {name: (statistics.median(samples), statistics.median(ratios.get(name, [1.0])))
            for name, samples in times.items() if samples}


def torchrun(processes, *args):
    """Run torchrun --standalone --nproc_per_node <processes> <args> on this machine's CPU, as
    the README launches step 11 (python -m torch.distributed.run is torchrun, from this very
    Python); returns the CompletedProcess."""
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node", str(processes), *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} processes failed: {result.stderr[-500:]}")
    return result


def ddp_milliseconds(processes):
    """Milliseconds per step of step 11 with this many processes (gloo, on the CPU), and of an
    all_reduce alone of the gradients' size and of the loss's, from one torchrun launch of
    probe_ddp."""
    result = torchrun(processes, os.path.abspath(__file__), "--probe-ddp")
    return json.loads(result.stdout.strip().splitlines()[-1])


def probe_ddp():
    """Run by each process under torchrun: the median milliseconds of a step of step 11's
    train() over DDP_STEPS steps (default size, float32), then of an all_reduce of a tensor of
    as many float32 numbers as it has gradients, and of one number; rank 0 prints them as
    JSON."""
    import torch.distributed as dist

    step = importlib.import_module(DDP)
    dist.init_process_group("gloo", timeout=step.TIMEOUT)
    medians = {"step": []}
    step.train(*step.make_data(0, torch.float32, "cpu"), steps=DDP_STEPS,
               learning_rate=TINY_LEARNING_RATE, print_every=0, step_seconds=medians["step"])
    for name, size in [("gradients", gradients_per_step(SIZES["default"])), ("loss", 1)]:
        tensor, medians[name] = torch.zeros(size), []
        for _ in range(DDP_STEPS):
            start = time.perf_counter()
            dist.all_reduce(tensor)
            medians[name].append(time.perf_counter() - start)
    gc.collect()                        # step 11's DDP model first (see its main())
    dist.destroy_process_group()
    if int(os.environ["RANK"]) == 0:
        print(json.dumps({name: statistics.median(samples) * 1e3
                          for name, samples in medians.items()}))


def measure_ddp(process_counts, rounds):
    """Median of each of ddp_milliseconds' times over rounds for each process count, and the
    median ratio of its step time to the first count's, the counts taking turns every round."""
    samples = {count: [] for count in process_counts}
    ratios = {count: [] for count in process_counts}
    for _ in range(rounds):
        this_round = {count: ddp_milliseconds(count) for count in process_counts}
        for count, times in this_round.items():
            samples[count].append(times)
            ratios[count].append(times["step"] / this_round[process_counts[0]]["step"])
    return {count: ({key: statistics.median(times[key] for times in samples[count])
                     for key in samples[count][0]}, statistics.median(ratios[count]))
            for count in process_counts}


def print_ddp_table(process_counts, rounds):
    print(f"\n| step 11, 64, 1000, 100, 10, cpu | ms per step | median x {process_counts[0]} "
          "process | all_reduce of the gradients alone, ms | of the loss alone, ms "
          "| bytes each process sends per step, at least |")
    print("|---|---:|---:|---:|---:|---:|")
    for count, (times, ratio) in measure_ddp(process_counts, rounds).items():
        # An all-reduce of B bytes over W processes: each sends at least 2 (W - 1) / W * B
        # (reduce-scatter, then all-gather), the gradients' 4 bytes each and the loss's 4.
        sent = round(2 * (count - 1) / count * (gradients_per_step(SIZES["default"]) + 1) * 4)
        print(f"| {count} process{'es' if count > 1 else ''} | {times['step']:.3f} "
              f"| {ratio:.2f} | {times['gradients']:.3f} | {times['loss']:.3f} | {sent:,} |",
              flush=True)


def proc_status_kib(field):
    """A memory field of /proc/self/status (Linux), in KiB; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def current_memory(device):
    """Bytes in use now: PyTorch's allocator on CUDA, the resident set size on the CPU."""
    if device == "cuda":
        return torch.cuda.memory_allocated()
    try:
        # glibc keeps freed memory for reuse, so the resident set lags behind what is in use,
        # by tens of MiB at large sizes; malloc_trim(0) hands the free part back first.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    rss = proc_status_kib("VmRSS")
    return None if rss is None else rss * 1024


def reset_peak_memory(device):
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")                  # Linux: restart the peak RSS (VmHWM) count
    except OSError:
        pass


def peak_memory(device):
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    peak = proc_status_kib("VmHWM")
    return None if peak is None else peak * 1024


def probe_memory(name, device, size_name):
    """Run in a fresh process: the peak and growth of memory while one step trains."""
    step = importlib.import_module(name)
    warm_up = make_inputs(STEPS[name], SIZES["default"], device)
    step.train(*warm_up, steps=2, learning_rate=TINY_LEARNING_RATE, print_every=0)  # lazy imports
    del warm_up
    synchronize(device)
    before = current_memory(device)
    reset_peak_memory(device)
    inputs = make_inputs(STEPS[name], SIZES[size_name], device)
    held = step.train(*inputs, steps=5, learning_rate=TINY_LEARNING_RATE, print_every=0)
    synchronize(device)
    after_5 = current_memory(device)
    held = step.train(*inputs, steps=10, learning_rate=TINY_LEARNING_RATE, print_every=0)
    synchronize(device)
    after_10 = current_memory(device)
    del held
    peak = peak_memory(device)
    if None in (before, peak, after_5, after_10):
        return {"peak": None, "growth": None}
    return {"peak": peak - before, "growth": after_10 - after_5}


def memory_in_fresh_process(name, device, size_name):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--probe-memory",
                             name, device, size_name], capture_output=True, text=True)
    if result.returncode != 0:
        return {"peak": None, "growth": None}
    return json.loads(result.stdout.splitlines()[-1])


def mib(value):
    return "n/a" if value is None else f"{round(value / 2**20, 1) + 0.0:.1f}"   # no "-0.0"


def describe_machine(devices):
    lines = [f"- {platform.platform()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
             f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy "
             f"{np.__version__}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
             f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"]
    if "cuda" in devices:
        lines.append(f"- CUDA: {torch.cuda.get_device_name()}")
    return "\n".join(lines)


def size_list(text):
    names = text.split(",")
    unknown = [name for name in names if name not in SIZES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
    return names


def device_list(text):
    names = text.split(",")
    available = available_devices()
    for name in names:
        if name not in available:
            raise argparse.ArgumentTypeError(
                f"{name!r} is not available here; available: {', '.join(available)}")
    return names


def process_list(text):
    if text == "0":
        return []
    counts = [whole_number(1, 64)(part) for part in text.split(",")]
    return counts


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


def available_devices():
    """The devices this machine can compute on, in the order --device auto tries them."""
    found = [name for name, ok in [("cuda", torch.cuda.is_available()),
                                   ("mps", torch.backends.mps.is_available())] if ok]
    return found + ["cpu"]


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=device_list, default=available_devices(),
                        help="comma-separated (default: every available one)")
    parser.add_argument("--sizes", type=size_list,
                        help=f"comma-separated, from {', '.join(SIZES)} (default: up to 2048 "
                             "on the CPU, up to 4096 on a GPU)")
    parser.add_argument("--rounds", type=whole_number(1), default=9,
                        help="timed rounds; the table shows medians (default: %(default)s)")
    parser.add_argument("--processes", type=process_list, default=[1, 2],
                        help="step 11 (DDP, on the cpu) with these numbers of processes, "
                             "comma-separated; 0: leave it out (default: 1,2)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory measurement (one fresh process per row)")
    parser.add_argument("--probe-memory", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--probe-ddp", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.probe_memory:
        print(json.dumps(probe_memory(*args.probe_memory)))
        return 0
    if args.probe_ddp:
        probe_ddp()
        return 0
    compiled = importlib.import_module("two_layer_net_compile")      # step 10, with inductor
    if "cpu" in args.devices and compiled.cxx_compiler() is None:
        parser.error(f"step 10 compiles C++ on the cpu, and {compiled.why_no_cxx_compiler()}; "
                     "install a C++ compiler, or leave out the cpu (--devices)")
    print(describe_machine(args.devices))
    print(f"- medians of {args.rounds} rounds; float32; learning rate {TINY_LEARNING_RATE}\n")
    print("| step | device | N, D_in, H, D_out | ms per step | GFLOP/s | median x floor "
          "| peak MiB | growth MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    try:
        for device in args.devices:
            for size_name in args.sizes or DEFAULT_SIZES[device]:
                size = SIZES[size_name]
                for name, (seconds, ratio) in measure(device, size, args.rounds).items():
                    memory = {"peak": None, "growth": None}
                    if name in STEPS and not args.no_memory:
                        memory = memory_in_fresh_process(name, device, size_name)
                    print(f"| {name} | {device} | {', '.join(map(str, size))} "
                          f"| {seconds * 1e3:.3f} | {flops_per_step(size) / seconds / 1e9:.1f} "
                          f"| {ratio:.2f} | {mib(memory['peak'])} | {mib(memory['growth'])} |",
                          flush=True)
        if "cpu" in args.devices and args.processes:
            print_ddp_table(args.processes, args.rounds)
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
