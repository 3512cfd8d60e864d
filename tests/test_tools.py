"""The tools around the ladder: the gradient checker, the loss plot and the benchmark."""
import re
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest
from ladder import (
    ROOT,
    SHORT_RUNS,
    checked,
    edited_copy,
    failing_cpp_compiler,
    load,
    run_main,
    short_run,
    without_a_cpp_compiler,
)

check_gradients = load("check_gradients")
benchmark = load("benchmark")


# --- check_gradients.py -----------------------------------------------------------------------

def test_the_manual_steps_pass_the_gradient_check(capsys):
    """Steps 1 and 2 (backward by hand) and step 4 (each operation's backward by hand)."""
    status, out, _ = run_main("check_gradients", [], capsys)
    assert status == 0, out
    assert out.count("all gradients match") == 3
    assert "WRONG" not in out


# (script, the correct line, a broken version, the gradient the checker must name first)
PLANTED_BUGS = [
    ("two_layer_net_numpy", "grad_y_pred = 2.0 * (y_pred - y)",
     "grad_y_pred = (y_pred - y)", "grad_y_pred"),                    # the factor 2 forgotten
    ("two_layer_net_tensor", "grad_y_pred = 2.0 * (y_pred - y)",
     "grad_y_pred = 2.0 * (y - y_pred)", "grad_y_pred"),              # the sign flipped
    ("two_layer_net_numpy", "grad_w2 = h_relu.T @ grad_y_pred",
     "grad_w2 = h.T @ grad_y_pred", "grad_w2"),                       # h instead of h_relu
    ("two_layer_net_tensor", "grad_h[h <= 0] = 0", "grad_h[h > 0] = 0", "grad_h"),  # mask side
    ("two_layer_net_numpy", "grad_h[h <= 0] = 0", "grad_h[h_relu < 0] = 0", "grad_h"),
    ("two_layer_net_tensor", "grad_w1 = x.T @ grad_h", "grad_w1 = x.T @ grad_h_relu", "grad_w1"),
]


@pytest.mark.parametrize("name, line, broken, culprit", PLANTED_BUGS,
                         ids=[f"{n}: {b}" for n, _, b, _ in PLANTED_BUGS])
def test_a_planted_bug_is_caught_and_its_line_named(name, line, broken, culprit, tmp_path,
                                                     capsys):
    source = (ROOT / f"{name}.py").read_text()
    path = edited_copy(f"{name}.py", [(line, broken)], tmp_path)

    status, rows, out = checked(path, capsys)
    assert status == 1, out
    assert f"first wrong gradient: {culprit};" in out
    named = out.split("look at", 1)[1]
    assert broken in named                   # the broken line itself is shown, with its number
    lineno = source[:source.index(line)].count("\n") + 1
    assert f"line {lineno}: {broken}" in named
    order = [grad for grad in check_gradients.GRADIENTS if grad in rows]    # no biases here
    assert all(rows[g] == "ok" for g in order[:order.index(culprit)]), out


@pytest.mark.parametrize("name, line, broken", [
    ("two_layer_net_numpy", "grad_h = grad_h_relu.copy()", "grad_h = grad_h_relu"),
    ("two_layer_net_tensor", "grad_h = grad_h_relu.clone()", "grad_h = grad_h_relu"),
])
def test_a_gradient_changed_in_place_by_a_later_line_is_named_as_that(name, line, broken,
                                                                        tmp_path, capsys):
    """Without the copy, the mask's line also changes grad_h_relu, whose own line is right: the
    checker says so, rather than point at that line."""
    status, rows, out = checked(edited_copy(f"{name}.py", [(line, broken)], tmp_path), capsys)
    assert status == 1, out
    assert rows["grad_y_pred"] == rows["grad_w2"] == rows["grad_h"] == "ok", out
    assert rows["grad_h_relu"].startswith("WRONG"), out
    assert ("first wrong gradient: grad_h_relu, which is one array with grad_h: a line that "
            "changes grad_h in place changes grad_h_relu too; make grad_h a copy") in out, out
    assert "look at" not in out


