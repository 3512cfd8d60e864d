"""What steps 5 to 9 add: a custom Function, Adam, and a dynamic net.

(Steps 5 to 8 also join the cross-step gradient and training tests, parametrised over STEPS;
the claim about nn.Linear's own initialisation is checked in test_readme, with its sentence.)
"""
import statistics

import numpy as np
import pytest
import torch
from ladder import (
    OPTIMIZER_STEPS,
    as_tensor,
    central_differences,
    default_losses,
    load,
    random_problem,
    run_main,
    step_losses,
)


def test_custom_relu_passes_gradcheck():
    """gradcheck compares MyReLU.backward with finite differences of MyReLU.forward."""
    MyReLU = load("two_layer_net_custom_function").MyReLU
    h = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = (h + 0.1 * h.sign()).requires_grad_()       # at least 0.1 away from the kink at 0
    assert torch.autograd.gradcheck(MyReLU.apply, (h,), eps=1e-6, atol=1e-8)


def test_custom_relu_stops_the_gradient_at_zero_as_torch_relu_does():
    MyReLU = load("two_layer_net_custom_function").MyReLU
    h = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    MyReLU.apply(h).backward(torch.tensor([5.0, 7.0, 11.0], dtype=torch.float64))
    torch.testing.assert_close(h.grad, torch.tensor([0.0, 0.0, 11.0], dtype=torch.float64))
    h.grad = None
    torch.relu(h).backward(torch.tensor([5.0, 7.0, 11.0], dtype=torch.float64))
    torch.testing.assert_close(h.grad, torch.tensor([0.0, 0.0, 11.0], dtype=torch.float64))


def test_custom_relu_leaves_the_gradient_it_is_given_alone():
    """MyReLU.backward clones grad_h_relu before masking it: autograd may hand the same tensor to
    other nodes too (the README's reason), so the caller's gradient must come back unchanged."""
    MyReLU = load("two_layer_net_custom_function").MyReLU
    h = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    given = torch.tensor([5.0, 7.0, 11.0], dtype=torch.float64)
    MyReLU.apply(h).backward(given)
    assert given.tolist() == [5.0, 7.0, 11.0]


@pytest.mark.parametrize("name", OPTIMIZER_STEPS)
def test_optimizer_adam_on_the_command_line_takes_adams_rate(name, capsys):
    """`--optimizer adam` without --lr: 1e-3 (the README's), said on stderr, and trained at."""
    status, out, err = run_main(name, ["--optimizer", "adam", "--steps", "3", "--device", "cpu"],
                                capsys)
    assert status == 0, err
    assert "optimizer: adam, lr: 0.001" in err, err
    assert [loss for _, loss in step_losses(out)] == list(
        default_losses(name, 0, steps=3, optimizer_name="adam", learning_rate=1e-3))


@pytest.mark.parametrize("seed", [0, 1])
def test_adam_with_its_default_rate_makes_the_loss_fall_a_thousandfold(seed):
    losses = default_losses("two_layer_net_optim", seed, optimizer_name="adam")
    assert losses[-1] < losses[0] / 1e3, f"{losses[0]:.3g} -> {losses[-1]:.3g}"


@pytest.mark.parametrize("name", OPTIMIZER_STEPS)
def test_train_without_a_learning_rate_takes_the_optimizers_own(name):
    """What train(..., optimizer_name="adam") in a notebook gets: Adam's 1e-3, as --optimizer
    adam does, not SGD's 1e-6 (1e-4 in step 9) (the same operations: the very same losses)."""
    for optimizer, rate in [("sgd", 1e-4 if name == "dynamic_net" else 1e-6), ("adam", 1e-3)]:
        assert (default_losses(name, 0, steps=3, optimizer_name=optimizer)
                == default_losses(name, 0, steps=3, optimizer_name=optimizer, learning_rate=rate))


# --- dynamic_net --------------------------------------------------------------------------

def dynamic_problem(seed, n=4, d_in=5, h=3, d_out=2):
    """Small float64 weights of the scale make_data gives, as numpy arrays."""
    x, y, w1, w2 = random_problem(seed, n, d_in, h, d_out)
    w_middle = np.random.default_rng(seed + 100).standard_normal((h, h)) * np.sqrt(2 / h)
    return x, y, w1 * np.sqrt(2 / d_in), w2 * np.sqrt(1 / h), w_middle


def independent_dynamic_loss(x, y, w1, w2, w_middle, depth):
    h_relu = np.maximum(x @ w1, 0)
    for _ in range(depth):
        h_relu = np.maximum(h_relu @ w_middle, 0)
    return np.sum((h_relu @ w2 - y) ** 2)


