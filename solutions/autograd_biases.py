"""Exercise 3.1, solved: step 3 with biases b1 and b2, their gradients by autograd.

Changed from two_layer_net_autograd.py: the net is y_pred = relu(x @ w1 + b1) @ w2 + b2. The
biases start at 0 and require grad, as w1 and w2 do, so they are leaves of the graph; that is
all their gradients need. Autograd records the two additions (AddBackward0 in --show-graph),
whose backward passes the gradient on unchanged; autograd then sums it over the rows each bias
was added to, down to the bias's shape, as exercise 1.1's grad_b1 and grad_b2 do by hand. The
update, and the clearing of .grad, cover four tensors now, and --show-graph names the biases.

Check it:  python solutions/autograd_biases.py --show-graph --steps 1
Run it:    python solutions/autograd_biases.py   (on CUDA, else Apple MPS, else the CPU; --help)
"""
import argparse
import math
import os
import sys

import torch

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6

def make_data(seed, dtype, device):
    """Random x, y and starting w1, w2, drawn on the CPU (the same on every device), then moved;
    the biases b1 and b2 start at 0."""
    generator = torch.Generator().manual_seed(seed)
    x, y, w1, w2 = [torch.randn(*shape, generator=generator).to(device, dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    b1 = torch.zeros(H, device=device, dtype=dtype)         # the biases start at 0
    b2 = torch.zeros(D_out, device=device, dtype=dtype)
    # requires_grad, set after .to() (which, on a tensor that requires grad, would return a
    # computed copy): w1, b1, w2 and b2 are leaves of the graph, where .grad is kept
    return (x, y, w1.requires_grad_(), b1.requires_grad_(), w2.requires_grad_(),
            b2.requires_grad_())

def forward(x, w1, b1, w2, b2):
    """Predicted y; autograd records every operation, so nothing else is kept."""
    h = x @ w1 + b1               # (N, H): b1 (H,) is added to every row
    h_relu = h.clamp(min=0)       # (N, H)
    y_pred = h_relu @ w2 + b2     # (N, D_out)
    return y_pred

def compute_loss(y_pred, y):
    return (y_pred - y).pow(2).sum()      # sum of squared errors, a tensor of shape ()

def loss_and_grads(x, y, w1, b1, w2, b2):
    """The loss and its gradients at (w1, b1, w2, b2), on fresh leaves, for the tests (training
    does not use it); the arguments are left unchanged."""
    w1, b1, w2, b2 = [weight.detach().requires_grad_() for weight in (w1, b1, w2, b2)]
    loss = compute_loss(forward(x, w1, b1, w2, b2), y)
    loss.backward()
    return loss.item(), w1.grad, b1.grad, w2.grad, b2.grad

def show_graph(loss, **names):
    """Print the graph autograd recorded, from the loss back to the leaves: a node per recorded
    operation, with the tensors and numbers it saved for its backward (not sizes or strides), and
    an AccumulateGrad per leaf; names names tensors, as in show_graph(loss, x=x)."""
    def name_of(tensor):
        return next((name for name, named in names.items() if named is tensor), "a tensor")

    def show(node, depth):
        line = "  " * depth + type(node).__name__
        if hasattr(node, "variable"):            # AccumulateGrad: the end of a path, at a leaf
            line += f": into {name_of(node.variable)}.grad {tuple(node.variable.shape)}"
        saved = []                               # what backward will need: node._saved_*
        for key in dir(node):
            value = getattr(node, key) if key.startswith("_saved_") else None
            if torch.is_tensor(value):
                saved.append(f"{key[len('_saved_'):]} = {name_of(value)} {tuple(value.shape)}")
            elif isinstance(value, (int, float)):     # a number, such as pow's exponent 2
                saved.append(f"{key[len('_saved_'):]} = {value}")
        print(line + (", saved: " + ", ".join(saved) if saved else ""), file=sys.stderr)
        for next_node, _ in node.next_functions:
            if next_node is not None:            # None: an input that needs no gradient (x, y)
                show(next_node, depth + 1)

    print("the graph, from the loss back to the leaves:", file=sys.stderr)
    show(loss.grad_fn, 1)

def train(x, y, w1, b1, w2, b2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on the leaves w1, b1, w2 and b2 in place; returns each step's loss."""
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y (and record the graph)
        y_pred = forward(x, w1, b1, w2, b2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1, b1, w2 and b2 with respect to loss
        loss.backward()              # fills w1.grad, b1.grad, w2.grad and b2.grad

        # Update weights, unrecorded; then clear the gradients, which backward() adds into
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            b1 -= learning_rate * b1.grad
            w2 -= learning_rate * w2.grad
            b2 -= learning_rate * b2.grad
            w1.grad = None
            b1.grad = None
            w2.grad = None
            b2.grad = None
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
    parser.add_argument("--show-graph", action="store_true",
                        help="first print the graph of a forward pass and loss on stderr")
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
    x, y, w1, b1, w2, b2 = make_data(args.seed, getattr(torch, args.dtype), device)
    if args.show_graph:     # the graph that the first training step's forward pass records
        show_graph(compute_loss(forward(x, w1, b1, w2, b2), y), x=x, y=y, w1=w1, b1=b1, w2=w2,
                   b2=b2)
    try:
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
