"""Step 6: the same network, with a torch.optim optimizer doing the update.

The net maps x (N, D_in) to y_pred (N, D_out) through one hidden ReLU layer with no biases:
y_pred = relu(x @ w1) @ w2. The loss is the sum of squared errors, and gradient descent trains
w1 and w2.

New since step 5 (two_layer_net_nn.py): the update is no longer written by hand. An optimizer
is given the model's parameters once; then every step is optimizer.zero_grad() (clear the old
gradients), loss.backward() (compute new ones) and optimizer.step() (update the weights).
With --optimizer sgd (the default) the step is our old update, w -= lr * grad.

--optimizer adam swaps in Adam, which keeps running averages of each weight's gradient and of
its square, and moves each weight by about lr in the direction of its averaged gradient, however
large or small the gradient itself is. Plain gradient descent moves by lr * grad, and our
gradients start large (medians of |grad| about 5e3 and 1.2e5, norms in the millions), hence
the tiny 1e-6. Adam's steps do not grow with the
gradient, so 1e-6 would leave our weights (of size about 1) nearly where they are: with
--optimizer adam the default learning rate is PyTorch's own default for Adam, 1e-3, unless you
give --lr.

Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss, which is why the learning rate for SGD is as small as 1e-6.

Run it:
    python two_layer_net_optim.py                      # SGD, on CUDA, else Apple MPS, else CPU
    python two_layer_net_optim.py --optimizer adam     # see --help for --steps, --lr, ...
"""
import argparse
import math
import os
import sys

import torch

# N: batch size; D_in: input size; H: hidden size; D_out: output size.
N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, LEARNING_RATE = 500, 1e-6
# Each optimizer, with the learning rate it gets when --lr is not given.
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}


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


def train(x, y, w1, w2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1,
          optimizer_name="sgd"):
    """Train w1 and w2 in place with the named optimizer; returns the loss of every step."""
    model = make_model(w1, w2)
    optimizer = OPTIMIZERS[optimizer_name][0](model.parameters(), lr=learning_rate)
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

        # Backprop to compute gradients of w1 and w2 with respect to loss; first clear the
        # gradients of the last step, which backward() would otherwise add to
        optimizer.zero_grad()
        loss.backward()

        # Update weights
        optimizer.step()
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
    parser.add_argument("--lr", type=positive_number, help="learning rate (default: " + ", ".join(
        f"{lr} for {name}" for name, (_, lr) in OPTIMIZERS.items()) + ")")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=0,
                        help="seed for the random data and weights (default: %(default)s)")
    parser.add_argument("--print-every", type=whole_number(0), default=1,
                        help="a loss line every this many steps; 0: none (default: %(default)s)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="floating-point type (default: %(default)s)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd",
                        help="how to update the weights (default: %(default)s)")
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
    learning_rate = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
    print(f"device: {device}, dtype: {args.dtype}, optimizer: {args.optimizer}, "
          f"lr: {learning_rate}", file=sys.stderr)
    x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, steps=args.steps, learning_rate=learning_rate,
              print_every=args.print_every, optimizer_name=args.optimizer)
    except FloatingPointError as error:
        print(f"{parser.prog}: {error} with --lr {learning_rate}; try a smaller --lr",
              file=sys.stderr)
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