def away_from_the_kinks(x, y, w1, w2, w_middle, depth):
    """Whether every ReLU input is at least 1e-3 from 0, where central differences are exact."""
    h = x @ w1
    for _ in range(depth + 1):
        if np.abs(h).min() < 1e-3:
            return False
        h = np.maximum(h, 0) @ w_middle
    return True


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_dynamic_gradients_match_finite_differences(depth):
    dynamic = load("dynamic_net")
    # The first small problem whose ReLUs are all clear of 0 (a tiny net often has a dead row).
    arrays = next(problem for problem in map(dynamic_problem, range(100))
                  if away_from_the_kinks(*problem, depth))
    loss, *grads = dynamic.loss_and_grads(*map(torch.tensor, arrays), depth)
    assert loss == pytest.approx(independent_dynamic_loss(*arrays, depth), rel=1e-12)
    x, y, *weights = arrays

    for w, grad in zip(weights, grads):
        numeric = central_differences(lambda: independent_dynamic_loss(x, y, *weights, depth), w)
        np.testing.assert_allclose(as_tensor(grad).numpy(), numeric, rtol=1e-6, atol=1e-6)
    if depth == 0:                                       # an unused layer gets a zero gradient
        assert not as_tensor(grads[2]).any()


def test_dynamic_net_at_depth_0_is_the_two_layer_net():
    x, y, w1, w2, w_middle = map(torch.tensor, dynamic_problem(1, 64, 1000, 100, 10))
    loss, grad_w1, grad_w2, _ = load("dynamic_net").loss_and_grads(x, y, w1, w2, w_middle, 0)
    ref_loss, ref_w1, ref_w2 = load("two_layer_net_module").loss_and_grads(x, y, w1, w2)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    torch.testing.assert_close(grad_w1, ref_w1)
    torch.testing.assert_close(grad_w2, ref_w2)


def test_dynamic_net_draws_every_depth_from_0_to_3(monkeypatch):
    """The README's 'reuses one layer a random number of times', 0 to 3: the depths train()
    passes to the model over 40 steps (the model still runs; its forward is only watched)."""
    dynamic = load("dynamic_net")
    depths, forward = [], dynamic.DynamicNet.forward

    def watched(model, x, depth):
        depths.append(depth)
        return forward(model, x, depth)

    monkeypatch.setattr(dynamic.DynamicNet, "forward", watched)
    x, y, w1, w2, w_middle = map(torch.tensor, dynamic_problem(3))
    dynamic.train(x, y, w1, w2, w_middle, steps=40, print_every=0)
    assert len(depths) == 40 and set(depths) == {0, 1, 2, 3}, depths


def test_dynamic_loss_and_grads_leaves_its_arguments_alone():
    arrays = dynamic_problem(2)
    tensors = list(map(torch.tensor, arrays))
    load("dynamic_net").loss_and_grads(*tensors, 2)
    for given, original in zip(tensors, arrays):
        np.testing.assert_array_equal(given.numpy(), original)
        assert given.grad is None


def test_dynamic_net_reruns_the_same_and_seeds_differ():
    dynamic = load("dynamic_net")

    def run(seed):
        return dynamic.train(*dynamic.make_data(seed, torch.float32, "cpu"), steps=30,
                             print_every=0, seed=seed)
    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dynamic_loss_falls(seed):
    """The depth changes every step, so single losses jump; compare the last 50 with the start."""
    losses = default_losses("dynamic_net", seed)
    last = losses[-50:]
    assert statistics.median(last) < losses[0] / 50, f"{losses[0]:.3g} -> median {last}"
    assert max(last) < losses[0] / 10, f"{losses[0]:.3g} -> {last}"


def test_dynamic_relu_gives_zero_gradient_at_exactly_zero():
    """dynamic_net uses torch.relu, which (like nn.ReLU) gives gradient 0 at h == 0."""
    x, y, w1, w2, w_middle = map(torch.tensor, dynamic_problem(3))
    w1[:, 1] = 0.0                                   # hidden unit 1: h[:, 1] == 0 exactly
    _, grad_w1, _, _ = load("dynamic_net").loss_and_grads(x, y, w1, w2, w_middle, 0)
    # What letting the gradient through would give (depth 0: the two-layer net), derived here.
    grad_h_relu = 2.0 * ((x @ w1).clamp(min=0) @ w2 - y) @ w2.T
    assert (x.T @ grad_h_relu[:, 1]).abs().max() > 1e-3    # so the two choices differ visibly
    assert not grad_w1[:, 1].any()
