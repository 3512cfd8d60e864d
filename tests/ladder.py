"""What the tests know about the ladder: its steps, and how to hand each one the same numbers."""
import contextlib
import functools
import gc
import importlib
import importlib.util
import io
import re
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

# Every script of the ladder, in order.
SCRIPTS = [
    "two_layer_net_numpy",
    "two_layer_net_tensor",
    "two_layer_net_autograd",
    "two_layer_net_own_autograd",
    "two_layer_net_custom_function",
    "two_layer_net_nn",
    "two_layer_net_optim",
    "two_layer_net_module",
    "dynamic_net",
    "two_layer_net_compile",
    "two_layer_net_ddp",
]
OWN_AUTOGRAD = "two_layer_net_own_autograd"
# The steps that need numpy alone: step 1, and step 4's engine of our own.
NUMPY_SCRIPTS = ["two_layer_net_numpy", OWN_AUTOGRAD]
TORCH_SCRIPTS = [name for name in SCRIPTS if name not in NUMPY_SCRIPTS]
COMPILE = "two_layer_net_compile"
DDP = "two_layer_net_ddp"
# The steps whose train() takes an optimizer by name, from their OPTIMIZERS table: 7, 8, 9, 11.
OPTIMIZER_STEPS = ["two_layer_net_optim", "two_layer_net_module", "dynamic_net", DDP]
# One script for each distinct command line: the others' is, line for line, that of one of these
# but for the lines of their own options (test_cli.py checks it). The runs that start a process
# or a kernel cell only to exercise the command line (from another folder; pasted into a
# notebook cell) run these: steps 1 (as 4), 3 (as 2, 5 and 6), 7 (as 8), 9, 10 and 11.
DISTINCT_COMMAND_LINES = ["two_layer_net_numpy", "two_layer_net_autograd", "two_layer_net_optim",
                          "dynamic_net", COMPILE, DDP]

# The steps that train the very same two-layer net, with how each takes its weights (step 10
# trains it too, but its train() compiles, which is slow, and takes a backend: its training is
# tested in test_compile.py; its gradients are in KINDS, below, with these):
#   numpy    -> numpy arrays
#   manual   -> plain tensors, gradients by hand
#   autograd -> tensors; train() wants w1 and w2 as leaves with requires_grad=True
#   nn       -> plain tensors, which the step wraps in its nn layers
STEPS = {
    "two_layer_net_numpy": "numpy",
    "two_layer_net_tensor": "manual",
    "two_layer_net_autograd": "autograd",
    "two_layer_net_own_autograd": "numpy",
    "two_layer_net_custom_function": "autograd",
    "two_layer_net_nn": "nn",
    "two_layer_net_optim": "nn",
    "two_layer_net_module": "nn",
}
TORCH_STEPS = [name for name, kind in STEPS.items() if kind != "numpy"]
# Every step with loss_and_grads(x, y, w1, w2) for the two-layer net: steps 1 to 8, and step 10,
# which takes its weights as step 3 does (its loss_and_grads compiles with aot_eager).
KINDS = {**STEPS, COMPILE: "autograd"}
GRADIENT_STEPS = list(KINDS)
CORE_STEPS = ["two_layer_net_numpy", "two_layer_net_tensor", "two_layer_net_autograd"]
# The independent oracle the other steps are compared with: autograd, in float64.
REFERENCE = "two_layer_net_autograd"

# The derivative each step's ReLU uses at exactly h == 0 (mathematically undefined there).
# clamp's changed in torch 2.14: before it, the gradient at the boundary passed through.
CLAMP_GRAD_AT_ZERO = 0.0 if torch.__version__ >= "2.14" else 1.0
RELU_GRAD_AT_ZERO = {
    "two_layer_net_numpy": 0.0,              # grad_h[h <= 0] = 0
    "two_layer_net_tensor": 0.0,             # grad_h[h <= 0] = 0
    "two_layer_net_autograd": CLAMP_GRAD_AT_ZERO,   # clamp(min=0)
    "two_layer_net_own_autograd": 0.0,       # np.where(h > 0, g, 0.0)
    "two_layer_net_custom_function": 0.0,    # MyReLU, chosen to match the steps before
    "two_layer_net_nn": 0.0,                 # nn.ReLU
    "two_layer_net_optim": 0.0,              # nn.ReLU
    "two_layer_net_module": 0.0,             # torch.relu
    COMPILE: CLAMP_GRAD_AT_ZERO,             # step 3's clamp(min=0), captured
}


STEP_LOSS_LINE = re.compile(r"^(\d+) (\S+)$")


