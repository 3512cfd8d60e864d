"""The exercises' worked solutions (solutions/, docs/exercises.md): each runs like its step, passes
its exercise's check, and the check fails where it should: on the step unchanged, and on a copy
of the solution with one mistake a learner makes."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from ladder import (
    ROOT,
    checked,
    default_data,
    default_losses,
    edited_copy,
    load,
    random_problem,
    run_copy,
    run_main,
    step_losses,
)

# Solution -> the step it changes.
SOLUTIONS = {
    "numpy_biases": "two_layer_net_numpy",
    "numpy_mean_loss": "two_layer_net_numpy",
    "tensor_leaky_relu": "two_layer_net_tensor",
    "tensor_mask_from_output": "two_layer_net_tensor",
    "autograd_biases": "two_layer_net_autograd",
    "autograd_mean_loss": "two_layer_net_autograd",
    "own_autograd_tanh": "two_layer_net_own_autograd",
    "own_autograd_biases": "two_layer_net_own_autograd",
    "custom_function_leaky_relu": "two_layer_net_custom_function",
    "custom_function_loss": "two_layer_net_custom_function",
}
TORCH_FREE = ["numpy_biases", "numpy_mean_loss", "own_autograd_tanh", "own_autograd_biases"]


def solution(name):
    return load(f"solutions.{name}")


def on_cpu(name, *argv):
    """argv, and --device cpu for a solution that uses torch (the numpy ones have no --device)."""
    return [*argv] + ([] if name in TORCH_FREE else ["--device", "cpu"])


def copy_with(tmp_path, name, changes):
    """A learner's copy of solutions/name.py, with each (line, changed line)."""
    return edited_copy(f"solutions/{name}.py", changes, tmp_path)


def test_every_exercise_has_its_solution_and_nothing_else_is_there():
    assert sorted(p.stem for p in (ROOT / "solutions").glob("*.py")) == sorted(SOLUTIONS)


@pytest.mark.parametrize("name", SOLUTIONS)
def test_a_solution_runs_like_its_step(name, capsys):
    """Five loss lines with --steps 5, the step's header on stderr, and the step's errors."""
    status, out, err = run_main(f"solutions.{name}", on_cpu(name, "--steps", "5"), capsys)
    assert status == 0, err
    assert [t for t, _ in step_losses(out)] == list(range(5))
    assert [line.split(",")[0] for line in err.splitlines()] == (
        [] if name in TORCH_FREE else ["device: cpu"])
    for argv in (["--steps", "0"], ["--lr", "-1"], ["--seed", "-1"]):
        got = run_main(f"solutions.{name}", argv, capsys)
        want = run_main(SOLUTIONS[name], argv, capsys)
        assert got[0] == want[0] == 2
        assert got[2].splitlines()[-1].split(": ", 1)[1] == want[2].splitlines()[-1].split(
            ": ", 1)[1]


