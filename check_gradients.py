"""Check a hand-written backward pass, one gradient at a time.

Give it a step script whose backward(x, y, w2, h, h_relu, y_pred) is written by hand (steps 1
and 2, or your own copy of one). On one small float64 batch it compares every gradient that
backward computes (grad_y_pred, grad_h_relu, grad_h, grad_w2, grad_w1) with two independent
answers: autograd, and central finite differences of the loss. Both come from this file's own
forward pass and loss, the tutorial's (a ReLU net without biases, the sum of squared errors),
not from the script's: it checks a backward pass of this very net. A copy whose forward pass
or loss was changed (a leaky ReLU, a mean loss) is reported wrong even when its backward pass
matches the change. It prints a table with the
largest absolute difference and the relative error of each, and then the first line of
backward that goes wrong: a gradient computed from a wrong one is wrong too, so the first
failure in chain-rule order is the line to look at.

Exit status: 0 when every gradient passes, 1 when one fails, 2 for bad input.

Run:
    python check_gradients.py                           # steps 1 and 2
    python check_gradients.py my_two_layer_net.py       # your copy's backward pass
"""
import argparse
import importlib.util
import inspect
import os
import re
import sys
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MANUAL_STEPS = [os.path.join(HERE, "two_layer_net_numpy.py"),
                os.path.join(HERE, "two_layer_net_tensor.py")]
# A small batch whose sizes all differ, so that a wrong transpose cannot go unnoticed.
N, D_in, H, D_out = 5, 4, 3, 2
# In chain-rule order: each gradient is computed from the ones before it.
GRADIENTS = ["grad_y_pred", "grad_w2", "grad_h_relu", "grad_h", "grad_w1"]
AUTOGRAD_RTOL = 1e-10      # the same maths in float64: only rounding differs
FD_RTOL = 1e-6             # central differences with eps = 1e-6: error about eps**2 + 1e-16/eps
EPS = 1e-6


def make_batch(seed):
    """x, y, w1, w2 in float64, with every h at least 0.05 away from ReLU's kink at 0."""
    rng = np.random.default_rng(seed)
    while True:
        x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
        w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))
        if np.abs(x @ w1).min() > 0.05:
            return x, y, w1, w2


def loss_of(x, y, w1=None, w2=None, h=None, h_relu=None, y_pred=None):
    """The loss computed from any one point of the forward pass onwards (numpy, float64)."""
    if y_pred is None:
        if h_relu is None:
            h_relu = np.maximum(x @ w1 if h is None else h, 0)
        y_pred = h_relu @ w2
    return np.sum((y_pred - y) ** 2)


def finite_differences(x, y, w1, w2):
    """Central differences of the loss with respect to every input of every backward line."""
    h = x @ w1
    h_relu = np.maximum(h, 0)
    points = {"grad_y_pred": ("y_pred", h_relu @ w2), "grad_h_relu": ("h_relu", h_relu),
              "grad_h": ("h", h), "grad_w2": ("w2", w2), "grad_w1": ("w1", w1)}
    answers = {}
    for name, (variable, value) in points.items():
        value = value.copy()
        grad = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            saved = value[i]
            value[i] = saved + EPS
            plus = loss_of(x, y, **{"w1": w1, "w2": w2, variable: value})
            value[i] = saved - EPS
            minus = loss_of(x, y, **{"w1": w1, "w2": w2, variable: value})
            value[i] = saved
            grad[i] = (plus - minus) / (2 * EPS)
        answers[name] = grad
    return answers


def autograd_answers(x, y, w1, w2):
    """The same gradients from autograd, keeping those of the intermediate tensors."""
    x, y, w1, w2 = [torch.tensor(a) for a in (x, y, w1, w2)]
    w1.requires_grad_()
    w2.requires_grad_()
    h = x @ w1
    h_relu = torch.relu(h)                  # gradient 0 at h == 0, on every torch
    y_pred = h_relu @ w2
    for tensor in (h, h_relu, y_pred):
        tensor.retain_grad()                # keep .grad of non-leaf tensors too
    (y_pred - y).pow(2).sum().backward()
    return {"grad_y_pred": y_pred.grad, "grad_h_relu": h_relu.grad, "grad_h": h.grad,
            "grad_w2": w2.grad, "grad_w1": w1.grad}


