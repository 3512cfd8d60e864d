"""Exercise 5.1, solved: step 5 with a leaky ReLU as our own autograd Function.

Changed from two_layer_net_custom_function.py: MyLeakyReLU in place of MyReLU. Its forward
returns h where h > 0 and 0.01 * h elsewhere, and saves h; its backward multiplies the gradient
by 0.01 where h <= 0 (the slope there), rather than setting it to 0. --gradcheck runs
torch.autograd.gradcheck on it, in float64 and away from the kink at 0, as step 5 does on MyReLU:
with the slope wrong in backward (or in forward alone), it fails and prints both Jacobians.

Check it:  python solutions/custom_function_leaky_relu.py --gradcheck
Run it:    python solutions/custom_function_leaky_relu.py   (on CUDA, else Apple MPS, else the CPU)
"""
import argparse
import math
import os
import sys

import torch
from torch.autograd.gradcheck import GradcheckError

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6
SLOPE = 0.01                              # the leaky ReLU's slope below 0

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    return x, y, w1.requires_grad_(), w2.requires_grad_()    # leaves, as in step 3

class MyLeakyReLU(torch.autograd.Function):
    """A leaky ReLU with a hand-written backward; autograd calls it like any built-in one."""

    @staticmethod
    def forward(ctx, h):
        ctx.save_for_backward(h)          # backward needs to know where h <= 0
        return torch.where(h > 0, h, SLOPE * h)

    @staticmethod
    def backward(ctx, grad_h_relu):
        (h,) = ctx.saved_tensors
        # A copy: the gradient autograd hands us is not ours to change.
        grad_h = grad_h_relu.clone()
        grad_h[h <= 0] *= SLOPE           # its slope below 0 (and at exactly h == 0)
        return grad_h

def check_my_leaky_relu():
    """MyLeakyReLU's backward against finite differences of its forward, by
    torch.autograd.gradcheck: True, or an error showing both Jacobians. In float64: gradcheck
    steps each input by 1e-6, which float32 (spacing near 1: about 1e-7) rounds badly, and a
    right backward fails. Away from 0: a difference within 1e-6 of the kink at 0 straddles it
    and matches neither side."""
    h = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h = (h + 0.1 * h.sign()).requires_grad_()      # every entry at least 0.1 away: a margin
    return torch.autograd.gradcheck(MyLeakyReLU.apply, (h,))

def forward(x, w1, w2):
    """Predicted y; autograd records every operation, so nothing else is kept."""
    h = x @ w1                    # (N, H)
    h_relu = MyLeakyReLU.apply(h)      # (N, H); .apply records the node: forward() alone would not
    y_pred = h_relu @ w2          # (N, D_out)
    return y_pred

def compute_loss(y_pred, y):
    return (y_pred - y).pow(2).sum()      # sum of squared errors, a tensor of shape ()

def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients at (w1, w2), on fresh leaves, for the tests (training does not use
    it); the arguments are left unchanged."""
    w1, w2 = w1.detach().requires_grad_(), w2.detach().requires_grad_()
    loss = compute_loss(forward(x, w1, w2), y)
    loss.backward()
    return loss.item(), w1.grad, w2.grad

def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on the leaves w1 and w2 in place; returns each training step's loss."""
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y (and record the graph)
        y_pred = forward(x, w1, w2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss
        loss.backward()              # fills w1.grad and w2.grad

        # Update weights, unrecorded; then clear the gradients, which backward() adds into
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad = None
            w2.grad = None
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
    parser.add_argument("--gradcheck", action="store_true", help="instead of training, check "
                        "MyLeakyReLU's backward with torch.autograd.gradcheck (float64, on "
                        "the CPU)")
    return parser

def run_gradcheck(prog):
    try:
        check_my_leaky_relu()
        print("gradcheck passed: MyLeakyReLU's backward agrees with finite differences of its "
              "forward")
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except (GradcheckError, RuntimeError) as error:     # a wrong backward (in a copy): why
        print(f"{prog}: gradcheck failed: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0

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
    if args.gradcheck:          # float64 on the CPU, whatever --device and --dtype say
        return run_gradcheck(parser.prog)
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
