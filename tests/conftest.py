"""Fixtures that parametrise a test over the steps of the ladder, and the scripts' own runs."""
import concurrent.futures
import gc
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# One thread for every library, in this process and in every process the tests start
# (torchrun's workers and the tools' launches too): on a machine of few cores, more threads only
# fight over them. Inductor compiles in this process too, rather than in a pool of worker
# processes that each import torch. Set before torch is imported, which reads them. No test
# depends on it: each compares runs made with the same setting, or allows for rounding.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TORCHINDUCTOR_COMPILE_THREADS": "1"}
os.environ.update(ONE_THREAD)

# Some tests press Ctrl-C (SIGINT) on a real run. A shell that starts pytest in the background
# without job control (`python -m pytest &` in a script) makes it ignore SIGINT, and every
# process it starts would inherit that and train on for a minute, until the test gives up. Give
# them SIGINT's usual action back: a handler, unlike "ignore", does not pass on to a new program.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402 (after the environment above)
from ladder import (  # noqa: E402
    COMPILE,
    DISTINCT_COMMAND_LINES,
    REFERENCE,
    ROOT,
    SCRIPTS,
    STEPS,
    TORCH_SCRIPTS,
    TORCH_STEPS,
    load,
)

# Runs of the scripts as real processes, from an empty folder. Each spends two to four seconds
# importing torch, so they start as soon as the tests are collected and run beside them.
IMPORT_ALL = ("import sys; sys.path.insert(0, sys.argv[1]); import two_layer_net_numpy; "
              "import two_layer_net_own_autograd; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')); "
              + "; ".join(f"import {name}" for name in SCRIPTS))
_started = {}
_interactive_runs = {}
_torchrun_runs = {}
_torchrun_aliases = {}


# Runs in a real Jupyter kernel, also started at collection: each step's committed notebook,
# then the script pasted whole into one cell, each after `%reset -f`, which empties the
# namespace (so every part must import and define everything itself); and, after the
# reference step, a `%run script --steps 2` (the user's arguments). The parts share one
# kernel, not one each: a kernel costs seconds of CPU to start and to import torch (and
# torch._dynamo, inductor, ...), and the suite is bound by this machine's two cores. Errors do
# not stop a kernel (allow_errors): each part's test finds its own in its cells' outputs.
RESET = "%reset -f"
# A fresh kernel has nothing compiled either: before each reset, forget what torch.compile
# captured (as step 10's train() does), while the names it put in the namespace are still
# there. (Torch's clean-up of a captured function deletes a name of its own from the
# function's globals; after %reset -f it is gone, and torch prints "Exception ignored ...
# KeyError: '__builtins_dict___0'", seen on torch 2.13.)
# Then freeze what exists: %reset -f collects garbage twice over every object in the kernel,
# torch's and inductor's hundreds of thousands too, about 0.3 s each time (0.5 to 0.6 s a reset
# on this machine, 10 s of a kernel's 18). gc.freeze() moves them out of the collector's sight
# (frozen objects are never collected, which a kernel that lives for one test run can afford);
# the reset then takes a millisecond, and empties the namespace just the same.
FORGET_COMPILED = ("import gc, sys\n"
                   "if 'torch' in sys.modules:\n"
                   "    sys.modules['torch'].compiler.reset()\n"
                   "gc.freeze()")
# Step 10 first: inductor compiles its graphs there while the other runs import torch, and the
# later ones (in this process and the others) find them in inductor's cache.
KERNELS = [[COMPILE] + [name for name in SCRIPTS if name != COMPILE]]
_kernel_runs = {}
_kernels = {}           # kernel number -> (the parts' keys, in order; the executed notebook)


# Two at a time, one thread each: on a machine of few cores, more would only fight for them
# (and torch's idle threads spin, burning the cores the other runs need). Every process the
# tests start gets one thread too (see ONE_THREAD), and the terminal runs get the setting the
# kernels get, so that a kernel and a terminal print the same digits.
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)


def start(key, command, folder, store, pool=_pool):
    store[key] = pool.submit(subprocess.run, command, cwd=folder, capture_output=True,
                             text=True, timeout=300)


