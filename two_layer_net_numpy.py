"""Step 1: a two-layer ReLU network trained with numpy, every gradient by hand.

The net maps x (N, D_in) to y_pred (N, D_out) through one hidden ReLU layer with no biases:
y_pred = relu(x @ w1) @ w2. The loss is the sum of squared errors, and plain gradient descent
trains w1 and w2. We write the backward pass ourselves, one line per chain-rule step.

New in this step: everything. numpy knows nothing about neural networks or gradients;
the next step (two_layer_net_tensor.py) does the same work with PyTorch tensors.

Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss, which is why the learning rate is as small as 1e-6.

Run it (numpy is the only requirement):
    python two_layer_net_numpy.py            # prints "step loss" for 500 steps
    python two_layer_net_numpy.py --help     # --steps, --lr, --seed, --print-every, --dtype
"""
import argparse
import math
import os
import sys

import numpy as np

# N: batch size; D_in: input size; H: hidden size; D_out: output size.
N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, LEARNING_RATE = 500, 1e-6


def make_data(seed, dtype):
    """Random inputs x, targets y and starting weights w1, w2 (standard normal)."""
    # Draw in float64, then convert: one seed gives the same starting numbers in both dtypes.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D_in)).astype(dtype)
    y = rng.standard_normal((N, D_out)).astype(dtype)
    w1 = rng.standard_normal((D_in, H)).astype(dtype)
    w2 = rng.standard_normal((H, D_out)).astype(dtype)
    return x, y, w1, w2


def forward(x, w1, w2):
    """Predicted y, keeping h and h_relu because the backward pass needs them."""
    h = x @ w1                    # (N, H)
    h_relu = np.maximum(h, 0)     # (N, H)
    y_pred = h_relu @ w2          # (N, D_out)
    return h, h_relu, y_pred


def compute_loss(y_pred, y):
    """Sum of squared errors, a numpy scalar."""
    return np.square(y_pred - y).sum()


def backward(x, y, w2, h, h_relu, y_pred):
    """Gradients of the loss with respect to w1 and w2, by the chain rule."""
    grad_y_pred = 2.0 * (y_pred - y)      # (N, D_out)
    grad_w2 = h_relu.T @ grad_y_pred      # (H, D_out)
    grad_h_relu = grad_y_pred @ w2.T      # (N, H)
    grad_h = grad_h_relu.copy()
    grad_h[h <= 0] = 0                    # ReLU passes the gradient only where h > 0
    grad_w1 = x.T @ grad_h                # (D_in, H)
    return grad_w1, grad_w2


def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients at (w1, w2); the arguments are left unchanged."""
    h, h_relu, y_pred = forward(x, w1, w2)
    grad_w1, grad_w2 = backward(x, y, w2, h, h_relu, y_pred)
    return float(compute_loss(y_pred, y)), grad_w1, grad_w2


def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on w1 and w2 in place; returns the loss of every step."""
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y
        h, h_relu, y_pred = forward(x, w1, w2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(float(loss))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss
        grad_w1, grad_w2 = backward(x, y, w2, h, h_relu, y_pred)

        # Update weights
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2
    return losses


def whole_number(lowest, highest=None):
    """An argparse type: a whole number in [lowest, highest]."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lowest or (highest is not None and value > highest):
            limits = f"at least {lowest}" if highest is None else f"from {lowest} to {highest}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value
    return parse


def positive_number(text):
    """An argparse type: a finite number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=whole_number(1), default=STEPS,
                        help="gradient-descent steps (default: %(default)s)")
    parser.add_argument("--lr", type=positive_number, default=LEARNING_RATE,
                        help="learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=0,
                        help="seed for the random data and weights (default: %(default)s)")
    parser.add_argument("--print-every", type=whole_number(0), default=1,
                        help="a loss line every this many steps; 0: none (default: %(default)s)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                        help="floating-point type (default: %(default)s)")
    return parser


def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        # Pasted into a notebook cell (Jupyter, VS Code, Colab), this code has no __file__,
        # and sys.argv holds the kernel's own arguments (-f .../kernel-....json), not the
        # user's: take the defaults. From a terminal, or with %run, the arguments are the user's.
        argv = []
    args = parser.parse_args(argv)
    x, y, w1, w2 = make_data(args.seed, np.dtype(args.dtype))
    try:
        # A diverging run is reported once, below, instead of as numpy overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            train(x, y, w1, w2, steps=args.steps, learning_rate=args.lr,
                  print_every=args.print_every)
    except FloatingPointError as error:
        print(f"{parser.prog}: {error} with --lr {args.lr}; try a smaller --lr", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output (say `head`) has gone; stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    exit_status = main()
    if exit_status:      # not sys.exit(0): a notebook shows any sys.exit() as an error
        sys.exit(exit_status)