def step_losses(out):
    """The (step, loss) pairs of `step loss` lines; fails on any other line."""
    pairs = []
    for line in out.splitlines():
        match = STEP_LOSS_LINE.match(line)
        assert match, f"not a 'step loss' line: {line!r}"
        pairs.append((int(match[1]), float(match[2])))
    return pairs


# A line of torch's own logging (glog style: W1126 16:00:40.915000 ...), and the note that a
# CUDA build of torch prints where it finds no CUDA while inductor builds C++ code (a log line
# in torch 2.14 and 2.15, a plain line in 2.4).
TORCH_LOG_LINE = re.compile(r"^([DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ .*|No CUDA runtime is found, "
                            r"using CUDA_HOME=.*)\n?", re.M)


def our_lines(err):
    """Standard error without torch's own log lines."""
    return TORCH_LOG_LINE.sub("", err)


def load(name):
    return importlib.import_module(name)


def run_main(name, argv, capsys):
    """main(argv) of a script or tool: its exit status, standard output and standard error."""
    return main_of(load(name), argv, capsys)


def main_of(module, argv, capsys):
    try:
        status = module.main(argv)
    except SystemExit as exit_:           # argparse exits on --help and on bad input
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def edited_copy(script, changes, folder, name=None):
    """A learner's copy: the script at ROOT/script (a step, or solutions/...), written to folder
    (under its own name, or `name`) with each (line, changed line) made; each line must stand
    in it once. Its path."""
    source = (ROOT / script).read_text(encoding="utf-8")
    for line, changed in changes:
        assert source.count(line) == 1, line
        source = source.replace(line, changed)
    path = Path(folder) / (name or Path(script).name)
    path.write_text(source, encoding="utf-8")
    return path


def checked(path, capsys):
    """check_gradients.py on a script: its status, the result of each row of its table (keyed
    "grad_b1", "the net: grad_b1", or an operation and its input, "add 1"), and its output."""
    status, out, _ = run_main("check_gradients", [str(path)], capsys)
    rows = dict(re.findall(r"^((?:the net: )?grad_\w+) .*?(ok|WRONG\b.*)$", out, re.M))
    rows.update({f"{op} {number}": result for op, number, result in re.findall(
        r"^(\w+) +(\d) +\S+ +\S+ +(ok|WRONG\b.*)$", out, re.M)})
    return status, rows, out


def load_copy(path):
    """The script at path (a learner's copy), loaded in this process as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"copy_of_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_copy(path, argv, capsys):
    """main(argv) of the script at path, loaded in this process: (status, stdout, stderr)."""
    return main_of(load_copy(path), argv, capsys)


# The tools' slow runs, made once per session and read by every test that needs them: the
# README's `python plot_losses.py` and `python benchmark.py`, with these arguments added to
# keep them short (argparse keeps the last value given).
SHORT_RUNS = {
    "plot_losses": ["--steps", "5", "--output", str(Path(tempfile.mkdtemp()) / "losses.png")],
    "benchmark": ["--sizes", "default", "--rounds", "1", "--no-memory", "--devices", "cpu",
                  "--processes", "1"],
}


@functools.cache
def short_run(name):
    """main() of the tool `name` with SHORT_RUNS[name]: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = load(name).main(SHORT_RUNS[name])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def random_problem(seed, n, d_in, h, d_out):
    """x, y, w1, w2 as float64 numpy arrays, drawn independently of any step's own make_data."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in [(n, d_in), (n, d_out), (d_in, h), (h, d_out)]]


def inputs_for(name, x, y, w1, w2, device="cpu"):
    """Copies of the arrays in the form the step `name` takes them."""
    kind = KINDS[name]
    if kind == "numpy":
        return [a.copy() for a in (x, y, w1, w2)]
    x, y, w1, w2 = [torch.tensor(a, device=device) for a in (x, y, w1, w2)]
    if kind == "autograd":
        w1.requires_grad_()
        w2.requires_grad_()
    return [x, y, w1, w2]


def default_data(name, seed, dtype="float32"):
    """The step's own starting data for `seed`, on the CPU (dynamic_net: with w_middle)."""
    step = load(name)
    if name in NUMPY_SCRIPTS:
        return step.make_data(seed, np.dtype(dtype))
    return step.make_data(seed, getattr(torch, dtype), "cpu")


@contextlib.contextmanager
def world_of_one(backend="gloo"):
    """A process group of this process alone, as step 11's main() makes without a launcher,
    for calling its train() directly."""
    import torch.distributed as dist

    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        gc.collect()            # DDP's reference cycle first (see step 11's stop_process_group)
        dist.destroy_process_group()


