"""The scripts as a learner meets them: the command line, its output and its errors.

Most checks call main(argv) in this process (starting Python and torch again for each bad
input would cost seconds apiece); the checks that only a real process can make (another
working folder, Ctrl-C, imports) run the scripts as subprocesses.
"""
import inspect
import os
import re
import signal
import subprocess
import sys
import warnings

import pytest
from ladder import ROOT, STEPS, TORCH_STEPS, load

STEP_LOSS_LINE = re.compile(r"^(\d+) (\S+)$")


def run_main(name, argv, capsys):
    """main(argv) of a step: its exit status, standard output and standard error."""
    try:
        status = load(name).main(argv)
    except SystemExit as exit_:           # argparse exits on --help and on bad input
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def step_losses(out):
    """The (step, loss) pairs of `step loss` lines; fails on any other line."""
    pairs = []
    for line in out.splitlines():
        match = STEP_LOSS_LINE.match(line)
        assert match, f"not a 'step loss' line: {line!r}"
        pairs.append((int(match[1]), float(match[2])))
    return pairs


BAD_INPUTS = [
    (["--steps", "-1"], "argument --steps: must be at least 1, got -1"),
    (["--steps", "abc"], "argument --steps: expected a whole number, got 'abc'"),
    (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (["--lr", "0"], "argument --lr: must be a finite number above 0, got '0'"),
    (["--lr", "-1"], "argument --lr: must be a finite number above 0, got '-1'"),
    (["--lr", "nan"], "argument --lr: must be a finite number above 0, got 'nan'"),
    (["--lr", "inf"], "argument --lr: must be a finite number above 0, got 'inf'"),
    (["--print-every", "-2"], "argument --print-every: must be at least 0, got -2"),
    (["--seed", "-1"], "argument --seed: must be from 0 to 4294967295, got -1"),
    (["--dtype", "float16"], "argument --dtype: invalid choice: 'float16'"),
    (["--learning-rate", "1"], "unrecognized arguments: --learning-rate 1"),
]
TORCH_BAD_INPUTS = [(["--device", "tpu"], "argument --device: invalid choice: 'tpu'")]


def check_usage_error(name, status, err, message):
    """argparse's form: the usage line first, then `prog: error: <one sentence>` last."""
    assert status == 2
    lines = err.splitlines()
    assert lines[0].startswith("usage: ")
    assert lines[-1].startswith(f"{load(name).build_parser().prog}: error: {message}"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_gives_usage_and_one_sentence(step_name, argv, message, capsys):
    status, out, err = run_main(step_name, argv, capsys)
    check_usage_error(step_name, status, err, message)
    assert out == ""


@pytest.mark.parametrize("argv, message", TORCH_BAD_INPUTS)
def test_bad_device_name(torch_step_name, argv, message, capsys):
    status, out, err = run_main(torch_step_name, argv, capsys)
    check_usage_error(torch_step_name, status, err, message)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_unavailable_device_names_what_is_available(torch_step_name, device, capsys):
    available = load(torch_step_name).available_devices()
    if device in available:
        pytest.skip(f"{device} is available on this machine")
    status, out, err = run_main(torch_step_name, ["--device", device, "--steps", "1"], capsys)
    check_usage_error(torch_step_name, status, err, f"--device {device} is not available here; "
                                   f"available: {', '.join(available)}")
    assert out == ""


def test_help_lists_every_option(step_name, capsys):
    status, out, err = run_main(step_name, ["--help"], capsys)
    assert status == 0 and err == ""
    options = ["--steps", "--lr", "--seed", "--print-every", "--dtype"]
    if STEPS[step_name] != "numpy":
        options.append("--device")
    for option in options:
        assert option in out


def test_defaults_reproduce_the_tutorial(step_name):
    defaults = load(step_name).build_parser().parse_args([])
    assert (defaults.steps, defaults.lr, defaults.seed, defaults.print_every) == (500, 1e-6, 0, 1)
    assert defaults.dtype == ("float64" if STEPS[step_name] == "numpy" else "float32")
    if STEPS[step_name] != "numpy":
        assert defaults.device == "auto"


def test_diverging_run_stops_with_one_message(step_name, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # a RuntimeWarning would fail the test
        status, out, err = run_main(step_name, ["--lr", "1", "--print-every", "1"], capsys)
    assert status == 1
    losses = step_losses(out)
    assert losses and len(losses) < 500
    message = err.splitlines()[-1]
    assert re.search(rf"the loss became (inf|nan) at step {len(losses)} with --lr 1.0; "
                     r"try a smaller --lr$", message), err
    assert "Warning" not in err and "Traceback" not in err


def test_keyboard_interrupt_is_one_line_and_status_130(step_name, capsys, monkeypatch):
    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(load(step_name), "compute_loss", interrupted)
    status, out, err = run_main(step_name, ["--steps", "3"], capsys)
    assert status == 130
    assert err.splitlines()[-1] == f"{load(step_name).build_parser().prog}: interrupted"
    assert "Traceback" not in err


def test_same_seed_prints_the_same_losses(step_name, capsys):
    first = run_main(step_name, ["--steps", "5", "--seed", "3"], capsys)
    second = run_main(step_name, ["--steps", "5", "--seed", "3"], capsys)
    other = run_main(step_name, ["--steps", "5", "--seed", "4"], capsys)
    assert first[0] == 0 and first[1] == second[1]
    assert [t for t, _ in step_losses(first[1])] == [0, 1, 2, 3, 4]
    assert other[1] != first[1]


def test_torch_steps_print_the_same_losses(capsys):
    """Both torch steps draw the same start for a seed, so they print the same lines."""
    outputs = {name: run_main(name, ["--steps", "20", "--device", "cpu"], capsys)[1]
               for name in TORCH_STEPS}
    assert len(set(outputs.values())) == 1, outputs


def test_the_setup_lines_repeated_in_every_script_stay_identical():
    """Each script stands alone, so it repeats the sizes and the command-line helpers;
    this keeps the copies honest."""
    steps = [load(name) for name in STEPS]
    for step in steps:
        assert (step.N, step.D_in, step.H, step.D_out) == (64, 1000, 100, 10)
        assert (step.STEPS, step.LEARNING_RATE) == (500, 1e-6)
        assert inspect.signature(step.train) == inspect.signature(steps[0].train)
    for helper in ["whole_number", "positive_number"]:
        assert len({inspect.getsource(getattr(step, helper)) for step in steps}) == 1, helper
    torch_steps = [load(name) for name in TORCH_STEPS]
    for helper in ["available_devices", "build_parser", "main"]:
        assert len({inspect.getsource(getattr(step, helper)) for step in torch_steps}) == 1, helper


# --- Real processes -------------------------------------------------------------------------

def run_script(name, *args, cwd, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / f"{name}.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_script_runs_from_another_folder(step_name, tmp_path):
    result = run_script(step_name, "--steps", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [t for t, _ in step_losses(result.stdout)] == [0, 1, 2]
    if STEPS[step_name] != "numpy":
        assert re.fullmatch(r"device: (cpu|cuda|mps), dtype: float32\n", result.stderr)
    else:
        assert result.stderr == ""


def test_importing_the_scripts_prints_nothing_and_numpy_step_needs_no_torch(tmp_path):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import two_layer_net_numpy; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')); "
            + "; ".join(f"import {name}" for name in STEPS))
    result = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("[]\n", "")


def test_numpy_step_runs_where_torch_cannot_be_imported(tmp_path):
    code = ("import runpy, sys; sys.modules['torch'] = None; "   # None: `import torch` fails
            "sys.argv = [sys.argv[1], '--steps', '2']; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code, str(ROOT / "two_layer_net_numpy.py")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(step_losses(result.stdout)) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a child on Windows")
@pytest.mark.parametrize("name", ["two_layer_net_numpy", "two_layer_net_autograd"])
def test_ctrl_c_stops_with_status_130(name, tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(ROOT / f"{name}.py"), "--steps", "100000000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert STEP_LOSS_LINE.match(process.stdout.readline())   # training has started
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err.splitlines()[-1] == f"{name}.py: interrupted"
    assert "Traceback" not in err
