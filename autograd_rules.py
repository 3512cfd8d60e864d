"""Autograd's rules, each shown by a few lines that run: what every autograd user trips on.

Step 3 (two_layer_net_autograd.py) uses autograd; each function below tries one of its rules
on tiny tensors and prints what happened. Read a function, guess what it prints, then run it.

Run it:  python autograd_rules.py            (every rule, in order)
         python autograd_rules.py leaves     (one; --help lists them)
"""
import argparse
import os
import sys
import warnings

import torch


def first_sentence(message):
    return str(message).split(". ")[0]


def leaves():
    """.grad fills only on leaves (tensors we made); retain_grad() keeps a non-leaf's too."""
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)    # a leaf: made by us
    h = w * 2                                                  # computed from w: not a leaf
    y = h * h
    y.sum().backward()
    print(f"w.is_leaf: {w.is_leaf}, w.grad: {w.grad}")
    with warnings.catch_warnings(record=True) as caught:       # torch warns of h.grad: show it
        warnings.simplefilter("always")
        print(f"h.is_leaf: {h.is_leaf}, h.grad: {h.grad}")     # None: not kept
    for warning in caught:
        print(f"  {warning.category.__name__}: {first_sentence(warning.message)}")
    h = w * 2
    h.retain_grad()                                            # keep h's gradient this time
    (h * h).sum().backward()
    print(f"after h.retain_grad(): h.grad: {h.grad}")


def requires_grad_spreads():
    """A result requires grad when any of its inputs does, and remembers how it was made."""
    x = torch.tensor([1.0, 2.0])                               # data: no gradient wanted
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    print(f"x * 2: requires_grad {(x * 2).requires_grad}, grad_fn {(x * 2).grad_fn}")
    print(f"x * w: requires_grad {(x * w).requires_grad}, grad_fn {(x * w).grad_fn.name()}")


def backward_wants_a_scalar():
    """backward() wants a scalar, or a vector v: it computes the gradient of (v * y).sum().

    That is a vector-Jacobian product, v^T J: for a scalar loss v is 1; for a tensor y, you
    give v as gradient=."""
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = w * w                                                  # three outputs: which gradient?
    try:
        y.backward()
    except RuntimeError as error:
        print(f"y.backward(): RuntimeError: {first_sentence(error)}")
    v = torch.tensor([1.0, 1.0, 1.0])
    y.backward(gradient=v)                                     # v^T J, with J = diag(2 w)
    print(f"y.backward(gradient={v}): w.grad {w.grad}, the gradient of y.sum()")


def the_graph_is_freed():
    """backward() frees what the graph saved; retain_graph=True keeps it for another walk."""
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()                                            # adds into w.grad: 2 * 2 w
    print(f"two backward() calls, the first with retain_graph=True: w.grad {w.grad}")
    try:
        loss.backward()
    except RuntimeError as error:
        print(f"a third: RuntimeError: {first_sentence(error)}")


def in_place_on_a_saved_tensor():
    """Changing in place a tensor that backward needs is caught when backward runs."""
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = w.exp()                                                # exp's backward needs exp(w): h
    h.add_(1)                                                  # in place: h is not exp(w) now
    try:
        h.sum().backward()
    except RuntimeError as error:
        print(f"RuntimeError: {first_sentence(error)}")


def not_recorded():
    """detach(), torch.no_grad() and torch.inference_mode(): computing without a graph."""
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    print(f"w.detach(): requires_grad {w.detach().requires_grad}, shares w's memory "
          f"{w.detach().data_ptr() == w.data_ptr()}")
    with torch.no_grad():                                      # as step 3's update
        print(f"w * 2 under torch.no_grad(): requires_grad {(w * 2).requires_grad}")
    with torch.inference_mode():                               # no_grad, and faster
        z = w * 2
    print(f"w * 2 under torch.inference_mode(): requires_grad {z.requires_grad}, "
          f"is_inference {z.is_inference()}")
    try:
        (z * w).sum().backward()
    except RuntimeError as error:
        print(f"used in autograd later: RuntimeError: {first_sentence(error)}")


RULES = [leaves, requires_grad_spreads, backward_wants_a_scalar, the_graph_is_freed,
         in_place_on_a_saved_tensor, not_recorded]


def main(argv=None):
    names = [rule.__name__ for rule in RULES]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rules", nargs="*", metavar="RULE",
                        help=f"which to run (default: all): {', '.join(names)}")
    if argv is None and "__file__" not in globals() and "ipykernel" in sys.modules:
        argv = []     # pasted into a notebook cell: sys.argv is the kernel's; use the defaults
    args = parser.parse_args(argv)
    for name in args.rules:
        if name not in names:
            parser.error(f"argument RULE: no rule {name!r}; the rules: {', '.join(names)}")
    try:
        for rule in RULES:
            if rule.__name__ in args.rules or not args.rules:
                print(f"--- {rule.__name__}: {rule.__doc__.splitlines()[0]}")
                rule()
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
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