def test_a_forgotten_mask_is_not_taken_for_a_change_in_place(tmp_path, capsys):
    """grad_h = grad_h_relu with no mask: one array again, but grad_h is the wrong one, and
    the line to look at is its own."""
    path = edited_copy("two_layer_net_numpy.py", [("grad_h = grad_h_relu.copy()\n", "grad_h = "
                       "grad_h_relu\n"), ("    grad_h[h <= 0] = 0", "    pass")], tmp_path)
    status, rows, out = checked(path, capsys)
    assert status == 1 and rows["grad_h_relu"] == "ok", out
    assert "first wrong gradient: grad_h; look at" in out and "in place" not in out, out


@pytest.mark.parametrize("name, factor", [
    ("two_layer_net_numpy", "(1 + 1e-4)"),      # caught by the finite differences (1e-6)
    ("two_layer_net_tensor", "(1 + 1e-8)"),     # only autograd's tolerance (1e-10) sees it
])
def test_a_gradient_slightly_off_is_wrong(name, factor, tmp_path, capsys):
    """The tolerances themselves: a gradient off by a little more than each one is WRONG."""
    line = "grad_w2 = h_relu.T @ grad_y_pred"
    status, rows, out = checked(edited_copy(f"{name}.py", [(line, f"{line} * {factor}")],
                                            tmp_path), capsys)
    assert status == 1 and rows["grad_w2"].startswith("WRONG"), out
    assert rows["grad_y_pred"] == "ok", out


@pytest.mark.parametrize("line, broken", [
    ("grad_h_relu = grad_y_pred @ w2.T", "grad_h_relu = grad_y_pred @ w2"),
    ("grad_w1 = x.T @ grad_h", "grad_w1 = x @ grad_h"),
])
def test_a_wrong_transpose_is_reported_at_its_line(line, broken, tmp_path, capsys):
    source = (ROOT / "two_layer_net_numpy.py").read_text()
    path = edited_copy("two_layer_net_numpy.py", [(line, broken)], tmp_path, "mine.py")
    lineno = source[:source.index(line)].count("\n") + 1
    status, out, err = run_main("check_gradients", [str(path)], capsys)
    assert status == 1
    assert re.search(rf"backward\(\) raised \w+ at line {lineno}: {re.escape(broken)}", out), out
    assert "Traceback" not in out + err


# A learner's own change to the forward pass or the loss, with or without the backward that
# matches it: (script, [(line, changed line)], None if it passes, else the gradient named first).
LEAKY = ("h_relu = np.maximum(h, 0)", "h_relu = np.where(h > 0, h, 0.01 * h)")
LEAKY_TORCH = ("h_relu = h.clamp(min=0)", "h_relu = torch.where(h > 0, h, 0.01 * h)")
MEAN = ("return np.square(y_pred - y).sum()", "return np.square(y_pred - y).mean()")
MEAN_TORCH = ("return (y_pred - y).pow(2).sum()", "return (y_pred - y).pow(2).mean()")
OWN_CHANGES = [
    ("two_layer_net_numpy", [LEAKY, ("grad_h[h <= 0] = 0 ", "grad_h[h <= 0] *= 0.01 ")], None),
    ("two_layer_net_numpy", [LEAKY, ("grad_h[h <= 0] = 0 ", "grad_h[h <= 0] *= 0.1 ")], "grad_h"),
    ("two_layer_net_numpy", [LEAKY], "grad_h"),                    # forward changed, not backward
    ("two_layer_net_numpy", [MEAN], "grad_y_pred"),
    ("two_layer_net_numpy", [MEAN, ("2.0 * (y_pred - y) ", "2.0 * (y_pred - y) / y.size ")], None),
    ("two_layer_net_tensor", [LEAKY_TORCH, ("grad_h[h <= 0] = 0 ", "grad_h[h <= 0] *= 0.01 ")],
     None),
    ("two_layer_net_tensor", [MEAN_TORCH], "grad_y_pred"),
    # ReLU in two statements, as step 1's backward writes its mask: the differences run after
    # the last one (and on copies, which the mask cannot change)
    ("two_layer_net_numpy",
     [("h_relu = np.maximum(h, 0)", "h_relu = h.copy()\n    h_relu[h <= 0] = 0")], None),
    ("two_layer_net_tensor",
     [("h_relu = h.clamp(min=0)", "h_relu = h.clone()\n    h_relu[h <= 0] *= 0.01"),
      ("grad_h[h <= 0] = 0 ", "grad_h[h <= 0] *= 0.01 ")], None),
    # A copy of step 1 that imports torch still computes with numpy: it is judged on arrays
    ("two_layer_net_numpy", [("import numpy as np\n", "import numpy as np\nimport torch\n")], None),
]


