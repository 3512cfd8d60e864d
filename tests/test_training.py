"""The steps train the same way: same losses from the same float64 start, and the loss falls."""
import gc

import numpy as np
import pytest
import torch
from ladder import (
    CORE_STEPS,
    NUMPY_SCRIPTS,
    REFERENCE,
    STEPS,
    TORCH_STEPS,
    as_float64,
    as_tensor,
    default_data,
    default_losses,
    inputs_for,
    load,
    random_problem,
)


def float64_start():
    """The tutorial's sizes and scale (standard normal), in float64."""
    numpy_step = load("two_layer_net_numpy")
    return random_problem(5, numpy_step.N, numpy_step.D_in, numpy_step.H, numpy_step.D_out)


@pytest.fixture(scope="module")
def reference_losses():
    return load(REFERENCE).train(*inputs_for(REFERENCE, *float64_start()), print_every=0)


@pytest.mark.parametrize("step_name", [name for name in STEPS if name != REFERENCE])
def test_same_500_losses_from_the_same_float64_start(step_name, reference_losses):
    losses = load(step_name).train(*inputs_for(step_name, *float64_start()), print_every=0)
    assert len(losses) == 500 and all(isinstance(loss, float) for loss in losses)
    # Within 1e-7 relative at every step (atol=0: the late, tiny losses count in full).
    torch.testing.assert_close(as_float64(losses), as_float64(reference_losses),
                               rtol=1e-7, atol=0)


def test_train_updates_the_weights_in_place(step_name):
    problem = random_problem(6, 8, 6, 5, 3)
    x, y, w1, w2 = inputs_for(step_name, *problem)
    load(step_name).train(x, y, w1, w2, steps=3, print_every=0)
    # The same three steps of gradient descent, written here with the reference's gradients.
    ref = load(REFERENCE)
    ref_x, ref_y, ref_w1, ref_w2 = [torch.from_numpy(a) for a in problem]
    for _ in range(3):
        _, grad_w1, grad_w2 = ref.loss_and_grads(ref_x, ref_y, ref_w1, ref_w2)
        ref_w1, ref_w2 = ref_w1 - 1e-6 * grad_w1, ref_w2 - 1e-6 * grad_w2
    assert not np.array_equal(as_tensor(w1).numpy(), problem[2])
    torch.testing.assert_close(as_tensor(w1), ref_w1)
    torch.testing.assert_close(as_tensor(w2), ref_w2)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("step_name", CORE_STEPS)
def test_float32_loss_falls_by_more_than_a_million(step_name, seed):
    """The three core steps, for several seeds (every step, seed 0: test_readme's claims)."""
    losses = default_losses(step_name, seed, "float32")
    assert len(losses) == 500
    assert losses[-1] < losses[0] / 1e6, f"loss went from {losses[0]:.3g} to {losses[-1]:.3g}"


def test_print_every_controls_the_step_loss_lines(step_name, capsys):
    step = load(step_name)
    args = inputs_for(step_name, *random_problem(7, 8, 6, 5, 3))
    losses = step.train(*args, steps=5, print_every=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["0", "2", "4"]
    assert [float(line.split()[1]) for line in lines] == [losses[0], losses[2], losses[4]]

    step.train(*args, steps=3, print_every=0)
    assert capsys.readouterr().out == ""


def test_default_seed_starts_in_the_tens_of_millions(step_name):
    """README: 'With the default seed the loss starts in the tens of millions'."""
    dtype = "float64" if step_name in NUMPY_SCRIPTS else "float32"
    loss, _, _ = load(step_name).loss_and_grads(*default_data(step_name, 0, dtype))
    assert 1e7 <= loss < 1e8


def live_tensors():
    # Collect until nothing more is freed: a collection can run finalizers that free more
    # (compiled code that torch.compile left behind does).
    for _ in range(10):
        if not gc.collect():
            break
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def test_train_keeps_no_tensor_alive_from_step_to_step():
    """A loop that kept each step's loss tensor (and with it its graph) would hold more tensors
    after 30 steps than after 3. Count the live tensors while every result is held; a count
    walks every object of the process, so count once for all the torch steps, and step by step
    only to name the culprit."""
    runs = {name: inputs_for(name, *random_problem(8, 8, 6, 5, 3)) for name in TORCH_STEPS}
    for name, args in runs.items():
        load(name).train(*args, steps=2, print_every=0)    # warm up lazy imports and caches
    held = [load(name).train(*args, steps=3, print_every=0) for name, args in runs.items()]
    after_short = live_tensors()
    held += [load(name).train(*args, steps=30, print_every=0) for name, args in runs.items()]
    grew = live_tensors() - after_short
    culprits = []
    if grew:                                     # find out which step it was
        for name, args in runs.items():
            before = live_tensors()
            held.append(load(name).train(*args, steps=30, print_every=0))
            if live_tensors() != before:
                culprits.append(name)
    assert grew == 0, f"{grew} more live tensors after 30 steps than after 3: {culprits}"
    assert [len(losses) for losses in held] == [3] * len(runs) + [30] * len(runs)
