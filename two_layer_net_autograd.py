"""Step 3: the same network, with autograd computing the backward pass.

The net maps x (N, D_in) to y_pred (N, D_out) through one hidden ReLU layer with no biases:
y_pred = relu(x @ w1) @ w2. The loss is the sum of squared errors, and plain gradient descent
trains w1 and w2.

New since step 2 (two_layer_net_tensor.py): the weights are created with requires_grad=True,
so every operation on them is recorded in a graph, and loss.backward() walks that graph back
to fill w1.grad and w2.grad. The hand-written backward pass is gone, and the forward pass no
longer has to keep h and h_relu for it. Two new rules come with it: the update runs inside
torch.no_grad(), because it must not be recorded (and autograd refuses an in-place change to a
leaf that requires grad otherwise), and the gradients are cleared (set to None) after the
update, because backward() adds into .grad rather than overwriting it.

The ReLU is still h.clamp(min=0), and at exactly h == 0, where ReLU has no derivative, autograd
now picks for us: 0 from torch 2.14 on, like our hand-written mask, and 1 (the gradient passes)
in torch 2.13 and before. It shows: float32 training lands some h on exactly 0 (first at step
114 with seed 0 on the development machine), and before torch 2.14 this step's losses part
from step 2's from the next step on (README, FAQ on clamp).

Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss, which is why the learning rate is as small as 1e-6.

Run it:
    python two_layer_net_autograd.py                 # on CUDA, else Apple MPS, else the CPU
    python two_layer_net_autograd.py --device cpu    # see --help for --steps, --lr, --seed, ...
"""
import argparse
import math
import os
import sys

import torch

# N: batch size; D_in: input size; H: hidden size; D_out: output size.
N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, LEARNING_RATE = 500, 1e-6


def make_data(seed, dtype, device):
    """Random inputs x, targets y and starting weights w1, w2 (standard normal)."""
    # Draw on the CPU, then move and convert: one seed gives the same starting numbers
    # on every device and in both dtypes.
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D_in, generator=generator).to(device, dtype)
    y = torch.randn(N, D_out, generator=generator).to(device, dtype)
    # requires_grad: autograd should work out the loss's gradients for the weights. It is set
    # after .to(), so that w1 and w2 are leaves of the graph (where gradients are kept).
    w1 = torch.randn(D_in, H, generator=generator).to(device, dtype).requires_grad_()
    w2 = torch.randn(H, D_out, generator=generator).to(device, dtype).requires_grad_()
    return x, y, w1, w2


def forward(x, w1, w2):
    """Predicted y; autograd records every operation, so nothing else is kept."""
    h = x @ w1                    # (N, H)
    h_relu = h.clamp(min=0)       # (N, H)
    y_pred = h_relu @ w2          # (N, D_out)
    return y_pred


def compute_loss(y_pred, y):
    """Sum of squared errors, a tensor of shape ()."""
    return (y_pred - y).pow(2).sum()


def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients at (w1, w2); the arguments are left unchanged."""
    # Fresh leaves that share the numbers (not the .grad) of the weights we were given.
    w1 = w1.detach().requires_grad_()
    w2 = w2.detach().requires_grad_()
    loss = compute_loss(forward(x, w1, w2), y)
    loss.backward()
    return loss.item(), w1.grad, w2.grad


def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on w1 and w2 in place; returns the loss of every step.

    w1 and w2 must be leaves with requires_grad=True, as make_data returns them.
    """
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y (and record the graph)
        y_pred = forward(x, w1, w2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss
        loss.backward()              # fills w1.grad and w2.grad

        # Update weights, unrecorded; then clear the gradients, which backward() adds into
        # (setting them to None, rather than zeroing them, spares writing zeros and adding to them)
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad = None
            w2.grad = None
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


def available_devices():
    """The devices this machine can compute on, in the order --device auto tries them."""
    found = [name for name, ok in [("cuda", torch.cuda.is_available()),
                                   ("mps", torch.backends.mps.is_available())] if ok]
    return found + ["cpu"]


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
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="floating-point type (default: %(default)s)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                        help="auto picks cuda, then mps, then cpu (default: %(default)s)")
    return parser


def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        # Pasted into a notebook cell (Jupyter, VS Code, Colab), this code has no __file__,
        # and sys.argv holds the kernel's own arguments (-f .../kernel-....json), not the
        # user's: take the defaults. From a terminal, or with %run, the arguments are the user's.
        argv = []
    args = parser.parse_args(argv)
    available = available_devices()
    device = available[0] if args.device == "auto" else args.device
    if device not in available:
        parser.error(f"--device {device} is not available here; available: {', '.join(available)}")
    if device == "mps" and args.dtype == "float64":
        parser.error("--dtype float64 is not supported on mps; use --dtype float32")
    print(f"device: {device}, dtype: {args.dtype}", file=sys.stderr)
    x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, steps=args.steps, learning_rate=args.lr, print_every=args.print_every)
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
