"""Build notebooks/<step>.ipynb for every step of the ladder, from the step's script and its
section of README.md. The notebooks are never edited by hand: edit the script or the README,
then run this again. They are written without outputs.

Each notebook is the README's section for the step (one markdown cell), then the script itself,
cut into cells at the blank line before each top-level definition, comment or statement, so that
the cells joined by blank lines are the script, line for line. Its last cell runs main(), as the
script does.

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


def ladder(readme):
    """The scripts of the README's ladder table, in order: row n is step n."""
    return re.findall(r"^\| \d+ \| \[`(\w+)\.py`\]", readme, re.M)


def readme_section(readme, step):
    """The text of the README's "## Step <step>: ..." section, its heading made the title."""
    found = re.search(rf"^## (Step {step}:.*?)(?=^## )", readme, re.M | re.S)
    if not found:
        raise SystemExit(f"build.py: README.md has no section '## Step {step}:'")
    return "# " + found[1].strip()


def code_cells(script):
    """The script cut at each blank line before a top-level statement (with the comment lines
    right above it); joined by blank lines, the pieces are the script."""
    lines = script.rstrip("\n").split("\n")
    cuts = []
    for node in ast.parse(script).body[1:]:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].startswith("#"):
            first -= 1
        if first > 0 and lines[first - 1] == "":
            cuts.append(first)
    pieces = ["\n".join(lines[start:end - 1 if end < len(lines) else end])
              for start, end in zip([0] + cuts, cuts + [len(lines)])]
    assert "\n\n".join(pieces) + "\n" == script
    return pieces


def build(name, step, readme):
    """The notebook of step `step`, whose script is `name`.py, as the text of an .ipynb file."""
    script = (ROOT / f"{name}.py").read_text(encoding="utf-8")
    note = (f"*Built by `notebooks/build.py` from [`{name}.py`](../{name}.py) and its section "
            "of the README. Run the cells in order; the last one trains the net.*")
    cells = [nbformat.v4.new_markdown_cell(readme_section(readme, step) + "\n\n" + note)]
    cells += [nbformat.v4.new_code_cell(piece) for piece in code_cells(script)]
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
