"""Fixtures that parametrise a test over the steps of the ladder, and the scripts' own runs."""
import subprocess
import sys
import tempfile

import pytest
import torch
from ladder import ROOT, SCRIPTS, STEPS, TORCH_SCRIPTS, TORCH_STEPS

# The tests' matrices are small, and script runs go on beside them (below): one thread each
# is faster here than several fighting over a few cores. No test depends on it: each compares
# runs made with the same setting, or allows for rounding.
torch.set_num_threads(1)

# Runs of the scripts as real processes, from an empty folder. Each spends two to four seconds
# importing torch, so they start as soon as the tests are collected and run beside them.
IMPORT_ALL = ("import sys; sys.path.insert(0, sys.argv[1]); import two_layer_net_numpy; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')); "
              + "; ".join(f"import {name}" for name in SCRIPTS))
_started = {}


def pytest_collection_modifyitems(session, config, items):
    if not any("runs_from_another_folder" in item.fixturenames for item in items):
        return
    folder = tempfile.mkdtemp(prefix="elsewhere-")
    commands = {name: [sys.executable, str(ROOT / f"{name}.py"), "--steps", "3"]
                for name in SCRIPTS}
    commands["import all"] = [sys.executable, "-c", IMPORT_ALL, str(ROOT)]
    for name, command in commands.items():
        _started[name] = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="session")
def runs_from_another_folder():
    """name -> CompletedProcess of `python <script> --steps 3`, and "import all" -> the run
    that imports every script and prints which torch modules the numpy step loaded."""
    results = {}
    for name, process in _started.items():
        out, err = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return results


@pytest.fixture(params=list(STEPS))
def step_name(request):
    """Each step that trains the two-layer net (steps 1 to 7)."""
    return request.param


@pytest.fixture(params=TORCH_STEPS)
def torch_step_name(request):
    """Each of those that uses torch (steps 2 to 7)."""
    return request.param


@pytest.fixture(params=SCRIPTS)
def script_name(request):
    """Each script of the ladder, dynamic_net included."""
    return request.param


@pytest.fixture(params=TORCH_SCRIPTS)
def torch_script_name(request):
    return request.param