def run_backward(backward, x, y, w1, w2, as_array):
    """Call the step's backward() and return its local variables as it returns (or raises).

    backward() returns only grad_w1 and grad_w2; the other gradients are its local variables.
    sys.setprofile lets us see a function's locals at the moment it returns, without
    changing the function we check.
    """
    h = x @ w1
    h_relu = np.maximum(h, 0)
    y_pred = h_relu @ w2
    seen = {}

    def profiler(frame, event, arg):
        if event == "return" and frame.f_code is backward.__code__:
            seen.update(frame.f_locals)

    sys.setprofile(profiler)
    try:
        backward(*map(as_array, (x, y, w2, h, h_relu, y_pred)))
        error = None
    except Exception as exception:            # a learner's backward may raise anything
        error = exception
    finally:
        sys.setprofile(None)
    return seen, error


def to_numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def compare(got, want):
    """(largest absolute difference, relative error); infinite where the shapes differ."""
    got = to_numpy(got)
    want = to_numpy(want)
    if got.shape != want.shape:
        return float("inf"), float("inf")
    diff = np.abs(got - want).max()
    return diff, diff / max(np.abs(want).max(), 1e-300)


def lines_of(function, name):
    """The lines of function's source that assign to name (name = ..., name[...] = ...)."""
    source, first = inspect.getsourcelines(function)
    pattern = re.compile(rf"^\s*{name}\s*(\[.*\])?\s*[-+*/]?=[^=]")
    return [(first + i, line.strip()) for i, line in enumerate(source) if pattern.match(line)]


def check(path, seed=0):
    """Print the table for one script; True when every gradient passes."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"checked_{name}", path)
    step = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(step)
    backward = step.backward
    # Hand the script the kind of arrays it works with: tensors if it imports torch.
    as_array = torch.from_numpy if "torch" in vars(step) else np.asarray

    x, y, w1, w2 = make_batch(seed)
    seen, error = run_backward(backward, x, y, w1, w2, as_array)
    by_autograd = autograd_answers(x, y, w1, w2)
    by_fd = finite_differences(x, y, w1, w2)

    print(f"{os.path.basename(path)}: backward() on a float64 batch with "
          f"N, D_in, H, D_out = {N}, {D_in}, {H}, {D_out}")
    print(f"{'gradient':12} {'vs autograd: max diff':>22} {'rel err':>9}   "
          f"{'vs finite diff: max diff':>25} {'rel err':>9}   result")
    first_wrong = None
    for grad in GRADIENTS:
        if grad not in seen:
            print(f"{grad:12} {'not computed':>22}")
            first_wrong = first_wrong or grad
            continue
        auto_diff, auto_rel = compare(seen[grad], by_autograd[grad])
        fd_diff, fd_rel = compare(seen[grad], by_fd[grad])
        ok = auto_rel <= AUTOGRAD_RTOL and fd_rel <= FD_RTOL
        shape_note = "" if to_numpy(seen[grad]).shape == by_fd[grad].shape else " (wrong shape)"
        print(f"{grad:12} {auto_diff:22.3e} {auto_rel:9.1e}   {fd_diff:25.3e} {fd_rel:9.1e}   "
              f"{'ok' if ok else 'WRONG' + shape_note}")
        if not ok and first_wrong is None:
            first_wrong = grad

    if error is not None:
        frame = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
        where = f"line {frame[-1].lineno}: {frame[-1].line}" if frame else "backward()"
        print(f"backward() raised {type(error).__name__} at {where}\n  {error}")
        return False
    if first_wrong is None:
        print(f"all gradients match (relative error <= {AUTOGRAD_RTOL:g} against autograd, "
              f"<= {FD_RTOL:g} against finite differences)")
        return True
    print(f"first wrong gradient: {first_wrong}; look at")
    for lineno, line in lines_of(backward, first_wrong):
        print(f"  line {lineno}: {line}")
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", default=MANUAL_STEPS,
                        help="scripts with a hand-written backward() (default: steps 1 and 2)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the batch (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 <= args.seed < 2**32:                  # the steps' range, and their message
        parser.error(f"argument --seed: must be from 0 to 2**32 - 1, got {args.seed}")
    for path in args.scripts:
        if not os.path.isfile(path):
            parser.error(f"no such file: {path}")
    results = []
    for path in args.scripts:
        results.append(check(os.path.abspath(path), args.seed))
        print()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
