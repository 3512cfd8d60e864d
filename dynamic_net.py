"""Step 9: a dynamic net, whose graph is built afresh, and differently, at every training step.

New since step 8 (two_layer_net_module.py): between the two layers a middle layer (H -> H, with
a ReLU) runs a random number of times, 0 to 3, drawn at every training step. forward() is plain
Python: a loop whose length changes, reusing one layer. PyTorch records the graph as the forward
pass runs (define-by-run), so backward() follows whatever ran, and the reused weight gets the
sum of its uses' gradients. Each weight is scaled by sqrt(2 / fan_in) (sqrt(1 / fan_in) for the
output layer, which has no ReLU after it), fan_in being the number of inputs a unit sums, so
that the loss stays steady at every depth; it then starts in the thousands, and SGD wants a
learning rate of 1e-4.

Run it:  python dynamic_net.py [--optimizer adam]   (on CUDA, else Apple MPS, else the CPU)
"""
import argparse
import math
import os
import random
import sys

import torch

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-4
# Each optimizer, with the learning rate it gets when none is given (no --lr; in train(), None).
OPTIMIZERS = {"sgd": (torch.optim.SGD, LEARNING_RATE), "adam": (torch.optim.Adam, 1e-3)}

def make_data(seed, dtype, device):
    """Random x, y and scaled starting w1, w2, w_middle, drawn on the CPU, then moved."""
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
        # As in step 6: the transposed views share memory with the weights we were given.
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
    """The loss at a fixed depth and its gradients for w1, w2 and w_middle (unchanged)."""
    model = DynamicNet(w1, w2, w_middle)
    loss = compute_loss(model(x, depth), y)
    loss.backward()
    grad_w_middle = model.middle_linear.weight.grad
    if grad_w_middle is None:        # at depth 0 the middle layer is unused: no .grad at all
        grad_w_middle = torch.zeros_like(w_middle.T)
    return (loss.item(), model.input_linear.weight.grad.T, model.output_linear.weight.grad.T,
            grad_w_middle.T)

def train(x, y, w1, w2, w_middle, *, steps=STEPS, learning_rate=None, print_every=1,
          optimizer_name="sgd", seed=0):
    """Train the weights in place with the named optimizer; returns the loss of every training step.
    The depth of every step is drawn from random.Random(seed)."""
    depth_rng = random.Random(seed)
    model = DynamicNet(w1, w2, w_middle)
    optimizer_class, default_rate = OPTIMIZERS[optimizer_name]   # e.g. torch.optim.SGD, 1e-4
    if learning_rate is None:
        learning_rate = default_rate
    optimizer = optimizer_class(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        # Forward pass: a new graph at every step, as deep as this step's draw
        depth = depth_rng.randint(0, 3)     # 0, 1, 2 or 3: Python's randint includes 3
        y_pred = model(x, depth)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute the gradients of the weights with respect to loss; first clear the
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
                        "1e-4 for sgd, 1e-3 for adam")
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
    x, y, w1, w2, w_middle = make_data(args.seed, getattr(torch, args.dtype), device)
    try:
        train(x, y, w1, w2, w_middle, steps=args.steps, learning_rate=lr,
              print_every=args.print_every, optimizer_name=args.optimizer, seed=args.seed)
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
