"""Step 10, torch.compile: the captured graphs compute what step 3 computes (its gradients, and
the ReLU's at 0, are checked with the other steps in test_gradients.py), --show-graph prints
the operations the README names, a dynamic net records one graph per depth, and a missing or
failing C++ compiler or Ctrl-C during compilation end with one line. Capture-only checks use
aot_eager (fast); inductor, which compiles C++ on the CPU, is checked where a compiler is found."""
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from ladder import (
    CLAMP_GRAD_AT_ZERO,
    COMPILE,
    REFERENCE,
    ROOT,
    as_float64,
    default_losses,
    failing_cpp_compiler,
    inputs_for,
    load,
    processes,
    random_problem,
    run_main,
    step_losses,
    without_a_cpp_compiler,
)

needs_a_compiler = pytest.mark.skipif(
    load(COMPILE).cxx_compiler() is None,
    reason="inductor needs a C++ compiler on the CPU, and none was found on PATH")


def test_float64_losses_follow_step_3_for_500_steps():
    """The captured graphs compute step 3's maths: run as captured (aot_eager), they may add in
    another order than eager PyTorch, so the losses may differ in the last digits of float64
    (about 1e-16 relative per operation); over 500 steps of gradient descent from the same
    start that must stay below 1e-9 relative, at every step. (Inductor's own kernels are
    checked in float32 below: a float64 graph would cost its own C++ compilation, seconds of
    the suite's two cores; on CUDA, test_cuda.py checks them in float64.)"""
    problem = random_problem(5, 64, 1000, 100, 10)
    reference = load(REFERENCE).train(*inputs_for(REFERENCE, *problem), print_every=0)
    x, y, w1, w2 = inputs_for(COMPILE, *problem)
    losses = load(COMPILE).train(x, y, w1, w2, print_every=0, backend="aot_eager")
    torch.testing.assert_close(as_float64(losses), as_float64(reference), rtol=1e-9, atol=0)
    assert w1.grad is None and w2.grad is None      # cleared after every update, as in step 3


def test_aot_eager_prints_exactly_step_3s_float32_losses(capsys):
    """aot_eager runs the captured graphs with the very kernels step 3 calls: the same text."""
    compiled = run_main(COMPILE, ["--steps", "30", "--device", "cpu", "--backend", "aot_eager"],
                        capsys)
    eager = run_main(REFERENCE, ["--steps", "30", "--device", "cpu"], capsys)
    assert compiled[0] == 0 and compiled[1] == eager[1]


def readme_graph_lines():
    """The lines of the printed backward graph that docs/compile.md quotes (a ```text block)."""
    text = (ROOT / "docs" / "compile.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- printed by two_layer_net_compile.py --show-graph -->\n```text\n"
                      r"(.*?)```", text, re.S)
    assert block, "docs/compile.md quotes no printed graph"
    return [line.strip() for line in block[1].splitlines() if line.strip()]


def test_show_graph_prints_the_operations_the_readme_names(capsys):
    status, out, err = run_main(COMPILE, ["--show-graph", "--steps", "1", "--device", "cpu"],
                                capsys)
    assert status == 0 and len(step_losses(out)) == 1
    assert err.count("forward graph:") == err.count("backward graph:") == 1   # no graph break
    forward, backward = err.split("forward graph:\n")[1].split("backward graph:\n")
    for operation in ["mm.default", "clamp.default", "sub.Tensor", "pow.Tensor_Scalar",
                      "sum.default"]:
        assert f"torch.ops.aten.{operation}(" in forward, operation
    # The README quotes every operation of the backward graph, in order, each line cut after
    # its operation. The mask's comparison changed with clamp's gradient at 0: gt from torch
    # 2.14, ge before.
    mask = "gt" if CLAMP_GRAD_AT_ZERO == 0.0 else "ge"
    quoted = [re.sub(r"\bgt\b", mask, line) for line in readme_graph_lines()]
    operations = [line.split(";")[0].strip() for line in backward.splitlines()
                  if " = torch.ops.aten." in line]
    assert quoted == operations, backward


