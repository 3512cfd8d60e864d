"""Step 7: the same net, with a torch.optim optimizer doing the update.

New since step 6 (two_layer_net_nn.py): the update is no longer written by hand. An optimizer
is given the model's parameters once; then every step is optimizer.zero_grad(), loss.backward()
and optimizer.step(). --optimizer sgd (the default) is our old update, w -= lr * grad;
--optimizer adam moves each weight by about lr whatever the size of its gradient, so its
default learning rate is PyTorch's own, 1e-3, not our 1e-6.

Run it:  python two_layer_net_optim.py [--optimizer adam]   (on CUDA, else MPS, else the CPU)
"""
import argparse
import math
import os
import sys

import torch

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6
# Each optimizer, with the learning rate it gets when none is given (no --lr; in train(), None).
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
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
    """The loss and its gradients at (w1, w2), for the tests (training does not use it); the
    arguments are left unchanged."""
    model = make_model(w1, w2)
    loss = compute_loss(model(x), y)
    loss.backward()
    return loss.item(), model[0].weight.grad.T, model[2].weight.grad.T

def train(x, y, w1, w2, *, steps=STEPS, learning_rate=None, print_every=1,
          optimizer_name="sgd"):
    """Train w1 and w2 in place with the named optimizer; returns each training step's loss."""
    model = make_model(w1, w2)
    optimizer_class, default_rate = OPTIMIZERS[optimizer_name]   # e.g. torch.optim.SGD, 1e-6
    if learning_rate is None:
        learning_rate = default_rate
    optimizer = optimizer_class(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y by calling the model on x
        y_pred = model(x)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1 and w2 with respect to loss; first clear the
        # gradients of the last step, which backward() would otherwise add to
        optimizer.zero_grad()
        loss.backward()

        # Update weights
        optimizer.step()
    return losses

# --- The command line. The lesson is above: a first reading can stop here. -----------------------
def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps (at least 1)")
    parser.add_argument("--lr", type=float, help="learning rate (above 0); %(default)s: "
                        "1e-6 for sgd, 1e-3 for adam")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (0 to 2**32 - 1)")
    parser.add_argument("--print-every", type=int, default=1, help="0: print no loss")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="type")
    parser.add_argument("--optimizer", default="sgd", choices=list(OPTIMIZERS), help="update rule")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="auto: cuda, else mps, else cpu")
    return parser

def largest_lr(dtype, optimizer):
    """The largest --lr the optimizer takes in `dtype`: torch refuses a step to add to the weights
    (sgd: lr; adam, at its first step: lr / (1 - 0.9)) that is finite but overflows their dtype.
    float64 is Python's own float, so there no step does: any finite --lr is taken."""
    if dtype == "float64":
        return math.inf
    return torch.finfo(getattr(torch, dtype)).max * (1 - 0.9 if optimizer == "adam" else 1)

def main(argv=None):
    parser = build_parser()
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        argv = []     # pasted into a notebook cell: sys.argv is the kernel's; use the defaults
    args = parser.parse_args(argv)
    cap = largest_lr(args.dtype, args.optimizer)
    for option, value, ok, rule in [
            ("--steps", args.steps, args.steps >= 1, "at least 1"),
            ("--lr", args.lr, args.lr is None or 0 < args.lr < math.inf, "above 0 and finite"),
            ("--lr", args.lr, args.lr is None or args.lr <= cap, f"at most {cap} in {args.dtype}"),
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
    lr = OPTIMIZERS[args.optimizer][1] if args.lr is None else args.lr
    print(f"device: {device}, dtype: {args.dtype}, optimizer: {args.optimizer}, "
          f"lr: {lr}", file=sys.stderr)
    x, y, w1, w2 = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, steps=args.steps, learning_rate=lr,
              print_every=args.print_every, optimizer_name=args.optimizer)
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except FloatingPointError as error:
        print(f"{parser.prog}: {error} with --lr {lr}; try a smaller --lr", file=sys.stderr)
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
