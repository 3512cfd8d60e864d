"""Step 2: the same net with PyTorch tensors; the backward pass is still by hand.

New since step 1 (two_layer_net_numpy.py): numpy arrays become torch tensors, which can also
live on a GPU. The maths is line for line the same: np.maximum(h, 0) becomes h.clamp(min=0),
and .copy() becomes .clone(). Tensors can also work out gradients for us: that is step 3.

Run it:  python two_layer_net_tensor.py   (on CUDA, else Apple MPS, else the CPU; --help)
"""
import argparse
import math
import os
import sys

import torch

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    return x, y, w1, w2

def forward(x, w1, w2):
    """Predicted y, keeping h and h_relu because the backward pass needs them."""
    h = x @ w1                    # (N, H)
    h_relu = h.clamp(min=0)       # (N, H)
    y_pred = h_relu @ w2          # (N, D_out)
    return h, h_relu, y_pred

def compute_loss(y_pred, y):
    return (y_pred - y).pow(2).sum()      # sum of squared errors, a tensor of shape ()

def backward(x, y, w2, h, h_relu, y_pred):
    """Gradients of the loss with respect to w1 and w2, by the chain rule."""
    grad_y_pred = 2.0 * (y_pred - y)      # (N, D_out)
    grad_w2 = h_relu.T @ grad_y_pred      # (H, D_out)
    grad_h_relu = grad_y_pred @ w2.T      # (N, H)
    grad_h = grad_h_relu.clone()
    grad_h[h <= 0] = 0                    # ReLU passes the gradient only where h > 0
    grad_w1 = x.T @ grad_h                # (D_in, H)
    return grad_w1, grad_w2

def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients at (w1, w2), for the tests (training does not use it); the
    arguments are left unchanged."""
    h, h_relu, y_pred = forward(x, w1, w2)
    grad_w1, grad_w2 = backward(x, y, w2, h, h_relu, y_pred)
    return compute_loss(y_pred, y).item(), grad_w1, grad_w2

def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on w1 and w2 in place; returns the loss of every training step."""
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y
        h, h_relu, y_pred = forward(x, w1, w2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss
        grad_w1, grad_w2 = backward(x, y, w2, h, h_relu, y_pred)

        # Update weights
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2
    return losses

# --- The command line. The lesson is above: a first reading can stop here. -----------------------
def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps (at least 1)")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate (above 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0 to 2**32 - 1)")
    parser.add_argument("--print-every", type=int, default=1, help="0: print no loss")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="type")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="auto: cuda, else mps, else cpu")
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
    available = [name for name, found in [("cuda", torch.cuda.is_available()),
                                          ("mps", torch.backends.mps.is_available()),
                                          ("cpu", True)] if found]
    device = available[0] if args.device == "auto" else args.device
    if device not in available:
        parser.error(f"--device {device} is not available here; available: {', '.join(available)}")
    if device == "mps" and args.dtype == "float64":
        parser.error("--dtype float64 is not supported on mps; use --dtype float32 or --device cpu")
    print(f"device: {device}, dtype: {args.dtype}", file=sys.stderr)
    x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, steps=args.steps, learning_rate=args.lr, print_every=args.print_every)
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
