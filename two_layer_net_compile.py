"""Step 10: the same net, its graph captured once by torch.compile.

New since step 3 (two_layer_net_autograd.py), whose functions this step keeps: at its first call
TorchDynamo captures forward_and_loss as a graph, behind guards (checks on its inputs);
AOTAutograd derives the backward graph; a backend compiles both (inductor: C++ on the CPU, which
needs a C++ compiler, or Triton on a CUDA GPU; aot_eager: PyTorch's own kernels). The backend
eager skips AOTAutograd: it runs the captured forward as it is, and autograd records its backward
as in step 3. Later calls check the guards and replay the graphs. The first step costs seconds.

Run it:  python two_layer_net_compile.py [--show-graph --steps 1] [--dynamic]   (--help)
"""
import argparse
import math
import os
import random
import re
import shlex
import shutil
import statistics
import sys
import time

import torch

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    return x, y, w1.requires_grad_(), w2.requires_grad_()    # leaves, as in step 3

def forward(x, w1, w2):
    """Predicted y; autograd records every operation, so nothing else is kept."""
    h = x @ w1                    # (N, H)
    h_relu = h.clamp(min=0)       # (N, H)
    y_pred = h_relu @ w2          # (N, D_out)
    return y_pred

def compute_loss(y_pred, y):
    return (y_pred - y).pow(2).sum()      # sum of squared errors, a tensor of shape ()

def forward_and_loss(x, y, w1, w2):
    """What torch.compile captures: the forward pass and the loss, as one graph."""
    return compute_loss(forward(x, w1, w2), y)

def graph_printer():
    """A torch.compile backend: prints the forward and backward graphs AOTAutograd derives, split
    by its default partitioner (all of the backward pass in the backward graph; aot_eager and
    inductor split them otherwise), and runs them with PyTorch's own kernels."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd
    def printer(name):
        def compile_graph(graph_module, example_inputs):
            print(f"{name} graph:\n{graph_module.print_readable(print_output=False)}",
                  file=sys.stderr)
            return make_boxed_func(graph_module.forward)
        return compile_graph
    return aot_autograd(fw_compiler=printer("forward"), bw_compiler=printer("backward"))

def loss_and_grads(x, y, w1, w2, *, backend="aot_eager"):
    """The loss and its gradients at (w1, w2), through the compiled graphs (arguments unchanged)."""
    w1, w2 = w1.detach().requires_grad_(), w2.detach().requires_grad_()
    torch.compiler.reset()           # capture afresh (see train)
    loss = torch.compile(forward_and_loss, backend=backend, fullgraph=True)(x, y, w1, w2)
    loss.backward()
    return loss.item(), w1.grad, w2.grad

def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1,
          backend="inductor", mode=None, step_seconds=None):
    """Gradient descent on the leaves w1 and w2, in place; returns the loss of every training step.
    Every call captures afresh (torch.compiler.reset()); step_seconds, a list, gets step times."""
    torch.compiler.reset()
    compiled_forward_and_loss = torch.compile(forward_and_loss, backend=backend, mode=mode,
                                              fullgraph=True)
    losses = []
    for t in range(steps):
        started = time.perf_counter()
        # Forward pass and loss: captured and compiled at the first step, replayed after it
        loss = compiled_forward_and_loss(x, y, w1, w2)

        # Compute and print loss
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop: runs the backward graph that AOTAutograd derived when it captured the forward
        loss.backward()              # fills w1.grad and w2.grad

        # Update weights, unrecorded; then clear the gradients, which backward() adds into
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad = None
            w2.grad = None
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - started)
    return losses

def graphs_of_a_dynamic_net(depths):
    """How many graphs torch.compile records for step 9's forward pass (a middle layer applied
    `depth` times) called with these depths: one per depth, the Python loop unrolled in each."""
    graphs = []
    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward                       # run the graph as it was captured
    def dynamic_forward(x, w1, w_middle, w2, depth):
        h_relu = (x @ w1).clamp(min=0)
        for _ in range(depth):                            # plain Python: unrolled when captured
            h_relu = (h_relu @ w_middle).clamp(min=0)     # the same layer, reused
        return h_relu @ w2

    torch.compiler.reset()           # count from nothing captured (see train)
    compiled = torch.compile(dynamic_forward, backend=counting_backend, fullgraph=True)
    generator = torch.Generator().manual_seed(0)
    x, w1, w_middle, w2 = [torch.randn(*shape, generator=generator) / 10
                           for shape in [(N, D_in), (D_in, H), (H, H), (H, D_out)]]
    for depth in depths:
        compiled(x, w1, w_middle, w2, depth)
    return len(graphs)

# --- The command line. The lesson is above: a first reading can stop here. -----------------------
def cxx_compiler_name():
    """The C++ compiler inductor calls on the CPU: $CXX, else torch's default for the system."""
    return os.environ.get("CXX", {"win32": "cl", "darwin": "clang++"}.get(sys.platform, "g++"))

def cxx_compiler():
    """The path of that compiler (of the first word of a command such as `ccache g++`), or None
    if it is not on PATH."""
    name = cxx_compiler_name()
    try:
        words = [name] if sys.platform == "win32" else shlex.split(name)
    except ValueError:                      # a quote left open: no command, as for torch
        return None
    return shutil.which(words[0]) if words else None

def why_no_cxx_compiler():
    """Why cxx_compiler() found none, for a message: its name is not on PATH, or CXX is empty."""
    name = cxx_compiler_name()
    return f"{name} is not on PATH" if name.strip() else "CXX is empty"