def test_a_solution_runs_from_the_repository_root_as_the_docs_say():
    """`python solutions/numpy_biases.py --steps 5`, a real process (numpy alone: no torch to
    import)."""
    result = subprocess.run([sys.executable, "solutions/numpy_biases.py", "--steps", "5"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(step_losses(result.stdout)) == 5


# --- Exercise 1.1 and 4.2: biases by hand, and in the engine ----------------------------------

def test_biases_by_hand_pass_the_checker_and_match_autograd(capsys):
    status, rows, out = checked(ROOT / "solutions" / "numpy_biases.py", capsys)
    assert status == 0 and {"grad_b1", "grad_b2"} <= set(rows), out
    assert set(rows.values()) == {"ok"}
    # An independent answer: autograd, through the same net written in torch, float64.
    x, y, w1, w2 = random_problem(3, 6, 5, 4, 3)
    rng = np.random.default_rng(4)
    b1, b2 = rng.standard_normal(4), rng.standard_normal(3)
    loss, *grads = solution("numpy_biases").loss_and_grads(x, y, w1, b1, w2, b2)
    leaves = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    w1_, b1_, w2_, b2_ = leaves
    y_pred = (torch.tensor(x) @ w1_ + b1_).clamp(min=0) @ w2_ + b2_
    want = (y_pred - torch.tensor(y)).pow(2).sum()
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-12)
    for got, leaf in zip(grads, leaves):
        np.testing.assert_allclose(got, leaf.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["numpy_biases", "own_autograd_biases"])
def test_the_step_unchanged_fails_the_biases_check(name, capsys):
    """The exercise's check wants grad_b1 and grad_b2 checked: the step has none."""
    status, rows, _ = checked(ROOT / f"{SOLUTIONS[name]}.py", capsys)
    assert status == 0 and not {"grad_b1", "the net: grad_b1"} & set(rows)


@pytest.mark.parametrize("name", ["numpy_biases", "autograd_biases"])
def test_biases_start_at_0_and_then_move_the_losses(name, tmp_path, capsys):
    """Exercises 1.1 and 3.1's check: the first loss is the step's (adding 0 is exact), the
    next ones are not; a copy that forgets to update the biases prints the step's losses."""
    argv = on_cpu(name, "--steps", "3")
    step = run_main(SOLUTIONS[name], argv, capsys)[1].splitlines()
    own = run_main(f"solutions.{name}", argv, capsys)[1].splitlines()
    assert own[0] == step[0] and own[1] != step[1]
    # b1's update line (indented once more in step 3's copy: under torch.no_grad()), and b2's
    update = "            b1 -= learning_rate * b1.grad\n" if name == "autograd_biases" else \
        "        b1 -= learning_rate * grad_b1\n"
    forgot = copy_with(tmp_path, name, [(update, ""), (update.replace("1", "2"), "")])
    assert run_copy(forgot, argv, capsys)[1].splitlines() == step


def test_a_bias_added_in_place_is_judged_right(tmp_path, capsys):
    """`h = x @ w1` then `h += b1`: the differences start after the last line that sets h, and
    run on copies, which the copy's in-place addition cannot change."""
    path = copy_with(tmp_path, "numpy_biases", [("    h = x @ w1 + b1 ",
                                                 "    h = x @ w1\n    h += b1 ")])
    status, rows, out = checked(path, capsys)
    assert status == 0 and set(rows.values()) == {"ok"} and "grad_b1" in rows, out


def test_a_wrong_bias_gradient_is_named_with_its_line(tmp_path, capsys):
    """grad_b1 summed before ReLU's mask: the checker names grad_b1, and its line."""
    path = copy_with(tmp_path, "numpy_biases", [
        ("grad_b1 = grad_h.sum(axis=0)   ", "grad_b1 = grad_h_relu.sum(axis=0)")])
    status, rows, out = checked(path, capsys)
    assert status == 1 and rows["grad_b1"].startswith("WRONG")
    assert "first wrong gradient: grad_b1;" in out and "grad_b1 = grad_h_relu.sum(axis=0)" in out


def test_the_engine_with_biases_passes_and_prints_exercise_1_1s_losses_to_the_bit(capsys):
    """add() is checked as an operation, the biases' gradients through the net; and the engine
    computes exactly what exercise 1.1's hand-written backward does (the same operations)."""
    status, rows, out = checked(ROOT / "solutions" / "own_autograd_biases.py", capsys)
    assert status == 0 and set(rows.values()) == {"ok"}, out
    assert {"add 0", "add 1", "the net: grad_b1", "the net: grad_b2"} <= set(rows), out
    by_hand = run_main("solutions.numpy_biases", [], capsys)
    engine = run_main("solutions.own_autograd_biases", [], capsys)
    assert by_hand[0] == engine[0] == 0 and len(step_losses(engine[1])) == 500
    assert engine[1] == by_hand[1]


def test_an_add_that_does_not_sum_the_broadcast_rows_fails_at_the_bias(tmp_path, capsys):
    path = copy_with(tmp_path, "own_autograd_biases", [
        ("grad_b = g.sum(axis=0) if b.data.ndim < g.ndim else g", "grad_b = g")])
    status, rows, out = checked(path, capsys)
    assert status == 1 and rows["add 1"] == "ok"          # on inputs of one shape, it is right
    assert rows["the net: grad_b1"] == "WRONG (shape (5, 3), not b1's (3,))", out
    assert "first wrong: grad_b1, of another shape than b1: the operation that takes b1" in out


def test_an_add_that_averages_the_rows_is_pointed_at(tmp_path, capsys):
    """g.mean(axis=0) has b's shape, and every operation passes on inputs of one shape: the net's
    bias gradients fail, and the checker points at the operation that takes the bias."""
    path = copy_with(tmp_path, "own_autograd_biases", [
        ("grad_b = g.sum(axis=0) if", "grad_b = g.mean(axis=0) if")])
    status, rows, out = checked(path, capsys)
    assert status == 1 and rows["add 1"] == "ok" and rows["the net: grad_b1"] == "WRONG", out
    assert "first wrong: grad_b1, though every operation passes on inputs of one shape: look at " \
        "the backward_fn of the operation that takes b1" in out


def test_an_add_for_rows_only_is_named_with_the_shapes(tmp_path, capsys):
    """Summing always, add is wrong where both inputs have one shape: the row says so."""
    path = copy_with(tmp_path, "own_autograd_biases", [
        ("grad_b = g.sum(axis=0) if b.data.ndim < g.ndim else g", "grad_b = g.sum(axis=0)")])
    status, rows, out = checked(path, capsys)
    assert status == 1 and rows["add 1"] == "WRONG (shape (4,), not input 1's (3, 4))", out
    assert "first wrong: add; look at its backward" in out


def test_an_engine_copy_changed_in_one_place_only_gets_one_message(tmp_path, capsys):
    """forward() takes the biases, loss_and_grads() does not pass them: a line, no traceback."""
    path = copy_with(tmp_path, "own_autograd_biases", [
        ("    loss = compute_loss(forward(x, w1, b1, w2, b2), y)",
         "    loss = compute_loss(forward(x, w1, w2), y)")])
    status, _, out = checked(path, capsys)
    assert status == 1 and "Traceback" not in out
    assert "the net could not be run: TypeError: " in out
    assert out.rstrip().endswith("take x, y and then forward()'s weights: w1, b1, w2, b2)")


# --- Exercises 1.2 and 3.2: the mean loss --------------------------------------------------------

@pytest.mark.parametrize("name", ["numpy_mean_loss", "autograd_mean_loss"])
def test_the_mean_loss_with_640_times_the_rate_makes_the_steps_of_the_sum(name, capsys):
    """In float64 the losses are the step's divided by 640 at every one of the 500 steps, to
    1e-8 (the two runs round differently, about 1e-16 a step; measured: 3e-10 at most). In
    float32, the first three to 1e-5: rounding parts the runs later."""
    step = SOLUTIONS[name]
    mean = solution(name).train(*default_data(step, 0, "float64"), print_every=0)
    total = default_losses(step, 0, "float64")        # the step's own run, shared by tests
    assert len(mean) == len(total) == 500
    np.testing.assert_allclose(np.array(mean) * 640, total, rtol=1e-8, atol=0)
    argv = on_cpu(name, "--dtype", "float32", "--steps", "3")
    mean = [loss for _, loss in step_losses(run_main(f"solutions.{name}", argv, capsys)[1])]
    total = [loss for _, loss in step_losses(run_main(step, argv, capsys)[1])]
    np.testing.assert_allclose(np.array(mean) * 640, total, rtol=1e-5, atol=0)


def test_the_mean_loss_with_the_sums_rate_fails_that_check(tmp_path, capsys):
    """.mean() alone, the rate left at 1e-6: every step 640 times shorter."""
    path = copy_with(tmp_path, "autograd_mean_loss", [
        ("STEPS, LEARNING_RATE = 500, 6.4e-4", "STEPS, LEARNING_RATE = 500, 1e-6")])
    mean = np.array([loss for _, loss in step_losses(
        run_copy(path, ["--steps", "3", "--device", "cpu"], capsys)[1])])
    total = np.array([loss for _, loss in step_losses(run_main(
        "two_layer_net_autograd", ["--steps", "3", "--device", "cpu"], capsys)[1])])
    assert mean[0] * 640 == pytest.approx(total[0], rel=1e-6)       # the same start
    assert mean[2] * 640 > 1.2 * total[2]                             # far slower after it


def test_the_mean_loss_by_hand_needs_its_backward_changed(tmp_path, capsys):
    path = copy_with(tmp_path, "numpy_mean_loss", [
        ("grad_y_pred = 2.0 * (y_pred - y) / y.size ", "grad_y_pred = 2.0 * (y_pred - y) ")])
    assert checked(ROOT / "solutions" / "numpy_mean_loss.py", capsys)[0] == 0
    status, rows, out = checked(path, capsys)
    assert status == 1 and "first wrong gradient: grad_y_pred;" in out


# --- Exercises 2.1 and 5.1: the leaky ReLU -----------------------------------------------------

def test_the_leaky_relu_by_hand_passes_and_the_steps_backward_fails_it(tmp_path, capsys):
    status, rows, out = checked(ROOT / "solutions" / "tensor_leaky_relu.py", capsys)
    assert status == 0 and set(rows.values()) == {"ok"}, out
    for backward, culprit in [("grad_h[h <= 0] = 0", "grad_h"),          # step 2's
                              ("grad_h[h <= 0] *= 0.1", "grad_h")]:        # the wrong slope
        path = copy_with(tmp_path, "tensor_leaky_relu", [("grad_h[h <= 0] *= SLOPE", backward)])
        status, rows, out = checked(path, capsys)
        assert status == 1 and f"first wrong gradient: {culprit};" in out, out
        assert f"line {(path.read_text().split(backward)[0]).count(chr(10)) + 1}: {backward}" in out


@pytest.mark.parametrize("backward, passes", [
    ("grad_h[h <= 0] *= SLOPE", True),          # the solution
    ("grad_h[h <= 0] = 0", False),              # step 5's MyReLU backward, under a leaky forward
    ("grad_h[h <= 0] *= 0.1", False),           # the wrong slope
])
def test_gradcheck_judges_the_leaky_relu_function(backward, passes, tmp_path, capsys):
    path = copy_with(tmp_path, "custom_function_leaky_relu",
                     [("grad_h[h <= 0] *= SLOPE", backward)])
    status, out, err = run_copy(path, ["--gradcheck"], capsys)
    if passes:
        assert status == 0 and "gradcheck passed: MyLeakyReLU" in out
    else:
        assert status == 1 and "Jacobian mismatch" in err and "Traceback" not in err


def test_the_leaky_relu_function_trains_as_the_leaky_relu_by_hand(capsys):
    """Autograd with MyLeakyReLU and step 2's hand-written leaky backward, from the same start:
    the same 500 losses in float64, to 1e-9 (other products, other rounding)."""
    argv = ["--dtype", "float64", "--device", "cpu"]
    function = step_losses(run_main("solutions.custom_function_leaky_relu", argv, capsys)[1])
    by_hand = step_losses(run_main("solutions.tensor_leaky_relu", argv, capsys)[1])
    assert len(function) == len(by_hand) == 500
    np.testing.assert_allclose([v for _, v in function], [v for _, v in by_hand], rtol=1e-9)


# --- Exercise 2.2 and 5.2: the same numbers, computed otherwise ---------------------------------

def test_the_mask_from_the_output_needs_no_h_and_prints_step_2s_losses(tmp_path, capsys):
    """h_relu <= 0 is h <= 0, number for number: the same operations on the same numbers, so
    the same digits (in any dtype: the default's are checked). backward() reads no h: given
    None, it still runs."""
    status, rows, out = checked(ROOT / "solutions" / "tensor_mask_from_output.py", capsys)
    assert status == 0 and set(rows.values()) == {"ok"}, out
    step = solution("tensor_mask_from_output")
    assert tuple(step.train(*default_data("two_layer_net_tensor", 0), print_every=0)) == \
        default_losses("two_layer_net_tensor", 0)
    x, y, w1, w2 = [torch.tensor(a) for a in random_problem(10, 6, 5, 4, 3)]
    h, h_relu, y_pred = step.forward(x, w1, w2)
    for got, want in zip(step.backward(x, y, w2, None, h_relu, y_pred),
                         step.backward(x, y, w2, h, h_relu, y_pred)):
        assert torch.equal(got, want)
    # Step 2's mask, reading h, raises after `del h`, and the checker names its line.
    path = copy_with(tmp_path, "tensor_mask_from_output", [("grad_h[h_relu <= 0] = 0",
                                                            "grad_h[h <= 0] = 0")])
    status, _, out = checked(path, capsys)
    assert status == 1 and re.search(r"backward\(\) raised UnboundLocalError at line \d+: "
                                     r"grad_h\[h <= 0\] = 0", out), out
    # A mask on the wrong side of the output is caught, at grad_h.
    path = copy_with(tmp_path, "tensor_mask_from_output", [("grad_h[h_relu <= 0] = 0",
                                                            "grad_h[h_relu > 0] = 0")])
    status, _, out = checked(path, capsys)
    assert status == 1 and "first wrong gradient: grad_h;" in out


@pytest.mark.parametrize("backward, message", [
    ("return 2.0 * diff * grad_loss, None", None),                          # the solution
    ("return diff * grad_loss, None", "Jacobian mismatch"),                 # the 2 forgotten
    ("return -2.0 * diff * grad_loss, None", "Jacobian mismatch"),          # y - y_pred's sign
    ("return 2.0 * diff, None", "backward not multiplied by grad_output"),  # grad_loss ignored
    ("return 2.0 * diff * grad_loss", "returned an incorrect number of gradients"),   # y's left out
])
def test_gradcheck_judges_the_loss_function(backward, message, tmp_path, capsys):
    """gradcheck also runs a backward with a gradient of 0, which one that ignores grad_loss
    fails; any failure is a line, status 1."""
    path = copy_with(tmp_path, "custom_function_loss",
                     [("return 2.0 * diff * grad_loss, None", backward)])
    status, out, err = run_copy(path, ["--gradcheck"], capsys)
    if message is None:
        assert status == 0 and "gradcheck passed: the backward of MyReLU and of MySumOfSquares" \
            in out
    else:
        assert status == 1 and message in err and "Traceback" not in err, err


def test_the_loss_function_prints_step_5s_losses(capsys):
    """Torch's backward of pow(2) multiplies by 2 and by the incoming 1 too, both exact: the same
    digits (in any dtype: the default's are checked)."""
    step = "two_layer_net_custom_function"
    own = solution("custom_function_loss").train(*default_data(step, 0), print_every=0)
    assert len(own) == 500 and tuple(own) == default_losses(step, 0)


# --- Exercise 3.1: biases by autograd ----------------------------------------------------------

def test_autograds_bias_gradients_are_exercise_1_1s_by_hand():
    """The same float64 arrays through both: autograd against the chain rule by hand."""
    x, y, w1, w2 = random_problem(6, 6, 5, 4, 3)
    rng = np.random.default_rng(7)
    b1, b2 = rng.standard_normal(4), rng.standard_normal(3)
    by_hand = solution("numpy_biases").loss_and_grads(x, y, w1, b1, w2, b2)
    tensors = [torch.tensor(a) for a in (x, y, w1, b1, w2, b2)]
    by_autograd = solution("autograd_biases").loss_and_grads(*tensors)
    assert by_autograd[0] == pytest.approx(by_hand[0], rel=1e-12)
    for got, want in zip(by_autograd[1:], by_hand[1:]):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def biases_check(status, out, err):
    """Exercise 3.1's check, on a run with --show-graph: the graph shows the two additions and
    the biases' leaves, and the loss falls as step 3's (below 1e-3 by step 499)."""
    graph = err.count("AddBackward0") == 2 and "AccumulateGrad: into b1.grad (100,)" in err \
        and "AccumulateGrad: into b2.grad (10,)" in err
    return status == 0 and graph and step_losses(out)[-1][1] < 1e-3


def test_autograd_biases_pass_their_check_and_the_step_and_a_mistake_fail_it(tmp_path, capsys):
    argv = ["--show-graph", "--device", "cpu"]
    assert biases_check(*run_main("solutions.autograd_biases", argv, capsys))
    assert not biases_check(*run_main("two_layer_net_autograd", argv, capsys))
    forgot = copy_with(tmp_path, "autograd_biases", [("            b1.grad = None\n", "")])
    assert not biases_check(*run_copy(forgot, argv, capsys))     # b1.grad grows: loss stalls


# --- Exercise 4.1: tanh in the engine ----------------------------------------------------------

def test_the_engines_tanh_passes_its_check_and_matches_torch(capsys):
    status, rows, out = checked(ROOT / "solutions" / "own_autograd_tanh.py", capsys)
    assert status == 0 and set(rows.values()) == {"ok"} and rows["tanh 0"] == "ok", out
    # The net's gradients against torch's autograd through torch.tanh, float64.
    x, y, w1, w2 = random_problem(9, 6, 5, 4, 3)
    loss, grad_w1, grad_w2 = solution("own_autograd_tanh").loss_and_grads(x, y, w1, w2)
    w1_, w2_ = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    want = (torch.tanh(torch.tensor(x) @ w1_) @ w2_ - torch.tensor(y)).pow(2).sum()
    want.backward()
    assert loss == pytest.approx(want.item(), rel=1e-12)
    np.testing.assert_allclose(grad_w1, w1_.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_w2, w2_.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_the_step_has_no_tanh_and_a_wrong_tanh_is_named(tmp_path, capsys):
    assert "tanh 0" not in checked(ROOT / "two_layer_net_own_autograd.py", capsys)[1]
    path = copy_with(tmp_path, "own_autograd_tanh", [("(1.0 - out ** 2) * g", "(1.0 - out) * g")])
    status, _, out = checked(path, capsys)
    assert status == 1 and "first wrong: tanh; look at its backward" in out
