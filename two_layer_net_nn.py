"""Step 5: the same network, built from torch.nn layers and a torch.nn loss.

The net maps x (N, D_in) to y_pred (N, D_out) through one hidden ReLU layer with no biases:
y_pred = relu(x @ w1) @ w2. The loss is the sum of squared errors, and plain gradient descent
trains w1 and w2.

New since step 4 (two_layer_net_custom_function.py): torch.nn packages the pieces. The model
is nn.Sequential(Linear, ReLU, Linear); it owns its weights as Parameters (tensors with
requires_grad=True), and calling model(x) runs the forward pass. nn.MSELoss(reduction="sum")
is the sum of squared errors. The update loops over model.parameters() under torch.no_grad()
with param.sub_(param.grad, alpha=learning_rate), which is param -= learning_rate * param.grad
in place, without a temporary tensor for the product; then model.zero_grad() clears every
gradient at once. On the CPU, step 6's SGD optimizer prints exactly the same losses as this step.

Two details to know:
- nn.Linear stores its weight as (out_features, in_features) and computes x @ weight.T, so
  its weight is the transpose of our w1. We give the layers w1.T and w2.T, which keeps "the
  same net" literally true: for one seed this step prints the losses of steps 2 to 4, up
  to float32 rounding (its operations differ, so they round differently).
- nn.ReLU gives gradient 0 at exactly h == 0, as our ReLUs of steps 1, 2 and 4 do (and
  clamp(min=0) of step 3 from torch 2.14 on). Float32 training does land some hidden units on
  exactly 0 (README, FAQ on clamp), and there this choice is what keeps the steps together.

Why not nn.Linear's own initialisation? It draws each weight uniformly from +-1/sqrt(fan_in)
(about +-0.03 for the first layer), not from a standard normal, so the loss starts in the
hundreds, not near 3e7, and the gradients are small: a learning rate of 1e-6 barely moves it,
while 1e-4 trains it well. We keep the tutorial's start so that every step can be compared.

Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss, which is why the learning rate is as small as 1e-6.

Run it:
    python two_layer_net_nn.py                 # on CUDA, else Apple MPS, else the CPU
    python two_layer_net_nn.py --device cpu    # see --help for --steps, --lr, --seed, ...
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
    w1 = torch.randn(D_in, H, generator=generator).to(device, dtype)
    w2 = torch.randn(H, D_out, generator=generator).to(device, dtype)
    return x, y, w1, w2


def make_model(w1, w2):
    """The net as torch.nn layers, starting from w1 and w2 and sharing their memory."""
    model = torch.nn.Sequential(
        torch.nn.Linear(w1.shape[0], w1.shape[1], bias=False),     # D_in -> H
        torch.nn.ReLU(),
        torch.nn.Linear(w2.shape[0], w2.shape[1], bias=False),     # H -> D_out
    )
    # nn.Linear's weight is (out, in): the transposed views w1.T and w2.T share memory with
    # w1 and w2, so training the model trains w1 and w2 in place.
    model[0].weight = torch.nn.Parameter(w1.T)
    model[2].weight = torch.nn.Parameter(w2.T)
    return model


# Sum of squared errors, as before (the default reduction, "mean", would divide by N * D_out).
compute_loss = torch.nn.MSELoss(reduction="sum")


def loss_and_grads(x, y, w1, w2):
    """The loss and its gradients at (w1, w2); the arguments are left unchanged."""
    model = make_model(w1, w2)
    loss = compute_loss(model(x), y)
    loss.backward()
    return loss.item(), model[0].weight.grad.T, model[2].weight.grad.T


def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on w1 and w2 in place; returns the loss of every step."""
    model = make_model(w1, w2)
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y by calling the model on x
        y_pred = model(x)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss
        loss.backward()              # fills .grad of every parameter of the model

        # Update weights, unrecorded: param.sub_(param.grad, alpha=learning_rate) is
        # param -= learning_rate * param.grad without a temporary tensor for the product.
        # Then clear the gradients, which backward() adds into
        with torch.no_grad():
            for param in model.parameters():
                param.sub_(param.grad, alpha=learning_rate)
        model.zero_grad()
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