def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps (at least 1)")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate (above 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0 to 2**32 - 1)")
    parser.add_argument("--print-every", type=int, default=1, help="0: print no loss")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="type")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="auto: cuda, else mps, else cpu")
    parser.add_argument("--backend", choices=["inductor", "aot_eager", "eager"],
                        help="None: inductor, or graph_printer() with --show-graph")
    parser.add_argument("--mode", default="default", choices=["default", "reduce-overhead"],
                        help="inductor's; reduce-overhead replays CUDA graphs, on CUDA only")
    parser.add_argument("--show-graph", action="store_true", help="print the graphs on stderr")
    parser.add_argument("--dynamic", action="store_true", help="instead of training: count the "
                        "graphs of step 9's forward pass at --steps depths drawn as it does")
    return parser

def check_options(parser, argv):
    """The options, checked: (args, device, backend), or a usage error and exit status 2."""
    args = parser.parse_args(argv)
    for option, value, ok, rule in [
            ("--steps", args.steps, args.steps >= 1, "at least 1"),
            ("--lr", args.lr, 0 < args.lr < math.inf, "above 0 and finite"),
            ("--seed", args.seed, 0 <= args.seed < 2**32, "from 0 to 2**32 - 1"),
            ("--print-every", args.print_every, args.print_every >= 0, "at least 0")]:
        if not ok:
            parser.error(f"argument {option}: must be {rule}, got {value}")
    available = [name for name, found in [("cuda", torch.cuda.is_available()),
                                          ("mps", torch.backends.mps.is_available()),
                                          ("cpu", True)] if found]
    device = available[0] if args.device == "auto" else args.device
    if device not in available:
        parser.error(f"--device {device} is not available here; available: {', '.join(available)}")
    if device == "mps" and args.dtype == "float64":
        parser.error("--dtype float64 is not supported on mps; use --dtype float32 or --device cpu")
    if args.show_graph and args.backend is not None:
        parser.error("--show-graph prints the graphs and runs them itself, with PyTorch's own "
                     f"kernels; leave out --backend {args.backend}")
    backend = args.backend or ("graph_printer" if args.show_graph else "inductor")
    if args.mode == "reduce-overhead" and (device != "cuda" or backend != "inductor"):
        parser.error("--mode reduce-overhead replays CUDA graphs: it needs --device cuda and "
                     "--backend inductor")
    if backend == "inductor" and device == "cpu" and not args.dynamic and not cxx_compiler():
        parser.error(f"--backend inductor needs a C++ compiler on the CPU, and "
                     f"{why_no_cxx_compiler()}; install one, or use --backend aot_eager")
    return args, device, backend

def what_failed(error):
    """What the backend raised (its name, its first line) and, if a compiler failed, the first
    error in the compiler's output (gcc's and clang's "error: ...", MSVC's "error C1083: ...").
    Torch's own first line, "backend='inductor' raised:", names nothing."""
    cause = error.inner_exception
    text = str(cause)
    lines = text.strip().splitlines()
    output = text.partition("\nOutput:\n")[2].splitlines()
    errors = [found[1] for line in output if (found := re.search(r"error(?: C\d+)?: (.*)", line))]
    return ": ".join([type(cause).__name__, *lines[:1], *errors[:1]])

def print_graphs_of_step_9(prog, seed, calls):
    """--dynamic: the line that counts the graphs; the exit status."""
    depth_rng = random.Random(seed)                 # drawn as step 9 draws them
    drawn = [depth_rng.randint(0, 3) for _ in range(calls)]
    try:
        graphs = graphs_of_a_dynamic_net(drawn)
        print(f"{calls} call{'s' * (calls != 1)} of step 9's dynamic forward pass, depths drawn "
              f"from 0 to 3: {graphs} graph{'s' * (graphs != 1)} recorded, one per depth met "
              f"({len(set(drawn))})")
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0

def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        argv = []     # pasted into a notebook cell: sys.argv is the kernel's; use the defaults
    args, device, backend = check_options(parser, argv)
    if args.dynamic:
        return print_graphs_of_step_9(parser.prog, args.seed, args.steps)
    if backend == "inductor":    # no compile workers: on torch 2.4 they print tracebacks at Ctrl-C
        from torch._inductor import config
        config.compile_threads = 1
    print(f"device: {device}, dtype: {args.dtype}, backend: {backend}, mode: {args.mode}",
          file=sys.stderr)
    x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
    step_seconds = []
    try:
        train(x, y, w1, w2, steps=args.steps, learning_rate=args.lr, print_every=args.print_every,
              backend=graph_printer() if args.show_graph else backend,
              mode=None if args.mode == "default" else args.mode, step_seconds=step_seconds)
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except FloatingPointError as error:
        print(f"{parser.prog}: {error} with --lr {args.lr}; try a smaller --lr", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except torch._dynamo.exc.BackendCompilerFailed as error:
        print(f"{parser.prog}: --backend {backend} failed on {device} ({what_failed(error)}); "
              "try --backend aot_eager", file=sys.stderr)
        return 2
    first, rest = step_seconds[0], step_seconds[1:]
    print(f"first step (capture, then compile or reuse from the cache): {first:.2f} s"
          + (f"; then {statistics.median(rest) * 1e3:.3f} ms per step (median of {len(rest)})"
             if rest else ""), file=sys.stderr)
    return 0

if __name__ == "__main__":
    if exit_status := main():    # not sys.exit(0): a notebook shows any sys.exit() as an error
        sys.exit(exit_status)
