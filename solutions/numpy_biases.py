"""Exercise 1.1, solved: step 1 with biases b1 and b2, and their gradients by hand.

Changed from two_layer_net_numpy.py: the net is y_pred = relu(x @ w1 + b1) @ w2 + b2. The
biases start at 0 and are trained as w1 and w2 are. A bias is added to every row of the batch,
so its gradient is the sum over the rows of the gradient of what it was added to:
grad_b2 = grad_y_pred.sum(axis=0) and grad_b1 = grad_h.sum(axis=0). backward() needs nothing
new to compute them, so it takes the same arguments as step 1's; it returns four gradients.

Check it:  python check_gradients.py solutions/numpy_biases.py
Run it:    python solutions/numpy_biases.py   (--help lists the options, step 1's)
"""
import argparse
import math
import os
import sys

import numpy as np

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6

def make_data(seed, dtype):
    """Random inputs x, targets y and starting weights w1, w2, drawn in float64, then cast;
    the biases b1 and b2 start at 0."""
    rng = np.random.default_rng(seed)
    x, y, w1, w2 = [rng.standard_normal(shape).astype(dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    b1, b2 = np.zeros(H, dtype), np.zeros(D_out, dtype)      # the biases start at 0
    return x, y, w1, b1, w2, b2

def forward(x, w1, b1, w2, b2):
    """Predicted y, keeping h and h_relu because the backward pass needs them."""
    h = x @ w1 + b1               # (N, H): b1 (H,) is added to every row
    h_relu = np.maximum(h, 0)     # (N, H)
    y_pred = h_relu @ w2 + b2     # (N, D_out)
    return h, h_relu, y_pred

def compute_loss(y_pred, y):
    """Sum of squared errors, a numpy scalar."""
    return np.square(y_pred - y).sum()

def backward(x, y, w2, h, h_relu, y_pred):
    """Gradients of the loss with respect to w1, b1, w2 and b2, by the chain rule."""
    grad_y_pred = 2.0 * (y_pred - y)      # (N, D_out)
    grad_w2 = h_relu.T @ grad_y_pred      # (H, D_out)
    grad_b2 = grad_y_pred.sum(axis=0)     # (D_out,): b2 was added to every row
    grad_h_relu = grad_y_pred @ w2.T      # (N, H)
    grad_h = grad_h_relu.copy()
    grad_h[h <= 0] = 0                    # ReLU passes the gradient only where h > 0
    grad_w1 = x.T @ grad_h                # (D_in, H)
    grad_b1 = grad_h.sum(axis=0)          # (H,): b1 was added to every row
    return grad_w1, grad_b1, grad_w2, grad_b2

def loss_and_grads(x, y, w1, b1, w2, b2):
    """The loss and its gradients at (w1, b1, w2, b2), for the tests (training does not use it); the
    arguments are left unchanged."""
    h, h_relu, y_pred = forward(x, w1, b1, w2, b2)
    grad_w1, grad_b1, grad_w2, grad_b2 = backward(x, y, w2, h, h_relu, y_pred)
    return float(compute_loss(y_pred, y)), grad_w1, grad_b1, grad_w2, grad_b2

def train(x, y, w1, b1, w2, b2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on w1, b1, w2 and b2 in place; returns the loss of every step."""
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y
        h, h_relu, y_pred = forward(x, w1, b1, w2, b2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(float(loss))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1, b1, w2 and b2 with respect to loss
        grad_w1, grad_b1, grad_w2, grad_b2 = backward(x, y, w2, h, h_relu, y_pred)

        # Update weights
        w1 -= learning_rate * grad_w1
        b1 -= learning_rate * grad_b1
        w2 -= learning_rate * grad_w2
        b2 -= learning_rate * grad_b2
    return losses

# --- The command line. The lesson is above: a first reading can stop here. -----------------------
def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps (at least 1)")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate (above 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0 to 2**32 - 1)")
    parser.add_argument("--print-every", type=int, default=1, help="0: print no loss")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="type")
    return parser

def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        argv = []     # pasted into a notebook cell: sys.argv is the kernel's; use the defaults
    args = parser.parse_args(argv)
    for option, value, ok, rule in [
            ("--steps", args.steps, args.steps >= 1, "at least 1"),
            ("--lr", args.lr, 0 < args.lr < math.inf, "above 0 and finite"),
            ("--seed", args.seed, 0 <= args.seed < 2**32, "from 0 to 2**32 - 1"),
            ("--print-every", args.print_every, args.print_every >= 0, "at least 0")]:
        if not ok:
            parser.error(f"argument {option}: must be {rule}, got {value}")
    x, y, w1, b1, w2, b2 = make_data(args.seed, np.dtype(args.dtype))
    try:
        with np.errstate(over="ignore", invalid="ignore"):   # reported below, once
            train(x, y, w1, b1, w2, b2, steps=args.steps, learning_rate=args.lr,
                  print_every=args.print_every)
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except FloatingPointError as error:
        print(f"{parser.prog}: {error} with --lr {args.lr}; try a smaller --lr", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0

if __name__ == "__main__":
    if exit_status := main():    # not sys.exit(0): a notebook shows any sys.exit() as an error
        sys.exit(exit_status)
