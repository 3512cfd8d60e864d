"""Where learners run the steps in Jupyter, VS Code or Colab: real kernels, real notebooks.

- notebooks/ is what notebooks/build.py makes from the scripts and README.md, so it cannot go
  stale; a notebook is the step's lesson, with no command-line code, and a cell that trains;
- every notebook runs in a real Jupyter kernel (nbclient and ipykernel) with no error, trains
  and draws its loss; every script pasted whole into one cell prints what it prints in a
  terminal;
- `%run script.py --steps 2` in a kernel still takes the user's arguments.
The kernels start when the tests are collected (conftest.py) and run beside the other tests.
"""
import re
import shutil
import subprocess
import sys

import pytest
from ladder import (
    DISTINCT_COMMAND_LINES,
    REFERENCE,
    ROOT,
    SCRIPTS,
    default_losses,
    our_lines,
    step_losses,
)

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


def test_the_notebook_cells_are_the_lesson_and_no_command_line():
    """The code cells, but the last (which trains), are the script's lesson line for line: the
    code above its command-line marker, less the module docstring and the imports that only
    the command line uses. No cell holds command-line code."""
    import nbformat

    sys.path.insert(0, str(BUILD.parent))
    import build

    for name in SCRIPTS:
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        script = (ROOT / f"{name}.py").read_text(encoding="utf-8")
        lesson = script[:script.index(build.MARK)]
        assert "\n\n".join(code[:-1]) + "\n" == build.lesson(script), name
        for definition in re.findall(r"^(?:def|class) (\w+)", lesson, re.M):
            assert any(f" {definition}(" in cell for cell in code), (name, definition)
        for command_line in ["argparse", "def main", "parse_args", "sys.argv", "__main__",
                             "build_parser", "# --- The command line"]:
            assert not any(command_line in cell for cell in code), (name, command_line)
        assert "train(" in code[-1] and "plt.show()" in code[-1], name
        assert notebook.cells[-1].source.startswith("## Try this"), name
        assert all(not cell.get("outputs") for cell in notebook.cells), f"{name}: outputs"


def test_steps_1_to_5_end_with_their_exercises():
    """Their "Try this" cell links the step's section of docs/exercises.md, one folder up."""
    import nbformat
    from test_readme import github_anchor

    headings = re.findall(r"^## (.*)$", (ROOT / "docs" / "exercises.md").read_text(
        encoding="utf-8"), re.M)
    for step, name in enumerate(SCRIPTS, start=1):
        last = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells[-1].source
        links = re.findall(r"\]\(\.\./docs/exercises\.md#([^)]+)\)", last)
        if step <= 5:
            assert links == [github_anchor(headings[step - 1])], (name, links)
            assert headings[step - 1].startswith(f"Step {step}:")
        else:
            assert links == [], name


def test_every_link_in_a_notebook_finds_its_file_and_heading():
    """A notebook's text comes from README.md, one folder up: its links must still arrive, from
    notebooks/ (a link copied as it was, `docs/ddp.md`, points at notebooks/docs/ddp.md)."""
    import nbformat
    from test_readme import local_links, unfound

    checked = 0
    for name in SCRIPTS:
        notebook = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
        for target in local_links(text):
            assert unfound(target, ROOT / "notebooks") is None, (name, target)
            checked += 1
    assert checked > len(SCRIPTS), checked     # each links its script, and some link more


def outputs(notebook):
    """Every output of the notebook's code cells, in order."""
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs]


def streams(notebook, name):
    return "".join(output.text for output in outputs(notebook)
                   if output.output_type == "stream" and output.name == name)


def test_a_notebook_trains_and_draws_its_loss_in_a_jupyter_kernel(script_name, kernel_runs):
    """The step's notebook, run cell by cell in a real kernel: no error, a loss line every 50
    training steps, the step's own losses (its first computed here, in float32, within 1e-5:
    the kernel rounds as this process does, up to its thread count), falling, and a figure."""
    result, notebook = kernel_runs[("notebook", script_name)]
    assert result.returncode == 0, result.stderr
    errors = [output for output in outputs(notebook) if output.output_type == "error"]
    assert not errors, errors
    losses = step_losses(streams(notebook, "stdout"))
    assert [t for t, _ in losses] == list(range(0, 500, 50))
    expected = default_losses(script_name, 0)
    assert losses[0][1] == pytest.approx(expected[0], rel=1e-5)
    assert losses[-1][1] < losses[0][1] / 100
    figures = [output for output in outputs(notebook) if "image/png" in output.get("data", {})]
    assert len(figures) == 1


@pytest.mark.parametrize("script_name", DISTINCT_COMMAND_LINES)
def test_a_script_pasted_into_a_cell_runs_as_in_a_terminal(script_name, kernel_runs,
                                                           runs_from_another_folder):
    """The whole script pasted into one cell: main() with the defaults (a cell's sys.argv is
    the kernel's), printing what the terminal prints. (One script per distinct command line:
    see DISTINCT_COMMAND_LINES.)"""
    result, notebook = kernel_runs[("pasted", script_name)]
    assert result.returncode == 0, result.stderr
    errors = [output for output in outputs(notebook) if output.output_type == "error"]
    assert not errors, errors
    out, err = streams(notebook, "stdout"), streams(notebook, "stderr")
    losses = step_losses(out)
    assert [t for t, _ in losses] == list(range(500))
    # What the terminal prints (conftest runs `python <script> --steps 3`): the same first lines,
    # and the same on stderr up to what is measured there (step 10's times).
    terminal = runs_from_another_folder[script_name]
    assert out.splitlines()[:3] == terminal.stdout.splitlines()
    def measured_as_hash(text):
        return re.sub(r"\d+(\.\d+)?", "#", our_lines(text))
    assert measured_as_hash(err) == measured_as_hash(terminal.stderr)
    expected = default_losses(script_name, 0)
    assert losses[0][1] == pytest.approx(expected[0], rel=1e-5)
    assert losses[-1][1] < losses[0][1] / 100


def test_percent_run_in_a_kernel_takes_the_users_arguments(kernel_runs):
    result, notebook = kernel_runs[("%run", REFERENCE)]
    assert result.returncode == 0, result.stderr
    assert [t for t, _ in step_losses(streams(notebook, "stdout"))] == [0, 1]
