"""Exercise 4.2, solved: step 4's engine with biases b1 and b2, and an add() operation for them.

Changed from two_layer_net_own_autograd.py: the net is y_pred = relu(x @ w1 + b1) @ w2 + b2,
the biases leaf Values that start at 0. The engine needs one more operation, add(a, b), where b
may be a single row added to every row of a, as a bias is (numpy broadcasts it). Its backward_fn
passes g on to a unchanged, and to b summed over those rows, since b was used in every one of
them: the shape of each input's gradient is the shape of that input. backward() itself does not
change. check_gradients.py checks add like the other operations, then the net's four gradients.

Check it:  python check_gradients.py solutions/own_autograd_biases.py
Run it:    python solutions/own_autograd_biases.py   (numpy is all it needs; --help)
"""
import argparse
import math
import os
import sys

import numpy as np

N, D_in, H, D_out = 64, 1000, 100, 10     # batch size; input, hidden and output sizes
STEPS, LEARNING_RATE = 500, 1e-6

class Value:
    """An array in the graph: a leaf we made, or the result of an operation on other Values.
    A Value is both torch's tensor and its node (grad_fn): name, inputs, backward_fn and saved
    are the node's, which record() fills in for an operation's result. A Value made by hand
    keeps the name torch prints for a leaf, AccumulateGrad, and no backward_fn."""

    def __init__(self, data, requires_grad=False):
        self.data = data                  # a numpy array, shared with the caller, not copied
        self.requires_grad = requires_grad
        self.grad = None                  # d loss / d data, filled by backward()
        self.name = "AccumulateGrad"      # its node's name, as step 3 prints torch's
        self.inputs = ()                  # the Values it was computed from; none for a leaf
        # g -> a tuple, a gradient per input, in order (None for one that needs none); None on
        # a leaf. It reads what it needs from the inputs, which the graph keeps, all of them.
        self.backward_fn = None
        self.saved = {}                   # only for show_graph: what torch's node would keep

def record(data, name, inputs, backward_fn, saved):
    """The Value of an operation on inputs: with its node if any input requires grad, else a
    plain Value, like x: there is nothing to differentiate."""
    value = Value(data, requires_grad=any(input_.requires_grad for input_ in inputs))
    if value.requires_grad:
        value.name, value.inputs, value.backward_fn, value.saved = name, inputs, backward_fn, saved
    return value

def mm(a, b):
    """a @ b; for its gradient g, a's is g @ b.T and b's is a.T @ g: each needs the other."""
    def backward_fn(g):
        return (g @ b.data.T if a.requires_grad else None,
                a.data.T @ g if b.requires_grad else None)
    saved = {}                    # torch's names for mm's inputs: self @ mat2
    if a.requires_grad:
        saved["mat2"] = b         # a's gradient needs b
    if b.requires_grad:
        saved["self"] = a         # b's gradient needs a
    return record(a.data @ b.data, "MmBackward", (a, b), backward_fn, saved)

def relu(a):
    """max(a, 0); the gradient passes where a > 0 and is 0 elsewhere, as in step 1."""
    return record(np.maximum(a.data, 0), "ReluBackward", (a,),
                  lambda g: (np.where(a.data > 0, g, 0.0),), {"self": a})

def add(a, b):
    """a + b, where b may be one row added to every row of a, as a bias is: b's gradient is then
    g summed over those rows, since b was used in each of them."""
    def backward_fn(g):
        grad_b = g.sum(axis=0) if b.data.ndim < g.ndim else g
        return (g if a.requires_grad else None, grad_b if b.requires_grad else None)
    return record(a.data + b.data, "AddBackward", (a, b), backward_fn, {})

def sub(a, b):
    return record(a.data - b.data, "SubBackward", (a, b),
                  lambda g: (g if a.requires_grad else None, -g if b.requires_grad else None), {})

def square(a):                   # torch names its node as pow's, as step 3's .pow(2)
    return record(np.square(a.data), "PowBackward", (a,), lambda g: (2.0 * a.data * g,),
                  {"exponent": 2, "self": a})

def total(a):
    """The sum of a's elements; each element's gradient is the sum's."""
    return record(a.data.sum(), "SumBackward", (a,), lambda g: (np.ones_like(a.data) * g,), {})

def visit(value, order, seen):
    """Append to order, depth first, the Values that value depends on, each after its inputs.
    (Recursive: fine for this net; Python stops it at about 1000 operations deep.)"""
    if value.requires_grad and id(value) not in seen:
        seen.add(id(value))
        for input_ in value.inputs:
            visit(input_, order, seen)
        order.append(value)

