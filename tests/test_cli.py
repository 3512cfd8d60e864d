"""The scripts as a learner meets them: the command line, its output and its errors.

Most checks call main(argv) in this process (starting Python and torch again for each bad
input would cost seconds apiece); the checks that only a real process can make (another
working folder, Ctrl-C, imports) run the scripts as subprocesses.
"""
import ast
import difflib
import inspect
import math
import os
import re
import signal
import subprocess
import sys
import warnings

import pytest
import torch
from ladder import (
    COMPILE,
    DDP,
    DISTINCT_COMMAND_LINES,
    NUMPY_SCRIPTS,
    OPTIMIZER_STEPS,
    OWN_AUTOGRAD,
    REFERENCE,
    ROOT,
    SCRIPTS,
    STEP_LOSS_LINE,
    STEPS,
    TORCH_SCRIPTS,
    TORCH_STEPS,
    as_float64,
    default_losses,
    load,
    our_lines,
    run_main,
    step_losses,
)

BAD_INPUTS = [
    (["--steps", "-1"], "argument --steps: must be at least 1, got -1"),
    (["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (["--steps", "2.5"], "argument --steps: invalid int value: '2.5'"),
    (["--lr", "0"], "argument --lr: must be above 0 and finite, got 0.0"),
    (["--lr", "-1"], "argument --lr: must be above 0 and finite, got -1.0"),
    (["--lr", "nan"], "argument --lr: must be above 0 and finite, got nan"),
    (["--lr", "inf"], "argument --lr: must be above 0 and finite, got inf"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--print-every", "-2"], "argument --print-every: must be at least 0, got -2"),
    (["--seed", "-1"], "argument --seed: must be from 0 to 2**32 - 1, got -1"),
    (["--seed", str(2**32)], "argument --seed: must be from 0 to 2**32 - 1, got 4294967296"),
    (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["--learning-rate", "1"], "unrecognized arguments: --learning-rate 1"),
]
TORCH_BAD_INPUTS = [(["--device", "tpu"], "argument --device: invalid choice: 'tpu'")]
# Step 10 in the tests of what every step does: captured by the eager backend (TorchDynamo alone,
# no compiler), which takes a fraction of a second, where inductor takes seconds (8 to 15 s
# with an empty cache). Its other backends are tested in test_compile.py, and inductor in a
# kernel (test_notebooks.py) and from another folder (below) too.
QUICK = {COMPILE: ["--backend", "eager"]}


def check_usage_error(name, status, err, message):
    """argparse's form: the usage line first, then `prog: error: <one sentence>` last."""
    assert status == 2
    lines = err.splitlines()
    assert lines[0].startswith("usage: ")
    assert lines[-1].startswith(f"{load(name).build_parser().prog}: error: {message}"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_gives_usage_and_one_sentence(script_name, argv, message, capsys):
    status, out, err = run_main(script_name, argv, capsys)
    check_usage_error(script_name, status, err, message)
    assert out == ""


@pytest.mark.parametrize("argv, message", TORCH_BAD_INPUTS)
def test_bad_device_name(torch_script_name, argv, message, capsys):
    status, out, err = run_main(torch_script_name, argv, capsys)
    check_usage_error(torch_script_name, status, err, message)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_unavailable_device_names_what_is_available(torch_script_name, device, capsys):
    available = [name for name, found in [("cuda", torch.cuda.is_available()),
                                          ("mps", torch.backends.mps.is_available())] if found]
    available.append("cpu")
    if device in available:
        pytest.skip(f"{device} is available on this machine")
    status, out, err = run_main(torch_script_name, ["--device", device, "--steps", "1"], capsys)
    check_usage_error(torch_script_name, status, err, f"--device {device} is not available here; "
                                   f"available: {', '.join(available)}")
    assert out == ""


def test_help_lists_every_option(script_name, capsys):
    status, out, err = run_main(script_name, ["--help"], capsys)
    assert status == 0 and err == ""
    options = ["--steps", "--lr", "--seed", "--print-every", "--dtype"]
    if script_name in TORCH_SCRIPTS:
        options.append("--device")
    if hasattr(load(script_name), "OPTIMIZERS"):
        options.append("--optimizer")
        # --lr's default is each optimizer's own rate, which the help states
        rates = [f"{rate:.0e}".replace("e-0", "e-") + f" for {name}"
                 for name, (_, rate) in load(script_name).OPTIMIZERS.items()]
        assert ", ".join(rates) in " ".join(out.split()), out
    for option in options:
        assert option in out


def test_defaults_reproduce_the_tutorial(script_name):
    step = load(script_name)
    defaults = step.build_parser().parse_args([])
    assert (defaults.steps, defaults.seed, defaults.print_every) == (500, 0, 1)
    # dynamic_net is a different net, whose start wants another rate (see its docstring).
    tutorial_rate = 1e-4 if script_name == "dynamic_net" else 1e-6
    if hasattr(step, "OPTIMIZERS"):                 # --lr defaults to the optimizer's own rate
        assert defaults.lr is None and defaults.optimizer == "sgd"
        assert step.OPTIMIZERS["sgd"][1] == tutorial_rate and step.OPTIMIZERS["adam"][1] == 1e-3
    else:
        assert defaults.lr == tutorial_rate
    assert defaults.dtype == ("float32" if script_name in TORCH_SCRIPTS else "float64")
    if script_name in TORCH_SCRIPTS:
        assert defaults.device == "auto"


def test_diverging_run_stops_with_one_message(script_name, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # a RuntimeWarning would fail the test
        # but not what torch's own modules deprecate inside (Python hides those by default)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
        status, out, err = run_main(script_name, ["--lr", "1", "--print-every", "1"]
                                    + QUICK.get(script_name, []), capsys)
    assert status == 1
    losses = step_losses(out)
    assert losses and len(losses) < 500
    message = err.splitlines()[-1]
    assert re.search(rf"the loss became (inf|nan) at training step {len(losses)} with --lr 1.0; "
                     r"try a smaller --lr$", message), err
    assert "Warning" not in err and "Traceback" not in err


def torch_takes_the_rate(name, optimizer, lr, dtype=torch.float32):
    """Whether one update of the step `name` takes this rate: with its optimizer (from its
    OPTIMIZERS table), else as step 6 updates, sub_(grad, alpha=lr). Torch raises "value
    cannot be converted to type float without overflow" when the step it adds does not fit."""
    weight = torch.ones(3, dtype=dtype, requires_grad=True)
    weight.grad = torch.ones(3, dtype=dtype)
    try:
        if optimizer is None:
            weight.detach().sub_(weight.grad, alpha=lr)
        else:
            load(name).OPTIMIZERS[optimizer][0]([weight], lr=lr).step()
    except RuntimeError as error:
        assert "overflow" in str(error), error
        return False
    return True


def run_with_rate(script_name, lr, optimizer, dtype, capsys):
    """Two training steps of the step at this rate, with this optimizer (None: a step without
    --optimizer) and dtype: (status, stdout, stderr)."""
    return run_main(script_name, ["--lr", repr(lr), "--steps", "2", "--dtype", dtype]
                    + ["--optimizer", optimizer] * (optimizer is not None)
                    + QUICK.get(script_name, []), capsys)


def stopped_as_diverging(err, lr):
    """Whether stderr ends with the line of a diverging run at this rate."""
    return re.search(r"the loss became (inf|nan) at training step \d+ with --lr "
                     + re.escape(f"{lr}; try a smaller --lr") + "$", err.splitlines()[-1])


@pytest.mark.parametrize("lr", [1e38, 1e39])
def test_a_rate_beyond_float32_stops_in_one_line(script_name, lr, capsys):
    """A float32 run's --lr too large for float32, with each optimizer: steps 6 to 9 and 11 pass
    the rate to torch's update (sub_'s alpha=, the optimizers' step), which makes the step it
    adds a number of the weights' dtype: they refuse a rate above the largest that torch takes,
    and the bound they name is exactly that (checked against torch), and is itself accepted.
    The other steps multiply by the rate, get inf, and stop as a diverging run does."""
    for optimizer in getattr(load(script_name), "OPTIMIZERS", [None]):
        status, _, err = run_with_rate(script_name, lr, optimizer, "float32", capsys)
        assert "Traceback" not in err
        if status == 2:
            refused = re.fullmatch(r".*: error: argument --lr: must be at most (\S+) in float32, "
                                   + re.escape(f"got {lr}"), err.splitlines()[-1])
            assert refused, err
            bound = float(refused[1])
            assert lr > bound and torch_takes_the_rate(script_name, optimizer, bound)
            assert not torch_takes_the_rate(script_name, optimizer, math.nextafter(bound, math.inf))
            status, _, err = run_with_rate(script_name, bound, optimizer, "float32", capsys)
            assert status == 1 and "Traceback" not in err, err      # taken: it diverges
        else:
            assert status == 1 and stopped_as_diverging(err, lr), err


def test_any_finite_rate_is_taken_in_float64(script_name, capsys):
    """float64 is Python's own float, so no finite rate overflows the step torch adds (checked
    against torch, with each optimizer): no step refuses one; it diverges, as any run does."""
    for optimizer in getattr(load(script_name), "OPTIMIZERS", [None]):
        assert torch_takes_the_rate(script_name, optimizer, 1e308, torch.float64)
        status, _, err = run_with_rate(script_name, 1e308, optimizer, "float64", capsys)
        assert status == 1 and stopped_as_diverging(err, 1e308), err


def test_keyboard_interrupt_is_one_line_and_status_130(script_name, capsys, monkeypatch):
    """Ctrl-C in the middle of the first step. (Step 10's compute_loss runs inside the captured
    graph, where TorchDynamo, with fullgraph=True, would report the raise as untraceable code:
    there the compiled function itself is what raises. test_ctrl_c_... sends real signals.)"""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    if script_name == COMPILE:
        monkeypatch.setattr(torch, "compile", lambda *args, **kwargs: interrupted)
    else:
        monkeypatch.setattr(load(script_name), "compute_loss", interrupted)
    status, out, err = run_main(script_name, ["--steps", "3"], capsys)
    assert status == 130
    assert err.splitlines()[-1] == f"{load(script_name).build_parser().prog}: interrupted"
    assert "Traceback" not in err


def test_same_seed_prints_the_same_losses(script_name, capsys):
    quick = QUICK.get(script_name, [])
    first = run_main(script_name, ["--steps", "5", "--seed", "3"] + quick, capsys)
    second = run_main(script_name, ["--steps", "5", "--seed", "3"] + quick, capsys)
    other = run_main(script_name, ["--steps", "5", "--seed", "4"] + quick, capsys)
    assert first[0] == 0 and first[1] == second[1]
    assert [t for t, _ in step_losses(first[1])] == [0, 1, 2, 3, 4]
    assert other[1] != first[1]


# Steps 6 to 8 run the very same operations (nn.Linear, the ReLU's threshold, MSELoss, and an
# in-place update that is one kernel whether written as sub_ or by SGD): their text must match.
SAME_OPERATIONS = ["two_layer_net_nn", "two_layer_net_optim", "two_layer_net_module"]


def test_torch_steps_print_the_same_losses(capsys):
    """For one seed the torch steps draw the same start and print the same losses, up to
    float32 rounding: each within 1e-5 relative of step 3 run in float64, at each of 50 steps.
    Why a tolerance: steps 2, 3 and 5 differ in their operations (the hand-written backward
    against autograd's backward of mm, which may hand the BLAS other layouts), and how those
    round depends on the CPU's BLAS kernel and the thread count (on an Intel CPU, with MKL's
    AVX-512 kernels and one thread, step 3 parted from steps 2 and 5 at step 43, in the 7th
    digit). Why 1e-5: over these 50 steps a float32 run stays within 1.1e-6 relative of the
    float64 run (measured, step 2 against itself in float64), whatever rounds differently.
    Where the operations are the same, the text is the same (float64 agreement over 500 steps
    is in test_training)."""
    printed = {name: run_main(name, ["--steps", "50", "--device", "cpu"], capsys)[1]
               for name in TORCH_STEPS}
    assert len({printed[name] for name in SAME_OPERATIONS}) == 1
    float64 = default_losses(REFERENCE, 0, "float64")[:50]
    for name in TORCH_STEPS:
        losses = [loss for _, loss in step_losses(printed[name])]
        torch.testing.assert_close(as_float64(losses), as_float64(float64), rtol=1e-5, atol=0,
                                   msg=lambda text, name=name: f"{name}: {text}")


MARK = "# --- The command line. The lesson is above: a first reading can stop here. ---"


# The functions of a step's own options in its command line, left out where steps are compared:
# step 5's --gradcheck, and the rate check of the steps that take --optimizer (the same in each).
OWN_FUNCTIONS = {"two_layer_net_custom_function": ["run_gradcheck"],
                 **{name: ["largest_lr"] for name in OPTIMIZER_STEPS}}


def command_line(name):
    """The script's command-line part: its lines from the marker comment on, but for those of
    its OWN_FUNCTIONS (each with the blank line after it)."""
    text = (ROOT / f"{name}.py").read_text(encoding="utf-8")
    assert text.count(MARK) == 1, f"{name}.py: the marker comment, once, before the command line"
    start = text[:text.index(MARK)].count("\n")
    own = {number for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)
           and node.name in OWN_FUNCTIONS.get(name, [])
           for number in range(node.lineno - 1, node.end_lineno + 1)}
    assert len(own) == sum(len(inspect.getsource(getattr(load(name), function)).splitlines()) + 1
                           for function in OWN_FUNCTIONS.get(name, [])), name
    return [line for number, line in enumerate(text.splitlines()) if number >= start
            and number not in own]


# What a step's own options and weights change in the command line, and nothing else may.
OWN_LINES = re.compile(r"device: {device}|= make_data\(|optimizer|OPTIMIZERS|for sgd|\blr\b|"
                       r"w_middle|seed=args\.seed|show.graph|gradcheck|first print the graph")
# Step 2 adds --device (and float32 as the default), where step 1 has numpy's error state.
NUMPY_TO_TORCH = re.compile(r"device|dtype|cuda|mps|cpu|np\.|train\(|print_every=|show_graph\(|"
                            r"= as_values\(")


def test_the_command_line_is_the_same_in_every_step_but_for_its_own_options():
    """Each script stands alone, so it repeats the sizes and the command-line part; this keeps
    the copies honest: between neighbouring steps the command line differs only in the lines
    of a step's own options (--optimizer, its --lr default, step 9's extra weight, numpy's
    dtype), and in steps 10 and 11, which add options of their own, only in lines they add;
    step 4, numpy's again, has step 1's command line and its own --show-graph."""
    scripts = {name: load(name) for name in SCRIPTS}
    for name, script in scripts.items():
        assert (script.N, script.D_in, script.H, script.D_out) == (64, 1000, 100, 10), name
        assert script.STEPS == 500, name
    for name in STEPS:                                  # the same train() up to extra options
        shared = list(inspect.signature(scripts[name].train).parameters.values())[:7]
        first = list(inspect.signature(scripts[SCRIPTS[0]].train).parameters.values())
        if hasattr(scripts[name], "OPTIMIZERS"):        # None: the optimizer's own rate
            first = [p.replace(default=None) if p.name == "learning_rate" else p for p in first]
        assert shared == first, name
    up_to_dynamic_net = SCRIPTS[:SCRIPTS.index("dynamic_net") + 1]
    for before, after in zip(up_to_dynamic_net, up_to_dynamic_net[1:]):
        changed = [line[1:] for line in difflib.unified_diff(
            command_line(before), command_line(after), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        numpy_and_torch = (before in NUMPY_SCRIPTS) != (after in NUMPY_SCRIPTS)
        own = re.compile(f"{OWN_LINES.pattern}|{NUMPY_TO_TORCH.pattern}") if numpy_and_torch \
            else OWN_LINES
        assert not [line for line in changed if not own.search(line)], (before, after, changed)
    # Steps 4, 10 and 11 add options and checks of their own to the command line of the step
    # they build on (1, 3 and 8): every line of that one is in theirs, but the lines of its own
    # options (and, in step 11, of --device, whose auto skips mps: torch.distributed cannot).
    for before, after, own in [("two_layer_net_numpy", OWN_AUTOGRAD, OWN_LINES),
                               ("two_layer_net_autograd", COMPILE, OWN_LINES),
                               ("two_layer_net_module", DDP, re.compile(
                                   f"{OWN_LINES.pattern}|device|mps"))]:
        theirs = {line.strip() for line in command_line(after)}
        missing = [line for line in command_line(before)
                   if line.strip() not in theirs and not own.search(line)]
        assert not missing, (before, after, missing)
    assert len({inspect.getsource(scripts[name].largest_lr) for name in OPTIMIZER_STEPS}) == 1
    # Step 11 keeps step 8's model, loss and data, and adds the process group around them.
    for helper in ["make_data", "TwoLayerNet"]:
        assert (inspect.getsource(getattr(scripts["two_layer_net_ddp"], helper)) ==
                inspect.getsource(getattr(scripts["two_layer_net_module"], helper))), helper


def test_every_main_is_short():
    """main() is the command line's glue, at most 40 lines (from `def main` to its last line):
    what a step's options add goes into functions of their own (steps 10 and 11)."""
    for name in SCRIPTS:
        lines = inspect.getsource(load(name).main).rstrip("\n").splitlines()
        assert len(lines) <= 40, (name, len(lines))


# --- Real processes -------------------------------------------------------------------------

@pytest.mark.parametrize("script_name", DISTINCT_COMMAND_LINES)
def test_script_runs_from_another_folder(script_name, runs_from_another_folder):
    result = runs_from_another_folder[script_name]
    assert result.returncode == 0, result.stderr
    assert [t for t, _ in step_losses(result.stdout)] == [0, 1, 2]
    if script_name == COMPILE:
        assert re.fullmatch(r"device: (cpu|cuda|mps), dtype: float32, backend: inductor, "
                            r"mode: default\nfirst step \(capture, then compile or reuse from "
                            r"the cache\): [0-9.]+ s; then [0-9.]+ ms per step \(median of 2\)\n",
                            our_lines(result.stderr)), result.stderr
    elif script_name == DDP:                          # no launcher: a world of one, it says
        assert result.stderr == ("device: cpu, dtype: float32, optimizer: sgd, lr: 1e-06, "
                                 "backend: gloo, processes: 1 (no launcher; torchrun "
                                 "--nproc_per_node 2 starts 2)\n") or "cuda" in result.stderr
    elif script_name in TORCH_SCRIPTS:
        assert re.fullmatch(r"device: (cpu|cuda|mps), dtype: float32"
                            r"(, optimizer: sgd, lr: [0-9.e-]+)?\n", result.stderr)
    else:
        assert result.stderr == ""


def test_importing_the_scripts_prints_nothing_and_numpy_step_needs_no_torch(
        runs_from_another_folder):
    result = runs_from_another_folder["import all"]
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("[]\n", "")


@pytest.mark.parametrize("name", NUMPY_SCRIPTS)
def test_numpy_steps_run_where_torch_cannot_be_imported(name, tmp_path):
    code = ("import runpy, sys; sys.modules['torch'] = None; "   # None: `import torch` fails
            "sys.argv = [sys.argv[1], '--steps', '2', '--show-graph']; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    if name == "two_layer_net_numpy":                          # step 1 has no --show-graph
        code = code.replace(", '--show-graph'", "")
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / f"{name}.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(step_losses(result.stdout)) == 2


# Ctrl-C once training has started (step 10 with QUICK's backend: test_compile.py
# checks Ctrl-C while inductor compiles).
CTRL_C_STEPS = ["two_layer_net_numpy", "two_layer_net_autograd", COMPILE]


def interrupted_once_training(name, folder):
    """`python <name>.py --steps 100000000`, and Ctrl-C (SIGINT) once it has printed its first
    loss line: that line and the CompletedProcess. (Run in the background from conftest.py;
    the test checks what it returns.)"""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / f"{name}.py"), "--steps", "100000000"]
        + QUICK.get(name, []),
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return first, subprocess.CompletedProcess(process.args, process.returncode, out, err)


def closed_after_one_line(folder):
    """`python two_layer_net_numpy.py | head -1`: the reader closes the pipe after one line.
    The first line and the CompletedProcess (no standard output: the reader closed it)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "two_layer_net_numpy.py"), "--steps", "100000000"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        process.stdout.close()                      # what `head -1` does after one line
        err = process.stderr.read()
        process.wait(timeout=60)
    finally:
        process.kill()
    return first, subprocess.CompletedProcess(process.args, process.returncode, None, err)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a child on Windows")
@pytest.mark.parametrize("name", CTRL_C_STEPS)
def test_ctrl_c_stops_with_status_130(name, interactive_runs):
    first, result = interactive_runs[("Ctrl-C", name)]
    assert STEP_LOSS_LINE.match(first), (first, result.stderr)    # training had started
    assert result.returncode == 130, result.stderr
    assert result.stderr.splitlines()[-1] == f"{name}.py: interrupted"
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_ends_the_run_quietly(interactive_runs):
    """Once the reader has gone, stop without a BrokenPipeError traceback."""
    first, result = interactive_runs["a closed pipe"]
    assert STEP_LOSS_LINE.match(first), (first, result.stderr)
    assert result.returncode == 1
    assert result.stderr == ""


def test_a_pipe_closed_before_the_end_ends_the_run_quietly(tmp_path):
    """`python two_layer_net_numpy.py --steps 5 | head -0`, as a learner's Python runs it:
    standard output a pipe, buffered (PYTHONUNBUFFERED unset), so that nothing is written before
    the end, and its reader already gone. Flushed only at exit, it would print "Exception ignored
    ... BrokenPipeError" and exit with status 120."""
    read, write = os.pipe()
    os.close(read)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    try:
        result = subprocess.run([sys.executable, str(ROOT / "two_layer_net_numpy.py"), "--steps",
                                 "5"], cwd=tmp_path, env=env, stdout=write,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert result.returncode == 1 and result.stderr == "", result.stderr


@pytest.mark.parametrize("name, argv", [
    (name, ["--steps", "2"] + ["--backend", "aot_eager"] * (name == COMPILE))
    for name in DISTINCT_COMMAND_LINES] + [
    ("autograd_rules", []), ("check_gradients", []),
    ("two_layer_net_custom_function", ["--gradcheck"]), (COMPILE, ["--dynamic", "--steps", "1"])])
def test_every_main_catches_a_reader_gone_before_the_end(name, argv, monkeypatch):
    """The same in this process, for each command line: main() writes its output while it can
    still catch the BrokenPipeError, into a real pipe whose reader has gone. (Step 10 captures
    without compiling: its output is handled alike for every backend.)"""
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as closed:                # buffered, as Python buffers a pipe
        monkeypatch.setattr(sys, "stdout", closed)
        assert load(name).main(argv) == 1
        monkeypatch.undo()
