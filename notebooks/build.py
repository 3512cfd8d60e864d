"""Build notebooks/<step>.ipynb for every step of the ladder, from the step's script and its
section of README.md. The notebooks are never edited by hand: edit the script or the README,
then run this again. They are written without outputs.

A notebook is a lesson to explore in, not the script: it holds the script's lesson (the code
above its command-line marker), cut into cells at each top-level definition, with the README's
explanation beside the code it explains: the text before each excerpt the README quotes from
the script goes, as a markdown cell, above the cell that holds the excerpt (the excerpt itself
is not repeated). The module docstring, the imports only the command line uses, and the command
line itself are left out. At the end, a cell trains the net with the defaults, on the CPU (a
"Try this" item of step 2 says how to use a GPU), and draws the loss inline (if matplotlib is
installed), and a "Try this" cell suggests what to change.

Run (from anywhere; needs nbformat, which requirements-dev.txt installs):
    python notebooks/build.py            # write the notebooks
    python notebooks/build.py --check    # exit 1, naming them, if any notebook is stale
"""
import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
# The line every step has between its lesson and its command line.
MARK = "# --- The command line. The lesson is above: a first reading can stop here. ---"
BLOCK = re.compile(r"(?:<!-- from (\S+) -->\n)?```(\w*)\n(.*?)```\n?", re.S)

# How the last cell gets the data and trains, per step (the defaults otherwise: seed 0, 500
# training steps, the step's own learning rate, on the CPU), printing a loss line every 50
# training steps.
DATA = 'make_data(seed=0, dtype=torch.float32, device="cpu")'
TRAIN = {
    "two_layer_net_numpy": "x, y, w1, w2 = make_data(seed=0, dtype=np.float64)\n"
                           "losses = train(x, y, w1, w2, print_every=50)",
    "two_layer_net_own_autograd": "x, y, w1, w2 = make_data(seed=0, dtype=np.float64)\n"
                                  "losses = train(x, y, w1, w2, print_every=50)",
    "dynamic_net": f"x, y, w1, w2, w_middle = {DATA}\n"
                   "losses = train(x, y, w1, w2, w_middle, print_every=50)",
    "two_layer_net_ddp": 'start_process_group("gloo", from_launcher=None)    # a world of one\n'
                         "try:\n"
                         f"    x, y, w1, w2 = {DATA}\n"
                         "    losses = train(x, y, w1, w2, print_every=50)\n"
                         "finally:\n"
                         "    stop_process_group()",
}
DEFAULT_TRAIN = f"x, y, w1, w2 = {DATA}\nlosses = train(x, y, w1, w2, print_every=50)"
DRAW = """
try:
    import matplotlib.pyplot as plt
except ImportError:
    print("pip install matplotlib to see the loss drawn")
else:
    plt.semilogy(losses)
    plt.xlabel("training step")
    plt.ylabel("loss (log scale)")
    plt.show()"""

