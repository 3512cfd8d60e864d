"""The steps compute the same gradients, and the hand-written ones are right.

Oracles: autograd in float64 (an independent implementation of the same maths) and central
finite differences of a loss written here, not taken from the scripts.
"""
import numpy as np
import pytest
import torch
from ladder import (
    CLAMP_GRAD_AT_ZERO,
    GRADIENT_STEPS,
    KINDS,
    REFERENCE,
    RELU_GRAD_AT_ZERO,
    as_tensor,
    central_differences,
    inputs_for,
    load,
    random_problem,
    step_2_run,
)

SHAPES = {"real": (64, 1000, 100, 10), "small": (4, 5, 3, 2)}


@pytest.mark.parametrize("step_name", GRADIENT_STEPS)
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_loss_and_grads_agree_with_autograd(step_name, shape):
    problem = random_problem(1, *SHAPES[shape])
    loss, grad_w1, grad_w2 = load(step_name).loss_and_grads(*inputs_for(step_name, *problem))
    ref_loss, ref_w1, ref_w2 = load(REFERENCE).loss_and_grads(*inputs_for(REFERENCE, *problem))

    assert isinstance(loss, float)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    # Float64 defaults of assert_close: rtol 1e-7, atol 1e-7; dtype and shape must match too.
    torch.testing.assert_close(as_tensor(grad_w1), as_tensor(ref_w1))
    torch.testing.assert_close(as_tensor(grad_w2), as_tensor(ref_w2))
    assert grad_w1.shape == problem[2].shape and grad_w2.shape == problem[3].shape


@pytest.mark.parametrize("step_name", GRADIENT_STEPS)
def test_loss_and_grads_leaves_its_arguments_alone(step_name):
    problem = random_problem(2, *SHAPES["small"])
    args = inputs_for(step_name, *problem)
    load(step_name).loss_and_grads(*args)
    for given, original in zip(args, problem):
        np.testing.assert_array_equal(as_tensor(given).numpy(), original)
    if KINDS[step_name] == "autograd":
        assert args[2].grad is None and args[3].grad is None


@pytest.mark.parametrize("step_name", GRADIENT_STEPS)
def test_relu_gradient_at_exactly_zero_is_pinned(step_name):
    """A zero column in w1 makes a hidden unit exactly 0 for every example.

    Our mask `grad_h[h <= 0] = 0`, our MyReLU, nn.ReLU and torch.relu treat h == 0 as "off";
    clamp(min=0) does too from torch 2.14 on, and let the gradient through before. Pin each
    step's choice, on the torch that runs the test, so that a change at the kink cannot pass
    unnoticed.
    """
    x, y, w1, w2 = random_problem(3, *SHAPES["small"])
    w1[:, 1] = 0.0                                   # hidden unit 1: h[:, 1] == 0 exactly
    _, grad_w1, _ = load(step_name).loss_and_grads(*inputs_for(step_name, x, y, w1, w2))

    # Independent expectation, derived here: grad_w1[:, 1] = x.T @ (relu'(0) * grad_h_relu[:, 1]).
    y_pred = np.maximum(x @ w1, 0) @ w2
    grad_h_relu = 2.0 * (y_pred - y) @ w2.T
    passed_through = x.T @ grad_h_relu[:, 1]
    assert np.abs(passed_through).max() > 1e-3      # the two choices must differ visibly
    expected = RELU_GRAD_AT_ZERO[step_name] * passed_through
    torch.testing.assert_close(as_tensor(grad_w1)[:, 1], torch.from_numpy(expected))


def independent_loss(x, y, w1, w2):
    return np.sum((np.maximum(x @ w1, 0) @ w2 - y) ** 2)


def test_numpy_gradients_match_finite_differences():
    """Central differences need no torch: this checks step 1 on its own terms."""
    numpy_step = load("two_layer_net_numpy")
    x, y, w1, w2 = random_problem(4, *SHAPES["small"])
    assert np.abs(x @ w1).min() > 1e-3               # away from the ReLU kink, where FD is exact
    loss, grad_w1, grad_w2 = numpy_step.loss_and_grads(x, y, w1, w2)
    assert loss == pytest.approx(independent_loss(x, y, w1, w2), rel=1e-12)

    for w, grad in [(w1, grad_w1), (w2, grad_w2)]:
        numeric = central_differences(lambda: independent_loss(x, y, w1, w2), w)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_float32_training_lands_on_the_kink_and_clamp_then_decides():
    """Random data starts far from ReLU's kink (no |h| below 1e-3 at step 0), but training
    drives some pre-activations to it, and float32, whose h near 20 is rounded to about 2e-6,
    lands some exactly on 0 (first at step 114 with seed 0 on the development machine; at step
    140 on an Intel CPU). There step 3's clamp(min=0) and step 5's MyReLU give different
    gradients before torch 2.14 (clamp lets the gradient through, 1), the same from 2.14 (0):
    the difference is x.T @ (the gradient reaching the zero units), computed here. In float64
    no h is exactly 0 in the 500 steps."""
    assert step_2_run("float64").zero_steps == []
    steps = step_2_run("float32").zero_steps
    assert steps and steps[0] > 0, "no hidden unit was exactly 0 in 500 float32 steps"
    x, y, w1, w2, zero = step_2_run("float32").first
    clamp = load("two_layer_net_autograd").loss_and_grads(x, y, w1, w2)[1]
    my_relu = load("two_layer_net_custom_function").loss_and_grads(x, y, w1, w2)[1]

    grad_h_relu = 2.0 * ((x @ w1).clamp(min=0) @ w2 - y) @ w2.T
    through_the_kink = x.T @ (grad_h_relu * zero)           # what clamp's 1 lets through
    assert through_the_kink.abs().max() > 0.1              # ten times the tolerance below
    # Float32 tolerance: elsewhere the two steps run the same operations, which round alike
    # or nearly so (measured: at most 2e-6 apart, for gradients of at most 66 at that step).
    torch.testing.assert_close(clamp - my_relu, CLAMP_GRAD_AT_ZERO * through_the_kink,
                               rtol=0, atol=0.01)