@pytest.mark.parametrize("name, changes, culprit", OWN_CHANGES,
                         ids=[f"{n}: {' / '.join(new for _, new in c)}" for n, c, _ in OWN_CHANGES])
def test_the_checker_judges_the_learners_own_forward_pass_and_loss(name, changes, culprit,
                                                                   tmp_path, capsys):
    """The finite differences (and, on tensors, autograd) run through the copy's own forward()
    and compute_loss(): a right leaky ReLU or mean loss passes with the backward that matches
    it, and fails, at the first gradient it changes, with the old one."""
    path = edited_copy(f"{name}.py", changes, tmp_path, "mine.py")
    status, out, _ = run_main("check_gradients", [str(path)], capsys)
    if culprit is None:
        assert status == 0 and "all gradients match" in out, out
    else:
        assert status == 1 and f"first wrong gradient: {culprit};" in out, out
    assert ("n/a (numpy)" in out) == (name == "two_layer_net_numpy")      # autograd on tensors


@pytest.mark.parametrize("name, changes, message", [
    ("two_layer_net_autograd", [], "mine.py: no backward() of its own to check: steps 3 and 5 "
     "leave the backward pass to autograd"),
    ("two_layer_net_numpy", [("grad_w2 = h_relu.T", "grad_weights2 = h_relu.T"),
                             ("return grad_w1, grad_w2", "return grad_w1, grad_weights2")],
     "first wrong gradient: grad_w2: backward() has no line that sets it; the checker reads "
     "backward()'s variables by these names"),
    # numpy's own error for a copy of step 1, not torch's from a second try on tensors
    ("two_layer_net_numpy", [("h = x @ w1 ", "h = x @ w1.T ")], "mine.py: its forward() and "
     "compute_loss() could not run on a small float64 batch: ValueError: matmul: "),
    # a copy that does not import: Python's own message, with the line in the copy
    ("two_layer_net_numpy", [("def forward(x, w1, w2):", "def forward(x, w1, w2)")],
     "mine.py: could not be imported: SyntaxError: expected ':' (mine.py, line "),
    ("two_layer_net_numpy", [("import numpy as np\n", "import numpy as np\nimport numpi\n")],
     "mine.py: could not be imported: line 15: ModuleNotFoundError: No module named 'numpi'"),
])
def test_the_checker_says_why_it_cannot_judge(name, changes, message, tmp_path, capsys):
    """One line saying why, status 1, no traceback."""
    path = edited_copy(f"{name}.py", changes, tmp_path, "mine.py")
    status, out, err = run_main("check_gradients", [str(path)], capsys)
    assert status == 1 and message in out and "Traceback" not in out + err, out


def test_the_checker_says_what_it_needs_of_forward(tmp_path, capsys):
    line = ("    h_relu = np.maximum(h, 0)     # (N, H)\n"
            "    y_pred = h_relu @ w2          # (N, D_out)")
    both = "    h_relu, y_pred = np.maximum(h, 0), np.maximum(h, 0) @ w2"    # one line for two
    path = edited_copy("two_layer_net_numpy.py", [(line, both)], tmp_path, "mine.py")
    status, out, _ = run_main("check_gradients", [str(path)], capsys)
    assert status == 1
    assert out.strip() == ("mine.py: forward() must compute h_relu in a line of its own, "
                           "`h_relu = ...`")


TANH = """def tanh(a):
    out = np.tanh(a.data)
    return record(out, "TanhBackward", (a,), lambda g: ((1 - out ** 2) * g,), {"self": a})

"""