# What to change and run again, per step. Questions, not claims: the learner finds out.
TRY = {
    "two_layer_net_numpy": [
        "Train with `learning_rate=2e-6`, then `3e-6`, in the last cell: does a larger rate "
        "train faster?",
        "In `backward`, change `2.0 *` to `1.0 *` and train again: what changes, and why?"],
    "two_layer_net_tensor": [
        "Train on a GPU if you have one: `device=\"cuda\"` in `make_data`.",
        "Train in float64 (`dtype=torch.float64`): where does the loss end now?"],
    "two_layer_net_autograd": [
        "Print the graph of a forward pass, `show_graph(compute_loss(forward(x, w1, w2), y), "
        "x=x, w1=w1, w2=w2)`; then write `torch.relu(h)` for `h.clamp(min=0)` in `forward` "
        "and print it again: which node changed?",
        "Compute a loss, call `loss.backward()` twice on it: what does the second call say?",
        "Delete `w1.grad = None` and `w2.grad = None` from `train` and train again: why does "
        "the loss behave differently?"],
    "two_layer_net_own_autograd": [
        "Print the graph: `x_value, y_value, w1_value, w2_value = as_values(x, y, w1, w2)`, "
        "then `show_graph(compute_loss(forward(x_value, w1_value, w2_value), y_value), x=x, "
        "w1=w1, w2=w2)`. Now call `backward` twice on that loss: what happens to "
        "`w1_value.grad`, and what does torch do instead (`python autograd_rules.py "
        "the_graph_is_freed`)?",
        "Add an operation, `tanh`, with its backward (the derivative of tanh is 1 - tanh**2), "
        "use it for `relu` in `forward`, and train: does the loss still fall?"],
    "two_layer_net_custom_function": [
        "Make `MyReLU` a leaky ReLU (slope 0.01 below 0) in both `forward` and `backward`, "
        "and check it with `check_my_relu()`; then break its `backward` and check again."],
    "two_layer_net_nn": [
        "Delete the two lines that set `model[0].weight` and `model[2].weight`, so that "
        "nn.Linear keeps its own initialisation, and train with learning rates 1e-6 and 1e-4."],
    "two_layer_net_optim": [
        "Train with `optimizer_name=\"adam\"` (which takes its own learning rate, 1e-3) and "
        "compare the curves."],
    "two_layer_net_module": [
        "Give `TwoLayerNet` a bias (`bias=True` in both layers) and train it."],
    "dynamic_net": [
        "Train with the middle layer always used 3 times (change `depth_rng.randint(0, 3)`): "
        "does the loss still jump from one training step to the next?"],
    "two_layer_net_compile": [
        "Run `train(x, y, w1, w2, steps=1, backend=graph_printer())` to print the captured "
        "graphs; then change `forward` (say `torch.relu(h)` for `h.clamp(min=0)`) and look "
        "again."],
    "two_layer_net_ddp": [
        "In a terminal, run `torchrun --standalone --nproc_per_node 2 two_layer_net_ddp.py` "
        "and compare its losses with this notebook's."],
}


def ladder(readme):
    """The scripts of the README's ladder table, in order: row n is step n."""
    return re.findall(r"^\| \d+ \| \[`(\w+)\.py`\]", readme, re.M)


def exercises(readme, name):
    """The README ladder's link to the exercises of the step `name`, as a "Try this" item, or
    None: the exercises page, one folder up from notebooks/."""
    found = re.search(rf"^\| \d+ \| \[`{name}\.py`\].*\| \[([\d., ]+)\]\((docs/exercises\.md#"
                      r"[^)]+)\) \|$", readme, re.M)
    if not found:
        return None
    return (f"Exercises [{found[1]}](../{found[2]}), each with the command that checks your "
            "answer, and its worked solution under `solutions/`.")


def readme_section(readme, step):
    """The README's "## Step <step>: ..." section: its title, and its text after the heading."""
    found = re.search(rf"^## (Step {step}:[^\n]*)\n(.*?)(?=^## )", readme, re.M | re.S)
    if not found:
        raise SystemExit(f"build.py: README.md has no section '## Step {step}:'")
    return found[1], found[2]


def lesson(script):
    """The script above its command-line marker, without the module docstring and without the
    imports that only the command line uses."""
    if MARK not in script:
        raise SystemExit(f"build.py: a script has no line {MARK!r}")
    text = script[:script.index(MARK)].rstrip("\n")
    tree = ast.parse(text)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    lines = text.split("\n")
    dropped = set(range(tree.body[0].lineno - 1, tree.body[0].end_lineno))   # the docstring
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
                (alias.asname or alias.name.split(".")[0]) in used for alias in node.names):
            dropped |= set(range(node.lineno - 1, node.end_lineno))
    kept = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
    return re.sub(r"\n{3,}", "\n\n", kept).strip("\n") + "\n"