def backward(loss):
    """Fill the .grad of every Value that loss depends on and that requires grad. Unlike torch's,
    it keeps the .grad of every such Value, not only of leaves, and frees nothing: a second
    backward() on the same graph adds into the .grad of its intermediate Values again, and gives
    wrong gradients. Build a graph for each backward(), as train() does."""
    order = []
    visit(loss, order, seen=set())        # a topological order: each Value after its inputs
    loss.grad = np.ones_like(loss.data)   # d loss / d loss
    for value in reversed(order):         # a Value after all the Values it was used in
        if value.backward_fn is None:     # a leaf: its .grad is complete
            continue
        for input_, grad in zip(value.inputs, value.backward_fn(value.grad)):
            if grad is not None:          # add: a Value used twice gets both gradients
                input_.grad = grad if input_.grad is None else input_.grad + grad

def make_data(seed, dtype):
    """Random inputs x, targets y and starting weights w1, w2, as in step 1; the biases b1 and
    b2 start at 0."""
    rng = np.random.default_rng(seed)
    x, y, w1, w2 = [rng.standard_normal(shape).astype(dtype)
                    for shape in [(N, D_in), (N, D_out), (D_in, H), (H, D_out)]]
    b1, b2 = np.zeros(H, dtype), np.zeros(D_out, dtype)      # the biases start at 0
    return x, y, w1, b1, w2, b2

def as_values(x, y, w1, b1, w2, b2):
    """Values around the arrays: w1, b1, w2 and b2 are leaves that require grad, x and y data."""
    return (Value(x), Value(y), Value(w1, requires_grad=True), Value(b1, requires_grad=True),
            Value(w2, requires_grad=True), Value(b2, requires_grad=True))

def forward(x, w1, b1, w2, b2):
    """Predicted y, a Value; the graph it records holds h and h_relu, so forward need not
    return them as step 1's does."""
    h = add(mm(x, w1), b1)        # (N, H): b1 (H,) is added to every row
    h_relu = relu(h)              # (N, H)
    y_pred = add(mm(h_relu, w2), b2)      # (N, D_out)
    return y_pred

def compute_loss(y_pred, y):
    return total(square(sub(y_pred, y)))     # sum of squared errors, a Value of shape ()

def show_graph(loss, **names):
    """Print the graph, from the loss back to the leaves, in step 3's form; names names arrays,
    as in show_graph(loss, x=x)."""
    def name_of(value):
        return next((name for name, named in names.items() if named is value.data), "an array")

    def show(value, depth):
        line = "  " * depth + value.name
        if value.backward_fn is None:     # a leaf
            line += f": into {name_of(value)}.grad {value.data.shape}"
        saved = []                        # what its backward uses: Values by shape, and numbers
        for key, item in sorted(value.saved.items()):
            if isinstance(item, Value):
                saved.append(f"{key} = {name_of(item)} {item.data.shape}")
            else:
                saved.append(f"{key} = {item}")
        print(line + (", saved: " + ", ".join(saved) if saved else ""), file=sys.stderr)
        for input_ in value.inputs:
            if input_.requires_grad:      # x and y need no gradient: no node
                show(input_, depth + 1)

    print("the graph, from the loss back to the leaves:", file=sys.stderr)
    show(loss, 1)

def loss_and_grads(x, y, w1, b1, w2, b2):
    """The loss and its gradients at (w1, b1, w2, b2), for check_gradients.py and the tests
    (training does not use it); the arrays are left unchanged."""
    x, y, w1, b1, w2, b2 = as_values(x, y, w1, b1, w2, b2)
    loss = compute_loss(forward(x, w1, b1, w2, b2), y)
    backward(loss)
    return float(loss.data), w1.grad, b1.grad, w2.grad, b2.grad

def train(x, y, w1, b1, w2, b2, *, steps=STEPS, learning_rate=LEARNING_RATE, print_every=1):
    """Gradient descent on the arrays w1, b1, w2 and b2 in place; returns each step's loss."""
    x, y, w1, b1, w2, b2 = as_values(x, y, w1, b1, w2, b2)
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y (and record the graph)
        y_pred = forward(x, w1, b1, w2, b2)

        # Compute and print loss
        loss = compute_loss(y_pred, y)
        losses.append(float(loss.data))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the loss became {losses[-1]} at training step {t}")
        if print_every and t % print_every == 0:
            print(t, losses[-1])

        # Backprop to compute gradients of w1, b1, w2 and b2 with respect to loss
        backward(loss)               # fills w1.grad, b1.grad, w2.grad and b2.grad

        # Update weights: numpy on .data records nothing (no no_grad() needed); then clear
        # the gradients, which backward() adds into
        w1.data -= learning_rate * w1.grad
        b1.data -= learning_rate * b1.grad
        w2.data -= learning_rate * w2.grad
        b2.data -= learning_rate * b2.grad
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
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="type")
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
    x, y, w1, b1, w2, b2 = make_data(args.seed, np.dtype(args.dtype))
    if args.show_graph:     # the graph that the first training step's forward pass records
        x_value, y_value, *weights = as_values(x, y, w1, b1, w2, b2)
        show_graph(compute_loss(forward(x_value, *weights), y_value), x=x, w1=w1, b1=b1, w2=w2,
                   b2=b2)
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