def test_main_called_ten_times_prints_its_graphs_ten_times(capsys):
    """As a notebook cell run again and again: each call captures its own graphs (torch.compile
    would otherwise reuse the first call's, and stop capturing after 8 graphs of a function)."""
    for call in range(10):
        status, out, err = run_main(COMPILE, ["--show-graph", "--steps", "1", "--device", "cpu"],
                                    capsys)
        assert status == 0 and len(step_losses(out)) == 1, call
        assert err.count("forward graph:") == err.count("backward graph:") == 1, (call, err)


@needs_a_compiler
def test_inductor_compiles_a_graph_at_every_call_of_main(capsys):
    """A graph captured by TorchDynamo at every call (fullgraph=True: a graph break or a fallback
    to plain Python would raise or capture nothing), not the previous call's replayed."""
    from torch._dynamo.utils import counters

    for call in range(2):
        captured = counters["stats"]["unique_graphs"]
        status, out, err = run_main(COMPILE, ["--steps", "2", "--device", "cpu"], capsys)
        assert status == 0 and len(step_losses(out)) == 2, (call, err)
        assert counters["stats"]["unique_graphs"] == captured + 1, call
        assert "first step (capture, then compile or reuse from the cache)" in err


@pytest.mark.parametrize("backend", ["inductor", "aot_eager"])
def test_show_graph_with_a_backend_is_one_line(backend, capsys):
    """--show-graph runs its own backend, graph_printer(), which splits the graphs as neither
    aot_eager nor inductor does (docs/compile.md): it takes no other."""
    status, out, err = run_main(COMPILE, ["--show-graph", "--backend", backend], capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].endswith("error: --show-graph prints the graphs and runs them "
                                         "itself, with PyTorch's own kernels; leave out "
                                         f"--backend {backend}")


def test_reduce_overhead_needs_cuda_and_inductor(capsys):
    status, _, err = run_main(COMPILE, ["--mode", "reduce-overhead", "--device", "cpu"], capsys)
    assert status == 2
    assert err.splitlines()[-1].endswith("error: --mode reduce-overhead replays CUDA graphs: it "
                                         "needs --device cuda and --backend inductor")


def test_a_dynamic_net_records_one_graph_per_depth(capsys):
    count = load(COMPILE).graphs_of_a_dynamic_net
    assert count([2, 2, 2]) == 1
    assert count([0, 1, 0, 3, 1, 3]) == 3
    # Every call counts afresh: the calls share their inner function's code, and with it what
    # torch.compile captured and its limit of 8 graphs per function (it used to say 4, 4, 0).
    assert [count([0, 1, 2, 3, 1, 2]) for _ in range(3)] == [4, 4, 4]
    status, out, _ = run_main(COMPILE, ["--dynamic", "--steps", "40"], capsys)
    assert status == 0
    assert re.fullmatch(r"40 calls of step 9's dynamic forward pass, depths drawn from 0 to 3: "
                        r"4 graphs recorded, one per depth met \(4\)\n", out), out


def test_counting_graphs_needs_no_cpp_compiler(capsys, monkeypatch):
    """--dynamic counts graphs with a Python backend, so its option check asks for no C++
    compiler (cxx_compiler() finds none: CXX names none), where a training run's does."""
    monkeypatch.setenv("CXX", "no-such-compiler")
    assert load(COMPILE).cxx_compiler() is None
    status, out, err = run_main(COMPILE, ["--dynamic", "--steps", "1"], capsys)
    assert status == 0, err
    assert out.startswith("1 call of step 9's dynamic forward pass, depths drawn from 0 to 3: "
                          "1 graph recorded"), out
    status, _, err = run_main(COMPILE, ["--steps", "1", "--device", "cpu"], capsys)
    assert status == 2 and "needs a C++ compiler" in err, err