def code_cells(code):
    """The code cut at each blank line before a top-level statement but an import (with the
    comment lines right above it); joined by blank lines, the pieces are the code."""
    lines = code.rstrip("\n").split("\n")
    cuts = []
    body = ast.parse(code).body
    for before, node in zip(body, body[1:]):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and isinstance(
                before, (ast.Import, ast.ImportFrom)):
            continue                                  # the imports stay in one cell
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].startswith("#"):
            first -= 1
        if first > 0 and lines[first - 1] == "":
            cuts.append(first)
    pieces = ["\n".join(lines[start:end - 1 if end < len(lines) else end])
              for start, end in zip([0] + cuts, cuts + [len(lines)])]
    assert "\n\n".join(pieces) + "\n" == code
    return pieces


def explained(section, name, cells):
    """{cell index: the README's text to show above it}, and the text left for the end: each
    run of text goes above the first cell, after the last one placed, that holds the first
    line of the excerpt the text leads to."""
    above, text, last = {}, "", -1
    for part in split_blocks(section):
        if isinstance(part, str):
            text += part
            continue
        source, lang, body = part
        if source != f"{name}.py" or lang != "python":
            text += f"```{lang}\n{body}```\n"
            continue
        first = next(line.strip() for line in body.splitlines()
                     if line.strip() and not line.strip().startswith("#"))
        found = [i for i, cell in enumerate(cells) if i > last and first in cell]
        if found and text.strip():
            above[found[0]] = text.strip()
            text, last = "", found[0]
    return above, text.strip()


def relinked(text):
    """The README's text with its relative links made relative to notebooks/, one folder down:
    `docs/ddp.md` becomes `../docs/ddp.md`, and `#quick-start` `../README.md#quick-start`."""
    text = re.sub(r"\]\((#[^)]*)\)", r"](../README.md\1)", text)
    return re.sub(r"\]\((?!\w+://|\.\./|#)([^)]+)\)", r"](../\1)", text)


def split_blocks(section):
    """The section as text (str) and fenced blocks ((source, language, body)), in order."""
    parts, position = [], 0
    for match in BLOCK.finditer(section):
        parts.append(section[position:match.start()])
        parts.append((match[1], match[2], match[3]))
        position = match.end()
    parts.append(section[position:])
    return parts


def build(name, step, readme):
    """The notebook of step `step`, whose script is `name`.py, as the text of an .ipynb file."""
    title, section = readme_section(readme, step)
    pieces = code_cells(lesson((ROOT / f"{name}.py").read_text(encoding="utf-8")))
    above, rest = explained(section, name, pieces)
    note = (f"*Built by `notebooks/build.py` from the lesson of [`{name}.py`](../{name}.py) "
            "and its section of the README. Run the cells in order; the last code cell trains "
            "the net and draws its loss. The `sh` blocks are commands for a terminal, in the "
            "repository's folder (the one above `notebooks/`).*")
    cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{note}")]
    for index, piece in enumerate(pieces):
        if index in above:
            cells.append(nbformat.v4.new_markdown_cell(relinked(above[index])))
        cells.append(nbformat.v4.new_code_cell(piece))
    if rest:
        cells.append(nbformat.v4.new_markdown_cell(relinked(rest)))
    cells.append(nbformat.v4.new_code_cell(TRAIN.get(name, DEFAULT_TRAIN) + "\n" + DRAW))
    tries = TRY[name] + [item for item in [exercises(readme, name)] if item]
    cells.append(nbformat.v4.new_markdown_cell(
        "## Try this\n\n" + "\n".join(f"- {item}" for item in tries)))
    for number, cell in enumerate(cells):
        cell["id"] = f"{name.replace('_', '-')}-{number}"    # fixed ids: a rebuild is identical
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    return nbformat.writes(notebook) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook differs from a fresh build")
    parser.add_argument("--folder", type=Path, default=FOLDER,
                        help="where the notebooks are (default: notebooks/ of the repository)")
    args = parser.parse_args(argv)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = []
    scripts = ladder(readme)
    for step, name in enumerate(scripts, start=1):
        path = args.folder / f"{name}.ipynb"
        text = build(name, step, readme)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"{parser.prog}: stale: {', '.join(stale)}; run python notebooks/build.py",
              file=sys.stderr)
        return 1
    if not args.check:
        print(f"wrote {len(stale)} of {len(scripts)} notebooks" if stale else "all up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
