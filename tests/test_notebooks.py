"""Where learners run the steps in Jupyter, VS Code or Colab: real kernels, real notebooks.

- notebooks/ is what notebooks/build.py makes from the scripts and README.md, so it cannot go
  stale;
- every notebook, and every script pasted whole into one cell, runs in a real Jupyter kernel
  (nbclient and ipykernel) with no error and prints what the script prints in a terminal;
- `%run script.py --steps 2` in a kernel still takes the user's arguments.
The kernels start when the tests are collected (conftest.py) and run beside the other tests.
"""
import re
import shutil
import subprocess
import sys

import pytest
from ladder import REFERENCE, ROOT, SCRIPTS, default_losses, our_lines, step_losses

BUILD = ROOT / "notebooks" / "build.py"


def run_build(*args):
    return subprocess.run([sys.executable, str(BUILD), *args], capture_output=True, text=True,
                          timeout=120)


def test_every_step_has_its_notebook_and_nothing_else_is_there():
    found = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert found == sorted(SCRIPTS)


def test_rebuilding_the_notebooks_changes_nothing():
    result = run_build("--check")
    assert result.returncode == 0, result.stderr


def test_a_stale_notebook_is_found(tmp_path):
    """The check above can fail: a copy one character off is named, and left alone."""
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(path, tmp_path)
    notebook = tmp_path / f"{REFERENCE}.ipynb"
    changed = notebook.read_text(encoding="utf-8").replace("requires_grad", "requires_grad ", 1)
    notebook.write_text(changed, encoding="utf-8")
    result = run_build("--check", "--folder", str(tmp_path))
    assert result.returncode == 1
    assert f"stale: {REFERENCE}.ipynb;" in result.stderr
    assert notebook.read_text(encoding="utf-8") == changed


def test_the_notebook_cells_are_the_script_line_for_line():
    import nbformat

    for name in SCRIPTS:
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        assert "\n\n".join(code) + "\n" == (ROOT / f"{name}.py").read_text(encoding="utf-8")
        assert all(not cell.get("outputs") for cell in notebook.cells), f"{name}: outputs"


def streams(notebook, name):
    return "".join(output.text for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs
                   if output.output_type == "stream" and output.name == name)


@pytest.mark.parametrize("kind", ["notebook", "pasted"])
def test_runs_in_a_jupyter_kernel_as_in_a_terminal(script_name, kind, kernel_runs,
                                                   runs_from_another_folder):
    result, notebook = kernel_runs[(kind, script_name)]
    assert result.returncode == 0, result.stderr
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    out, err = streams(notebook, "stdout"), streams(notebook, "stderr")
    losses = step_losses(out)
    assert [t for t, _ in losses] == list(range(500))
    # What the terminal prints (conftest runs `python <script> --steps 3`): the same first lines,
    # and the same on stderr up to what is measured there (step 9's times).
    terminal = runs_from_another_folder[script_name]
    assert out.splitlines()[:3] == terminal.stdout.splitlines()
    def measured_as_hash(text):
        return re.sub(r"\d+(\.\d+)?", "#", our_lines(text))
    assert measured_as_hash(err) == measured_as_hash(terminal.stderr)
    # And the losses are this step's own, computed here in float32 (rounding may differ).
    expected = default_losses(script_name, 0)
    assert losses[0][1] == pytest.approx(expected[0], rel=1e-5)
    assert losses[-1][1] < losses[0][1] / 100


def test_percent_run_in_a_kernel_takes_the_users_arguments(kernel_runs):
    result, notebook = kernel_runs[("%run", REFERENCE)]
    assert result.returncode == 0, result.stderr
    assert [t for t, _ in step_losses(streams(notebook, "stdout"))] == [0, 1]