def test_without_a_cpp_compiler_inductor_stops_with_one_line(tmp_path, capsys, monkeypatch):
    """No C++ compiler to find: PATH is an empty folder and CXX is unset. The option check says
    so, naming the compiler inductor would call on this system, before any training (argparse's
    exit, as for every bad option)."""
    compiler = without_a_cpp_compiler(tmp_path, monkeypatch)
    status, out, err = run_main(COMPILE, ["--device", "cpu", "--steps", "3"], capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].endswith(
        f": error: --backend inductor needs a C++ compiler on the CPU, and {compiler} is not on "
        "PATH; install one, or use --backend aot_eager")
    assert "Traceback" not in err


@pytest.mark.parametrize("cxx", ["", "  "])
@pytest.mark.parametrize("tool, argv, message", [
    (COMPILE, ["--device", "cpu", "--steps", "3"], "--backend inductor needs a C++ compiler on the "
     "CPU, and CXX is empty; install one, or use --backend aot_eager"),
    ("plot_losses", ["--output", "x.png"], "step 10 compiles C++ on the CPU, and CXX is empty; "
     "install a C++ compiler"),
    ("benchmark", ["--devices", "cpu"], "step 10 compiles C++ on the cpu, and CXX is empty; "
     "install a C++ compiler, or leave out the cpu (--devices)")])
def test_an_empty_cxx_is_named_as_such(cxx, tool, argv, message, tmp_path, capsys, monkeypatch):
    """CXX set to nothing (`CXX= python ...`): torch finds no compiler in it either; step 10 and
    the tools that run it say CXX is empty rather than naming a blank."""
    monkeypatch.setenv("CXX", cxx)
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(tool, argv, capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].endswith(f": error: {message}"), err


def test_the_compiler_looked_for_is_the_one_inductor_calls():
    """Step 10 looks on PATH for the compiler that inductor's own configuration names ($CXX when
    torch was imported, else torch's default for the system). Not on Windows, where inductor
    calls $CXX or cl whatever its configuration says."""
    if sys.platform == "win32":
        pytest.skip("on Windows inductor calls $CXX or cl, not the compiler its config names")
    from torch._inductor import config

    assert load(COMPILE).cxx_compiler_name() == config.cpp.cxx[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="there CXX is one program's name")
