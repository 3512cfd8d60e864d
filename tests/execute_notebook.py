"""Execute a notebook in a real Jupyter kernel (nbclient + ipykernel), as Jupyter would.

    python tests/execute_notebook.py [--allow-errors] IN.ipynb OUT.ipynb

Writes the executed notebook, outputs included, to OUT. Exit status 1, with the error's last
line, when a cell raises (SystemExit included: a notebook shows it as an error); with
--allow-errors the kernel goes on to the next cell, and the error is in the cell's outputs.
"""
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(*args):
    allow_errors = args[0] == "--allow-errors"
    source, target = args[allow_errors:]
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            allow_errors=allow_errors,
                            resources={"metadata": {"path": str(Path(target).parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        nbformat.write(notebook, target)
        print(str(error).strip().splitlines()[-1], file=sys.stderr)
        return 1
    nbformat.write(notebook, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