@pytest.mark.parametrize("change, culprit", [
    (None, None),                                                         # step 4 as it is
    (("lambda g: (2.0 * a.data * g,)", "lambda g: (a.data * g,)"), "square"),   # the 2 forgotten
    (("def total(a):", TANH + "def total(a):"), None),                    # an operation added
    (("def total(a):", TANH.replace("1 - out ** 2", "1 - out") + "def total(a):"), "tanh"),
])
def test_the_checker_judges_each_operation_of_an_engine(change, culprit, tmp_path, capsys):
    """On step 4 or a copy: each operation's backward_fn against finite differences of its
    forward, a learner's new one included, then the net's gradients."""
    path = edited_copy("two_layer_net_own_autograd.py", [change] if change else [], tmp_path,
                       "mine.py")
    status, rows, out = checked(path, capsys)
    assert set(rows.values()) <= {"ok", "WRONG"}, out             # no row with a note
    operations = {key.split()[0] for key in rows if not key.startswith(("grad_", "the net"))}
    added = {"tanh"} if change and "def tanh" in change[1] else set()
    assert operations == {"mm", "relu", "sub", "square", "total"} | added, out
    assert "the net: grad_w1 " in out and "the net: grad_w2 " in out
    if culprit is None:
        assert status == 0 and "WRONG" not in out and "all gradients match" in out, out
    else:
        assert status == 1 and f"first wrong: {culprit}; look at its backward, from line" in out


@pytest.mark.parametrize("backward_fn, message", [
    ("lambda g: (1 - out ** 2) * g", "returned one ndarray, not a tuple of one gradient per "
     "input (for one input: (grad,))"),                         # the trailing comma forgotten
    ("lambda g: ((1 - out ** 2) * g, None)", "returned 2 gradients for 1 input"),
])
def test_the_checker_names_a_backward_fn_that_returns_no_tuple_of_one_per_input(
        backward_fn, message, tmp_path, capsys):
    """Exercise 4.1 with tanh in forward(): a backward_fn that returns the bare array (which the
    engine would walk row by row) or one gradient too many is named at its operation, and the
    net, which then cannot run, does not hide it."""
    tanh = TANH.replace("lambda g: ((1 - out ** 2) * g,)", backward_fn)
    assert tanh != TANH
    path = edited_copy("two_layer_net_own_autograd.py",
                       [("def total(a):", tanh + "def total(a):"),
                        ("h_relu = relu(h) ", "h_relu = tanh(h) ")], tmp_path, "mine.py")
    status, out, err = run_main("check_gradients", [str(path)], capsys)
    assert status == 1 and "Traceback" not in out + err, out
    assert re.search(rf"^tanh +its backward_fn {re.escape(message)}$", out, re.M), out
    assert out.strip().splitlines()[-1].startswith("first wrong: tanh; look at its backward"), out


SCALE = """def scale(a, k):
    return record(a.data * k, "MulBackward", (a,), lambda g: (k * g,), {"self": a})

"""
USE_SCALE = ("    y_pred = mm(h_relu, w2)       # (N, D_out)",
             "    y_pred = scale(mm(h_relu, w2), 1.5)")


@pytest.mark.parametrize("changes, status, last_line", [
    ([("def total(a):", SCALE + "def total(a):")], 0, "all gradients match"),
    ([("def total(a):", SCALE + "def total(a):"), USE_SCALE], 0, "all gradients match"),
    ([("def total(a):", SCALE.replace("(k * g,)", "(g,)") + "def total(a):"), USE_SCALE], 1,
     "first wrong: grad_w1"),
])
def test_the_checker_leaves_an_operation_of_a_number_to_the_net(changes, status, last_line,
                                                                tmp_path, capsys):
    """scale(a, k), k a plain number, cannot run on Values alone: not called wrong for that, but
    left to the net's gradients, which find its wrong backward where forward() uses it. (One
    that runs on no input, even unused, is wrong: the next test.)"""
    path = edited_copy("two_layer_net_own_autograd.py", changes, tmp_path, "mine.py")
    got, out, _ = run_main("check_gradients", [str(path)], capsys)
    assert got == status, out
    assert re.search(r"^scale +could not run it on Values \(TypeError: .*\): not checked alone$",
                     out, re.M), out
    assert out.strip().splitlines()[-1].startswith(last_line)
    assert out.strip().endswith("scale could not be checked alone (the net checks an operation "
                                "only where forward() uses it)" + (": look at scale's backward "
                                                                   "first" if status else ""))