def test_a_cxx_of_several_words_is_looked_for_by_its_first(tmp_path, monkeypatch):
    """CXX="ccache g++": the program to find on PATH is ccache (here a wrapper that runs the
    compiler, as ccache does); which torch runs such a CXX: test_readme, docs/versions.md."""
    wrapper = tmp_path / "wrap"
    wrapper.write_text('#!/bin/sh\nexec "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CXX", shlex.join([str(wrapper), "g++", "-O1"]))
    assert load(COMPILE).cxx_compiler() == str(wrapper)
    monkeypatch.setenv("CXX", shlex.join([str(tmp_path / "none"), "g++"]))
    assert load(COMPILE).cxx_compiler() is None
    monkeypatch.setenv("CXX", "'g++")                         # a quote left open: no command
    assert load(COMPILE).cxx_compiler() is None


def test_aot_eager_needs_no_cpp_compiler(tmp_path, capsys, monkeypatch):
    """What the one-line messages suggest works where no compiler is: --backend aot_eager, with
    PATH an empty folder and CXX unset."""
    without_a_cpp_compiler(tmp_path, monkeypatch)
    assert load(COMPILE).cxx_compiler() is None
    status, out, err = run_main(COMPILE, ["--backend", "aot_eager", "--steps", "2", "--device",
                                          "cpu"], capsys)
    assert status == 0 and len(step_losses(out)) == 2, err


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in compiler is a shell script")
def test_a_failing_cpp_compiler_stops_with_one_line_naming_its_error(tmp_path, capsys,
                                                                     monkeypatch):
    """The compiler is found but fails (ladder.failing_cpp_compiler): a last line naming what
    inductor raised (CppCompileError) and the compiler's first error, and status 2. Torch's own
    first line, "backend='inductor' raised:", names nothing."""
    with failing_cpp_compiler(tmp_path, monkeypatch):
        status, out, err = run_main(COMPILE, ["--device", "cpu", "--steps", "1"], capsys)
    assert status == 2 and out == "", err
    assert err.splitlines()[-1].endswith(
        ": --backend inductor failed on cpu (CppCompileError: C++ compile error: Python.h: No "
        "such file or directory); try --backend aot_eager"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("output, first_error", [
    ("k.cpp: In function 'void kernel()':\nk.cpp:3:5: error: 'vec' has not been declared\n"
     "k.cpp:4:5: error: a second error", "'vec' has not been declared"),               # g++
    ("k.cpp(1): fatal error C1083: Cannot open include file: 'Python.h': No such file or "
     "directory", "Cannot open include file: 'Python.h': No such file or directory"),  # MSVC
    ("k.cpp:1:2: warning: #warning all is well [-Wcpp]", None)])                      # no error
def test_what_failed_quotes_the_compilers_first_error(output, first_error):
    """A CppCompileError as torch writes it (its message: "C++ compile error", the command, the
    compiler's output): the first error of the output, and nothing from the command, whose
    folder here is named "error: old"."""
    from torch._inductor.exc import CppCompileError

    cause = CppCompileError(["g++", "-I/home/error: old/include", "k.cpp"], output)
    failed = types.SimpleNamespace(inner_exception=cause)   # what_failed reads only this
    assert load(COMPILE).what_failed(failed) == ": ".join(
        ["CppCompileError", "C++ compile error", *[first_error] * (first_error is not None)])


def compiler_running_in(group):
    """Whether a C++ compiler runs in the process group `group` (Linux's /proc)."""
    return any(pgrp == group and name in ("cc1plus", "g++", "c++", "clang++")
               for _, name, _, pgrp in processes())


def interrupted_while_inductor_compiles(folder):
    """`python two_layer_net_compile.py --device cpu` with inductor's cache an empty folder,
    and Ctrl-C to its process group (the C++ compiler too) once the C++ compiler runs: the
    CompletedProcess, or None if no compiler ran within two minutes. (Run in the background
    from conftest.py; the test checks what it returns.)

    Why wait for the compiler: a Ctrl-C that lands earlier, in the middle of an import or of a
    weakref callback, can be lost by Python or leave torch half-imported (seen on torch 2.14,
    about once in 17 tries on a loaded machine); pressing Ctrl-C again then stops the run."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(Path(folder) / "cache"),
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(ROOT / f"{COMPILE}.py"), "--device", "cpu"],
                               cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not compiler_running_in(process.pid):
            if process.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@needs_a_compiler
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the compiler in /proc")
def test_ctrl_c_while_inductor_compiles_is_one_line_and_130(interactive_runs):
    result = interactive_runs["Ctrl-C while inductor compiles"]
    assert result is not None, "no C++ compiler ran within two minutes"
    assert result.returncode == 130, result.stderr
    assert result.stdout == ""                    # interrupted before the first step ended
    assert result.stderr.splitlines()[-1] == f"{COMPILE}.py: interrupted"
    assert "Traceback" not in result.stderr


@needs_a_compiler
def test_inductor_trains_and_says_what_compiling_cost(capsys):
    """What a learner's run compiles (float32, the default size): its losses within 1e-5 of
    step 3's in float64 at each of 20 steps (float32 rounding; see test_cli.py's
    test_torch_steps_print_the_same_losses for the measured margin)."""
    status, out, err = run_main(COMPILE, ["--steps", "20", "--device", "cpu"], capsys)
    assert status == 0
    losses = step_losses(out)
    assert [t for t, _ in losses] == list(range(20))
    torch.testing.assert_close(as_float64([loss for _, loss in losses]),
                               as_float64(default_losses(REFERENCE, 0, "float64")[:20]),
                               rtol=1e-5, atol=0)
    assert re.search(r"^first step \(capture, then compile or reuse from the cache\): \d+\.\d\d s; "
                     r"then \d+\.\d{3} ms per step \(median of 19\)$", err, re.M), err
