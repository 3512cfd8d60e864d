"""Step 8: a dynamic network, whose graph is rebuilt, differently, at every step.

The net maps x (N, D_in) to y_pred (N, D_out) like the two-layer net of steps 1 to 7, with one
change: between the two layers, a middle layer (H -> H, with a ReLU) is applied a random
number of times, from 0 to 3, drawn afresh at every step. At depth 0 it is the two-layer net.

New since step 7 (two_layer_net_module.py): forward() uses plain Python control flow, a for
loop whose length changes from step to step, and reuses one layer several times. That works
because PyTorch builds the graph as the forward pass runs (define-by-run): each step's graph
is exactly what ran, and loss.backward() follows it. Reusing a layer is weight sharing: its
weight gets one gradient from each use, and autograd adds them up.

What else changes, and why: the weights are no longer drawn from a plain standard normal. A
layer with standard-normal weights multiplies the size of its input by about sqrt(fan_in / 2)
(about 7 for the middle layer), so the loss would jump by orders of magnitude with the random
depth, and plain gradient descent diverges. Scaling each weight by sqrt(2 / fan_in) (He
initialisation; sqrt(1 / fan_in) for the last layer, which has no ReLU after it) keeps the
size steady at every depth. The loss then starts in the thousands, not near 3e7, and SGD
wants a learning rate of 1e-4. The depth is drawn from Python's random.Random, seeded with
--seed, so a rerun prints the same losses.

Teaching simplifications, on purpose: random data (the net memorises noise), no biases,
and a summed loss.

Run it:
    python dynamic_net.py                      # SGD, on CUDA, else Apple MPS, else the CPU
    python dynamic_net.py --optimizer adam     # see --help for --steps, --lr, --seed, ...
"""
import argparse
import math
import os
import random
import sys

import torch

# N: batch size; D_in: input size; H: hidden size; D_out: output size.
N, D_in, H, D_out = 64, 1000, 100, 10
STEPS, LEARNING_RATE = 500, 1e-4
# Each optimizer, with the learning rate it gets when --lr is not given.
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}


def make_data(seed, dtype, device):
    """Random inputs x, targets y and starting weights w1, w2, w_middle (He-scaled normal)."""
    # Draw on the CPU, then move and convert: one seed gives the same starting numbers
    # on every device and in both dtypes.
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D_in, generator=generator).to(device, dtype)
    y = torch.randn(N, D_out, generator=generator).to(device, dtype)
    w1 = (torch.randn(D_in, H, generator=generator) * math.sqrt(2 / D_in)).to(device, dtype)
    w2 = (torch.randn(H, D_out, generator=generator) * math.sqrt(1 / H)).to(device, dtype)
    w_middle = (torch.randn(H, H, generator=generator) * math.sqrt(2 / H)).to(device, dtype)
    return x, y, w1, w2, w_middle


class DynamicNet(torch.nn.Module):
    """The two-layer net with a middle layer applied `depth` times between its layers."""

    def __init__(self, w1, w2, w_middle):
        super().__init__()
        self.input_linear = torch.nn.Linear(w1.shape[0], w1.shape[1], bias=False)    # D_in -> H
        self.middle_linear = torch.nn.Linear(w_middle.shape[0], w_middle.shape[1], bias=False)
        self.output_linear = torch.nn.Linear(w2.shape[0], w2.shape[1], bias=False)   # H -> D_out
        # As in step 5: the transposed views share memory with the weights we were given.
        self.input_linear.weight = torch.nn.Parameter(w1.T)
        self.middle_linear.weight = torch.nn.Parameter(w_middle.T)
        self.output_linear.weight = torch.nn.Parameter(w2.T)

    def forward(self, x, depth):
        h_relu = torch.relu(self.input_linear(x))             # (N, H)
        for _ in range(depth):                                # plain Python: any depth works
            h_relu = torch.relu(self.middle_linear(h_relu))   # the same layer, reused
        y_pred = self.output_linear(h_relu)                   # (N, D_out)
        return y_pred


# Sum of squared errors, as before (the default reduction, "mean", would divide by N * D_out).
compute_loss = torch.nn.MSELoss(reduction="sum")


def loss_and_grads(x, y, w1, w2, w_middle, depth):
    """The loss at a fixed depth and its gradients for w1, w2 and w_middle (in their layout);
    the arguments are left unchanged."""
    model = DynamicNet(w1, w2, w_middle)
    loss = compute_loss(model(x, depth), y)
    loss.backward()
    grad_w_middle = model.middle_linear.weight.grad
    if grad_w_middle is None:        # at depth 0 the middle layer is unused: no .grad at all
        grad_w_middle = torch.zeros_like(w_middle.T)
    return (loss.item(), model.input_linear.weight.grad.T, model.output_linear.weight.grad.T,
            grad_w_middle.T)


def train(x, y, w1, w2, w_middle, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1,
          optimizer_name="sgd", seed=0):
    """Train the weights in place with the named optimizer; returns the loss of every step.

    The depth of every step is drawn from random.Random(seed).
    """
    depths = random.Random(seed)
    model = DynamicNet(w1, w2, w_middle)
    optimizer = OPTIMIZERS[optimizer_name][0](model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        # Forward pass: a new graph at every step, as deep as this step's draw
        depth = depths.randint(0, 3)
        y_pred = model(x, depth)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute the gradients of the weights with respect to loss; first clear the
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
    x, y, w1, w2, w_middle = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, w_middle, steps=args.steps, learning_rate=learning_rate,
              print_every=args.print_every, optimizer_name=args.optimizer, seed=args.seed)
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
