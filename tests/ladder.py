"""What the tests know about the ladder: its steps, and how to hand each one the same numbers."""
import importlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

# Every step of the ladder, in order, with how it takes its weights:
#   numpy    -> numpy arrays
#   manual   -> plain tensors, gradients by hand
#   autograd -> tensors; train() wants w1 and w2 as leaves with requires_grad=True
STEPS = {
    "two_layer_net_numpy": "numpy",
    "two_layer_net_tensor": "manual",
    "two_layer_net_autograd": "autograd",
}
TORCH_STEPS = [name for name, kind in STEPS.items() if kind != "numpy"]


def load(name):
    return importlib.import_module(name)


def random_problem(seed, n, d_in, h, d_out):
    """x, y, w1, w2 as float64 numpy arrays, drawn independently of any step's own make_data."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in [(n, d_in), (n, d_out), (d_in, h), (h, d_out)]]


def inputs_for(name, x, y, w1, w2, device="cpu"):
    """Copies of the arrays in the form the step `name` takes them."""
    kind = STEPS[name]
    if kind == "numpy":
        return [a.copy() for a in (x, y, w1, w2)]
    x, y, w1, w2 = [torch.tensor(a, device=device) for a in (x, y, w1, w2)]
    if kind == "autograd":
        w1.requires_grad_()
        w2.requires_grad_()
    return [x, y, w1, w2]


def as_tensor(value):
    """A detached float64-preserving CPU tensor, for torch.testing.assert_close."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.from_numpy(np.asarray(value))