def test_the_checker_calls_an_operation_that_never_runs_wrong(tmp_path, capsys):
    """A tanh of the learner's, unused by forward(), whose forward raises on any input."""
    broken = TANH.replace("np.tanh(a.data)", "np.tanh(a.dat)")
    path = edited_copy("two_layer_net_own_autograd.py",
                       [("def total(a):", broken + "def total(a):")], tmp_path, "mine.py")
    status, out, _ = run_main("check_gradients", [str(path)], capsys)
    assert status == 1, out
    assert re.search(r"^tanh +could not run it on Values \(AttributeError: .*dat.*\)$", out, re.M)
    assert "first wrong: tanh; look at its backward, from line" in out


@pytest.mark.parametrize("name, message", [("nope.py", "no such file"),
                                           ("folder", "not a file"),
                                           ("notes.txt", "not a Python script (.py)")])
def test_gradient_checker_rejects_what_is_not_a_script(name, message, tmp_path, capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("forward, loss, backward, update\n")
    status, out, err = run_main("check_gradients", [str(tmp_path / name)], capsys)
    assert status == 2
    assert err.splitlines()[-1].endswith(f"error: {message}: {tmp_path / name}")


@pytest.mark.parametrize("tool, argv, message", [
    ("check_gradients", ["--seed", "-1"], "argument --seed: must be from 0 to 2**32 - 1, got -1"),
    ("check_gradients", ["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ("plot_losses", ["--seed", str(2**32)],
     "argument --seed: must be from 0 to 2**32 - 1, got 4294967296"),
    ("plot_losses", ["--steps", "0"], "argument --steps: must be at least 1, got 0"),
])
def test_tools_reject_a_bad_number_as_the_steps_do(tool, argv, message, capsys):
    status, out, err = run_main(tool, argv, capsys)
    assert status == 2 and err.splitlines()[-1].endswith(f": error: {message}") and out == ""


# --- plot_losses.py ---------------------------------------------------------------------------

def png_size(data):
    """(width, height) from a PNG's header, after checking its signature and first chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_is_a_valid_non_empty_png():
    """The README's `python plot_losses.py`, shortened (ladder.SHORT_RUNS)."""
    pytest.importorskip("matplotlib")
    status, _, err = short_run("plot_losses")
    assert status == 0, err
    data = Path(SHORT_RUNS["plot_losses"][-1]).read_bytes()
    width, height = png_size(data)
    assert width >= 400 and height >= 300
    assert len(data) > 10_000                   # lines and text, not a blank canvas
    # After step 10 has compiled in this process, numbers below float32's smallest normal are
    # still kept (torch 2.4's inductor, built by gcc 12, turns on flush-to-zero: plot_losses.py
    # turns it off again)
    import torch
    assert (torch.tensor([1e-40]) * 1.0).item() != 0.0


def test_plot_draws_each_steps_losses_on_a_log_scale(tmp_path):
    """draw() with made-up losses, given the real pyplot but a close() that keeps the figure:
    one line per step, its own losses, on a log scale (the PNG test above sees only bytes)."""
    pyplot = pytest.importorskip("matplotlib.pyplot")
    plot = load("plot_losses")
    kept = []
    losses = {name: [10.0 ** -i * (n + 1) for i in range(4)]
              for n, (name, _, _) in enumerate(plot.LADDER)}
    plot.draw(losses, 0, tmp_path / "losses.png",
              types.SimpleNamespace(subplots=pyplot.subplots, close=kept.append))
    try:
        (axes,) = kept[0].axes
        assert axes.get_yscale() == "log"
        assert [list(line.get_ydata()) for line in axes.get_lines()] == list(losses.values())
    finally:
        pyplot.close(kept[0])


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # None: `import matplotlib` fails
    status, out, err = run_main("plot_losses", ["--output", str(tmp_path / "x.png")], capsys)
    assert status == 2 and out == ""
    prog = load("plot_losses").build_parser().prog
    assert err.splitlines() == [f"{prog}: needs matplotlib, which is not installed; "
                                "install it with: pip install matplotlib"]
    assert not (tmp_path / "x.png").exists()


def test_plot_rejects_a_missing_folder(tmp_path, capsys):
    missing = tmp_path / "no" / "losses.png"
    status, _, err = run_main("plot_losses", ["--output", str(missing)], capsys)
    assert status == 2
    assert "does not exist" in err.splitlines()[-1]


def test_plot_rejects_a_folder_as_its_file(tmp_path, capsys):
    status, _, err = run_main("plot_losses", ["--output", str(tmp_path)], capsys)
    assert status == 2
    assert err.splitlines()[-1].endswith(f"error: --output: {tmp_path} is a folder; name the "
                                         "PNG file")


@pytest.mark.parametrize("tool, argv, message", [
    ("plot_losses", ["--output", "x.png"], "step 10 compiles C++ on the CPU, and {} is not on "
     "PATH; install a C++ compiler"),
    ("benchmark", ["--devices", "cpu"], "step 10 compiles C++ on the cpu, and {} is not on PATH; "
     "install a C++ compiler, or leave out the cpu (--devices)")])
def test_tools_without_a_cpp_compiler_say_so_before_they_start(tool, argv, message, tmp_path,
                                                               capsys, monkeypatch):
    """Step 10 compiles C++ on the CPU: with no compiler to find, a usage error naming it,
    before any step runs (plot_losses) or any table (benchmark)."""
    compiler = without_a_cpp_compiler(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(tool, argv, capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].endswith(f"error: {message.format(compiler)}")


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in compiler is a shell script")
def test_plot_says_in_one_line_which_step_failed_and_why(tmp_path, capsys, monkeypatch):
    """Step 10's compiler failing (ladder.failing_cpp_compiler): one line, after the tool's name
    (here pytest's), with the step's own last line, under the step's name; status 1; no PNG."""
    pytest.importorskip("matplotlib")
    with failing_cpp_compiler(tmp_path, monkeypatch):
        status, out, err = run_main("plot_losses", ["--steps", "1", "--output",
                                                    str(tmp_path / "x.png")], capsys)
    assert status == 1 and out == "" and "Traceback" not in err
    assert err.split(": ", 1)[1] == (
        "two_layer_net_compile --seed 0 --steps 1 --device cpu failed: two_layer_net_compile.py: "
        "--backend inductor failed on cpu (CppCompileError: C++ compile error: Python.h: No such "
        "file or directory); try --backend aot_eager\n")
    assert not (tmp_path / "x.png").exists()


# --- benchmark.py -----------------------------------------------------------------------------

def test_the_ratio_is_the_median_of_each_rounds_step_over_its_floor(monkeypatch):
    """measure()'s arithmetic, on a clock that returns set times (a warm-up, then 3 rounds):
    the rounds' ratios of step to floor are 3, 2 and 10, so their median is 3, where the ratio
    of the medians would be 2, their mean 5, and floor over step 1/3. (Real timing: above.)"""
    clock = {"floor (torch)": [1, 1, 2, 4], "two_layer_net_tensor": [1, 3, 4, 40],
             "floor (numpy)": [1, 1, 2, 4], "two_layer_net_numpy": [1, 3, 4, 40]}

    def block(name):
        return lambda k: name

    blocks = {name: block(name) for name in clock}

    def time_block(run, k, device):
        return float(clock[run(k)].pop(0))

    monkeypatch.setattr(benchmark, "timed_blocks", lambda device, size: blocks)
    monkeypatch.setattr(benchmark, "time_block", time_block)
    result = benchmark.measure("cpu", (1, 1, 1, 1), 3)
    assert result["two_layer_net_tensor"] == result["two_layer_net_numpy"] == (4.0, 3.0)
    assert result["floor (torch)"] == result["floor (numpy)"] == (2.0, 1.0)


def test_floor_flops_match_torchs_own_count():
    """flops_per_step is the count of the five products; check it with torch's flop counter."""
    from torch.utils.flop_counter import FlopCounterMode
    size = (6, 7, 5, 3)
    inputs = benchmark.make_inputs("tensor", size, "cpu")
    with FlopCounterMode(display=False) as counter:
        benchmark.matmul_floor(*inputs)
    assert counter.get_total_flops() == benchmark.flops_per_step(size)


def test_floor_products_have_the_shapes_of_a_training_step():
    x, y, w1, w2 = benchmark.make_inputs("tensor", benchmark.SIZES["default"], "cpu")
    grad_w1, grad_w2 = benchmark.matmul_floor(x, y, w1, w2)
    assert grad_w1.shape == w1.shape and grad_w2.shape == w2.shape


def test_benchmark_prints_a_markdown_row_per_step():
    """The README's `python benchmark.py`, shortened (ladder.SHORT_RUNS)."""
    status, out, err = short_run("benchmark")
    assert status == 0, err
    main_table, step_11 = out.split("\n| step 11, 64, 1000, 100, 10, cpu | ms per step |")
    rows = [line for line in main_table.splitlines() if line.startswith("| ") and "cpu" in line]
    names = [row.split("|")[1].strip() for row in rows]
    assert names == ["floor (torch)", "floor (numpy)", *benchmark.STEPS]
    for row in rows:
        milliseconds, gflops, ratio = [float(cell) for cell in row.split("|")[4:7]]
        assert milliseconds > 0 and gflops > 0 and ratio > 0


def test_benchmark_times_step_11_under_torchrun():
    """One process (test_ddp.py launches two and more), from the same run."""
    status, out, err = short_run("benchmark")
    assert status == 0, err
    table = out.split("| step 11, 64, 1000, 100, 10, cpu | ms per step |")[1].splitlines()
    assert table[1] == "|---|---:|---:|---:|---:|---:|" and len(table) == 3
    cells = [cell.strip() for cell in table[2].split("|")[1:-1]]
    assert cells[0] == "1 process" and cells[2] == "1.00" and cells[5] == "0"
    assert all(float(cell) > 0 for cell in cells[1:5])


def test_benchmark_can_leave_step_11_out(capsys):
    """At the default size, whose graphs inductor has compiled for the other runs already (at
    another size, step 10 would compile anew: seconds of C++ with an empty cache)."""
    status, out, _ = run_main("benchmark", ["--sizes", "default", "--rounds", "1", "--devices",
                                            "cpu", "--no-memory", "--processes", "0"], capsys)
    assert status == 0 and "| floor (torch) | cpu | 64, 1000, 100, 10 |" in out
    assert "step 11" not in out


@pytest.mark.parametrize("argv, message", [
    (["--processes", "65"], "must be from 1 to 64, got 65"),
    (["--sizes", "huge"], "unknown size 'huge'"),
    (["--rounds", "0"], "must be at least 1"),
    (["--devices", "tpu"], "'tpu' is not available here"),
])
def test_benchmark_bad_input(argv, message, capsys):
    status, out, err = run_main("benchmark", argv, capsys)
    assert status == 2 and message in err and out == ""


def test_benchmark_steps_are_the_two_layer_steps():
    from ladder import COMPILE, STEPS
    assert list(benchmark.STEPS) == [*STEPS, COMPILE]
    assert benchmark.STEPS["two_layer_net_autograd"] == benchmark.STEPS[COMPILE] == "leaf"


# --- .ci/gpu-check --------------------------------------------------------------------------

def run_gpu_check(tmp_path, python_body):
    """.ci/gpu-check quick, with stand-ins for nvidia-smi and for Python (a shell script whose
    body is python_body): what it runs, and how it ends, without a GPU."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in [("nvidia-smi", "echo 'a GPU, 1.0, 1 MiB'"), ("python", python_body)]:
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "PYTHON": str(bin_ / "python"),
           "OUT": str(tmp_path / "out")}
    return subprocess.run(["bash", str(ROOT / ".ci" / "gpu-check"), "quick"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_gpu_check_passes_when_every_command_does(tmp_path):
    result = run_gpu_check(tmp_path, "echo 1")        # `device_count()`: 1 GPU
    assert result.returncode == 0, result.stderr
    assert "gpu-check: every command passed" in result.stdout
    assert result.stdout.count("== ") == 8              # every command ran


def test_gpu_check_fails_and_names_each_command_that_failed(tmp_path):
    # Python fails for the benchmark and for pytest alone; the others go on.
    result = run_gpu_check(tmp_path, 'case "$*" in *benchmark.py*|*pytest*) exit 3;; esac; echo 1')
    assert result.returncode == 1
    assert result.stdout.count("== ") == 8              # a failure does not stop the others
    failed = result.stderr.splitlines()
    assert failed[0] == "gpu-check: 2 failed:"
    assert [line.split(" (status")[0].split()[1:3] for line in failed[1:]] == [
        ["-m", "pytest"], ["benchmark.py", "--devices"]]
    assert all(line.endswith("(status 3)") for line in failed[1:])