@functools.cache
def default_losses(name, seed, dtype="float32", **options):
    """The 500 losses of a step's own start for `seed`, with train()'s defaults unless
    `options` say otherwise (cached: several tests read the same runs); step 11 in a world of
    one process."""
    if name == "dynamic_net":
        options = {"seed": seed, **options}
    with world_of_one() if name == DDP else contextlib.nullcontext():
        return tuple(load(name).train(*default_data(name, seed, dtype), print_every=0,
                                      **options))


@functools.cache
def step_2_run(dtype):
    """Step 2's default run (seed 0, 500 steps) in `dtype`, watched: `zero_steps`, the steps at
    which some hidden unit's h is exactly 0; `smallest`, the smallest |h| at step 0; `first`, the
    first such step's (x, y, w1, w2, the mask of h == 0), or None; `losses`; and `unchanged`,
    at each step the fractions of w1's and of w2's entries that the update left as they were
    (learning_rate * grad rounded away)."""
    step_2 = load("two_layer_net_tensor")
    x, y, w1, w2 = step_2.make_data(0, getattr(torch, dtype), "cpu")
    run = types.SimpleNamespace(zero_steps=[], smallest=None, first=None, losses=[], unchanged=[])
    for t in range(step_2.STEPS):
        h, h_relu, y_pred = step_2.forward(x, w1, w2)
        run.losses.append(step_2.compute_loss(y_pred, y).item())
        if run.smallest is None:
            run.smallest = h.abs().min().item()
        if (h == 0).any():
            run.zero_steps.append(t)
            if run.first is None:
                run.first = (x, y, w1.clone(), w2.clone(), h == 0)
        grad_w1, grad_w2 = step_2.backward(x, y, w2, h, h_relu, y_pred)
        before = w1.clone(), w2.clone()
        w1 -= step_2.LEARNING_RATE * grad_w1
        w2 -= step_2.LEARNING_RATE * grad_w2
        run.unchanged.append(tuple((w == old).double().mean().item()
                                   for w, old in zip((w1, w2), before)))
    return run


def without_a_cpp_compiler(folder, monkeypatch):
    """No C++ compiler to find: PATH is the empty folder `folder` and CXX is unset. The name of
    the compiler that inductor would call on this system (g++ on Linux), which messages name."""
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(folder))
    return load(COMPILE).cxx_compiler_name()


@contextlib.contextmanager
def failing_cpp_compiler(folder, monkeypatch):
    """Within it, inductor's C++ compiler is one that is found but fails as g++ does
    where Python's headers are missing: a stand-in, a shell script that answers --version as
    g++ does and otherwise writes g++'s error and exits 1 (the real g++ takes seconds to get
    there). Inductor's choice of vector instructions is made first, with the real compiler: it is
    made once a process, and made with a failing one it would leave none to the tests after."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa  # torch 2.5 and later
    except ImportError:
        from torch._inductor.codecache import pick_vec_isa  # torch 2.4
    from torch._inductor import config

    pick_vec_isa()
    compiler = Path(folder) / "g++"
    compiler.write_text('#!/bin/sh\ncase "$1" in --version) echo "g++ (stand-in) 12.2.0"; '
                        'exit 0;; esac\necho "kernel.cpp:1:10: fatal error: Python.h: No such file '
                        'or directory" >&2\nexit 1\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CXX", str(compiler))           # what step 10 looks for
    with config.patch({"cpp.cxx": (None, str(compiler))}):      # what inductor calls
        yield


def central_differences(loss, w):
    """d loss() / d w by central differences, as check_gradients.py computes them for learners:
    loss() must read w, which is nudged in place by eps = 1e-6 each way (and restored). The error
    is O(eps**2), plus rounding of about 1e-16 * loss / eps."""
    return load("check_gradients").central_differences(loss, w)


def processes():
    """(pid, name, parent pid, process group) of every process Linux's /proc lists now."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()                 # pid (name) state ppid pgrp ...
        except OSError:                             # gone, or not ours to read
            continue
        fields = text[text.rindex(")") + 1:].split()
        yield int(stat.parent.name), text[text.index("(") + 1:text.rindex(")")], \
            int(fields[1]), int(fields[2])


def as_float64(values):
    """Python floats (losses) as a float64 tensor, for torch.testing.assert_close: torch.tensor
    of a list of floats makes float32 of them, rounding away what a float64 comparison is about."""
    return torch.tensor(values, dtype=torch.float64)


def as_tensor(value):
    """A detached CPU tensor (dtype kept), for torch.testing.assert_close."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.from_numpy(np.asarray(value))