def start_kernel_runs():
    import nbformat  # a test tool of requirements-dev.txt, as nbclient

    def cell(source):
        return nbformat.v4.new_code_cell(source)

    folder = Path(tempfile.mkdtemp(prefix="kernel-"))
    for number, names in enumerate(KERNELS):
        cells, parts = [], []
        for name in names:
            parts.append(("notebook", name))
            cells += nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
            if name in DISTINCT_COMMAND_LINES:
                parts.append(("pasted", name))
                cells += [cell(FORGET_COMPILED), cell(RESET),
                          cell((ROOT / f"{name}.py").read_text(encoding="utf-8"))]
            if name == REFERENCE:
                parts.append(("%run", name))
                cells += [cell(FORGET_COMPILED), cell(RESET),
                          cell(f"%run {ROOT / name}.py --steps 2")]
            cells += [cell(FORGET_COMPILED), cell(RESET)]
        source, target = folder / f"kernel-{number}.ipynb", folder / f"executed-{number}.ipynb"
        _kernels[number] = parts, target
        nbformat.write(nbformat.v4.new_notebook(cells=cells), source)
        start(number, [sys.executable, str(ROOT / "tests" / "execute_notebook.py"),
                       "--allow-errors", str(source), str(target)], folder, _kernel_runs)


def start_torchrun_runs():
    """Step 11 launched by torchrun: float64 training with 2 processes (3 are launched with
    the interactive runs, 1 is tested in test_ddp.py without a launch), a diverging run, a bad
    option, and the README's torchrun commands:
    its one-machine command is the float64 run with 2 processes, its two-machine pair runs on
    loopback, both at once, with a free port and --steps 3."""
    import socket

    from test_ddp import launcher, torchrun_command
    from test_readme import shown_commands

    folder = tempfile.mkdtemp(prefix="torchrun-")
    runs = {("float64", 2): torchrun_command(2, "--dtype", "float64")}
    runs["--lr 1"] = torchrun_command(2, "--lr", "1")
    runs["--steps 0"] = torchrun_command(2, "--steps", "0")
    pair = {}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for command in shown_commands():
        words = command.split()
        if words[0] != "torchrun":
            continue
        options = [re.sub(r"^\d+\.\d+\.\d+\.\d+:\d+$", f"127.0.0.1:{port}", word)
                   for word in words[1:-1]]
        if "--nnodes" in words:                      # the two-machine form, on loopback
            pair[("README", command)] = launcher() + options + [str(ROOT / words[-1]),
                                                                "--steps", "3"]
            continue
        # The one-machine form is the float64 run's launch, without --dtype float64.
        launch = launcher() + options + [str(ROOT / words[-1]), "--dtype", "float64"]
        assert launch in runs.values(), f"no launch runs the README's {command!r}"
        _torchrun_aliases[("README", command)] = next(
            key for key, value in runs.items() if value == launch)
    for key, command in runs.items():
        start(key, command, folder, _torchrun_runs)
    together = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(pair)))
    for key, command in pair.items():
        start(key, command, folder, _torchrun_runs, together)


def start_interactive_runs():
    """The runs that a test interrupts (Ctrl-C, a killed process, a closed pipe), each by a
    function of its test module that returns what happened, for the test to check."""
    from test_cli import CTRL_C_STEPS, closed_after_one_line, interrupted_once_training
    from test_compile import interrupted_while_inductor_compiles
    from test_ddp import a_pair_with_rank_1_killed, three_processes_interrupted

    folder = tempfile.mkdtemp(prefix="interactive-")
    calls = {"three processes, Ctrl-C": (three_processes_interrupted, folder),   # longest first
             "a closed pipe": (closed_after_one_line, folder)}
    if sys.platform != "win32":                       # SIGINT to a child: not on Windows
        calls.update({("Ctrl-C", name): (interrupted_once_training, name, folder)
                      for name in CTRL_C_STEPS})
    if sys.platform.startswith("linux"):               # finding a process in /proc
        calls["a pair, rank 1 killed"] = (a_pair_with_rank_1_killed, folder)
        if load(COMPILE).cxx_compiler():              # inductor compiles C++ on the CPU
            calls["Ctrl-C while inductor compiles"] = (interrupted_while_inductor_compiles,
                                                       tempfile.mkdtemp(prefix="inductor-"))
    for key, (function, *args) in calls.items():
        _interactive_runs[key] = _pool.submit(function, *args)


# The fixtures of the runs started at collection.
BACKGROUND = ("kernel_runs", "torchrun_runs", "interactive_runs", "runs_from_another_folder")


def pytest_collection_finish(session):
    """Start the background runs that the selected tests read, then set aside what collection
    imported: for the tests that -k and -m leave, and not where no test will run
    (--collect-only, --setup-plan, --fixtures)."""
    option = session.config.option
    if any(getattr(option, name, False) for name in ("collectonly", "setupplan", "showfixtures",
                                                      "show_fixtures_per_test")):
        return
    used = {name for item in session.items for name in item.fixturenames}
    # The longest runs first (a kernel takes longest), so that the two workers end together.
    if "kernel_runs" in used:
        start_kernel_runs()
    if "torchrun_runs" in used:
        start_torchrun_runs()
    if "interactive_runs" in used:
        start_interactive_runs()
    if "runs_from_another_folder" in used:
        folder = tempfile.mkdtemp(prefix="elsewhere-")
        commands = {name: [sys.executable, str(ROOT / f"{name}.py"), "--steps", "3"]
                    for name in DISTINCT_COMMAND_LINES}
        commands["import all"] = [sys.executable, "-c", IMPORT_ALL, str(ROOT)]
        for name, command in commands.items():
            start(name, command, folder, _started)
    # What collection imported (torch, numpy, the tests' modules: hundreds of thousands of
    # objects) is out of the collector's sight from here on, once its garbage is gone: each full
    # collection, the tests' own gc.collect() calls among them, would walk it all again (0.2 to
    # 0.4 s each on this machine, and a run makes about 25). So are the big modules that the
    # selected tests would import later (step 10's torch.compile, the plot's matplotlib),
    # imported now. What the tests make is collected as before.
    modules = {item.module.__name__ for item in session.items}
    if modules & {"test_compile", "test_tools"}:
        import torch._dynamo  # noqa: F401
        import torch._inductor.compile_fx  # noqa: F401
    if "test_tools" in modules and importlib.util.find_spec("matplotlib"):
        import matplotlib.pyplot  # noqa: F401
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(session, config, items):
    # The tests that read the background runs go last (a stable sort: each group keeps its
    # order), so that the tests made in this process use the time the runs take, rather than
    # wait for them.
    items.sort(key=lambda item: any(name in item.fixturenames for name in BACKGROUND))


def pytest_unconfigure(config):
    # Give the frozen objects back to the collector before Python exits, so that they are freed
    # as usual. Left frozen, they outlive the interpreter, and triton 3.9 (with torch 2.15)
    # then prints "nanobind: leaked 4 instances! ..." and some 40 lines more after the summary.
    gc.unfreeze()


@pytest.fixture(autouse=True)
def keep_subnormal_numbers():
    """After each test, keep numbers below the smallest normal one again, as a fresh process
    does: at torch 2.4 a kernel that inductor compiled on the CPU (with -ffast-math, by gcc 12)
    turns on flush-to-zero in the thread that loads it, this one, and the tests after it would
    run with it."""
    yield
    sys.modules["torch"].set_flush_denormal(False)


def finished(started):
    return {key: future.result() for key, future in started.items()}


@pytest.fixture(scope="session")
def runs_from_another_folder():
    """name -> CompletedProcess of `python <script> --steps 3`, and "import all" -> the run
    that imports every script and prints which torch modules the numpy step loaded."""
    return finished(_started)


@pytest.fixture(scope="session")
def torchrun_runs():
    """key -> CompletedProcess of a torchrun launch of step 11 (see start_torchrun_runs)."""
    runs = finished(_torchrun_runs)
    return {**runs, **{alias: runs[key] for alias, key in _torchrun_aliases.items()}}


@pytest.fixture(scope="session")
def interactive_runs():
    """key -> what the function that made the run returned (see start_interactive_runs)."""
    return finished(_interactive_runs)


@pytest.fixture(scope="session")
def kernel_runs():
    """(kind, name) -> (CompletedProcess of tests/execute_notebook.py, the part's executed
    cells as a notebook, or None): kind "notebook" (the step's notebook), "pasted" (the script
    pasted into one cell) and "%run" (see start_kernel_runs)."""
    import nbformat

    runs = {}
    for number, result in finished(_kernel_runs).items():
        keys, target = _kernels[number]
        executed = nbformat.read(target, as_version=4) if target.exists() else None
        parts = [None] * len(keys)
        if executed is not None:                  # the cells between the resets
            cells, parts = executed.cells, []
            resets = [i for i, cell in enumerate(cells) if cell.source == RESET]
            for start_, stop in zip([-1] + resets, resets):
                part = executed.copy()
                part.cells = cells[start_ + 1:stop]
                parts.append(part)
        runs.update({key: (result, part) for key, part in zip(keys, parts)})
    return runs


@pytest.fixture(params=list(STEPS))
def step_name(request):
    """Each step that trains the two-layer net (steps 1 to 8)."""
    return request.param


@pytest.fixture(params=TORCH_STEPS)
def torch_step_name(request):
    """Each of those that uses torch (steps 2, 3 and 5 to 8)."""
    return request.param


@pytest.fixture(params=SCRIPTS)
def script_name(request):
    """Each script of the ladder, dynamic_net included."""
    return request.param


@pytest.fixture(params=TORCH_SCRIPTS)
def torch_script_name(request):
    return request.param
