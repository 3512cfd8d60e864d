"""Check a hand-written backward pass, one gradient at a time, against your own forward pass.

Give it a step script whose backward(x, y, w2, h, h_relu, y_pred) is written by hand (steps 1
and 2, or your own copy of one, edited). On one small float64 batch it runs the script's own
forward() and compute_loss(), whatever activation or loss you gave them, and compares every
gradient that its backward computes (grad_y_pred, grad_h_relu, grad_h, grad_w2, grad_w1) with
central finite differences of that very loss: each number of y_pred, h_relu, h, w2 and w1 is
nudged and run through the rest of your forward() (from the line that computes it on) and your
compute_loss(). Where your forward pass runs on torch tensors (step 2), autograd follows it too,
as a second answer. So a leaky ReLU with its backward passes, and a mean loss with the sum's
backward fails at grad_y_pred. forward() must compute h, h_relu and y_pred each in a line of its
own (`h = ...`) and return them; it takes x and then the weights, w1 and w2, with biases b1 and
b2 if your copy has them (as exercise 1.1's does), and backward() computes grad_b1 and grad_b2.
It prints a table with the largest absolute difference and the relative error of each, and then
the first line of backward that goes wrong: a gradient computed from a wrong one is wrong too,
so the first failure in chain-rule order is the line to look at. It judges each gradient as it
is when backward() returns, so one that a later line changed in place (it is one array with a
later gradient: `grad_h = grad_h_relu` without `.copy()`) is named as that.

Given an autograd engine like step 4's (two_layer_net_own_autograd.py, or your copy, with a
Value and record()), it checks each operation instead: every function that calls record(),
yours too (a tanh you added), runs on random float64 Values at least 0.1 away from 0, and the
gradients its backward_fn returns are compared with central differences of its forward; then
the net's gradients, from loss_and_grads(), with differences of its own forward() and loss
(the biases' too, if forward() takes b1 and b2). An operation that runs only with plain numbers
after its first Value (scale(a, k)) is left to the net's gradients, which check it where
forward() uses it; the last line names it. One that runs on no input is wrong.

Exit status: 0 when every gradient passes, 1 when one fails or the script cannot be checked
(it says why), 2 for a bad command line.

Run:
    python check_gradients.py                           # steps 1, 2 and 4
    python check_gradients.py my_two_layer_net.py       # your copy's backward pass
    python check_gradients.py two_layer_net_own_autograd.py     # step 4's operations
"""
import argparse
import ast
import functools
import importlib.util
import inspect
import os
import re
import sys
import textwrap
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MANUAL_STEPS = [os.path.join(HERE, "two_layer_net_numpy.py"),
                os.path.join(HERE, "two_layer_net_tensor.py"),
                os.path.join(HERE, "two_layer_net_own_autograd.py")]
# A small batch whose sizes all differ, so that a wrong transpose cannot go unnoticed.
N, D_in, H, D_out = 5, 4, 3, 2
# The weights forward() may take after x, and their shapes: the steps' w1 and w2, and the
# biases b1 and b2 of the exercise that adds them (h = x @ w1 + b1, y_pred = h_relu @ w2 + b2).
SHAPES = {"w1": (D_in, H), "b1": (H,), "w2": (H, D_out), "b2": (D_out,)}
# In chain-rule order: each gradient is computed from the ones before it (those of biases the
# script has none of are left out).
GRADIENTS = ["grad_y_pred", "grad_w2", "grad_b2", "grad_h_relu", "grad_h", "grad_w1", "grad_b1"]
AUTOGRAD_RTOL = 1e-10      # the same maths in float64: only rounding differs
FD_RTOL = 1e-6             # central differences with eps = 1e-6: error about eps**2 + 1e-16/eps
EPS = 1e-6


class UncheckableError(Exception):
    """The script cannot be checked as it is written; the message says why."""


def weight_names(step):
    """The names of the weights that the script's forward() takes after x, in its order."""
    names = list(inspect.signature(step.forward).parameters)[1:]
    unknown = [name for name in names if name not in SHAPES]
    if unknown:
        raise UncheckableError(f"forward() takes {', '.join(unknown)}; check_gradients.py "
                               f"knows the shapes of {', '.join(SHAPES)} only")
    return names


def make_batch(seed, names=("w1", "w2")):
    """x, y and a dict of the weights `names` in float64, with every h = x @ w1 (+ b1) at least
    0.05 away from ReLU's kink at 0."""
    rng = np.random.default_rng(seed)
    while True:
        x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
        weights = {name: rng.standard_normal(SHAPES[name]) for name in names}
        if np.abs(x @ weights["w1"] + weights.get("b1", 0.0)).min() > 0.05:
            return x, y, weights


def central_differences(function, value):
    """d function() / d value[i] for every i, by central differences: value, an array that
    function reads, is nudged in place by EPS each way, then restored."""
    grad = np.zeros_like(value, dtype=np.float64)
    for i in np.ndindex(value.shape):
        saved = value[i]
        value[i] = saved + EPS
        plus = function()
        value[i] = saved - EPS
        minus = function()
        value[i] = saved
        grad[i] = (plus - minus) / (2 * EPS)
    return grad


def assigns(node, variable):
    """Whether the statement node sets variable, or some of its numbers, alone (`h = ...`,
    `h += ...`, `h_relu[h <= 0] = 0`)."""
    def is_variable(target):
        if isinstance(target, ast.Subscript):
            target = target.value
        return isinstance(target, ast.Name) and target.id == variable
    if isinstance(node, ast.Assign):
        return len(node.targets) == 1 and is_variable(node.targets[0])
    return isinstance(node, (ast.AugAssign, ast.AnnAssign)) and is_variable(node.target)


def rest_of_forward(forward, variable):
    """The learner's forward pass after the last line that sets `variable` (`h = x @ w1`, or a
    `h += b1` or `h_relu[...] = ...` after it), as a function of forward's arguments and that
    variable, returning y_pred: the lines before are left out, so that a change to `variable`
    flows through the learner's own code, whatever it is."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(forward)))
    function = tree.body[0]
    assigned = [i for i, node in enumerate(function.body) if assigns(node, variable)]
    if not assigned:
        raise UncheckableError(f"forward() must compute {variable} in a line of its own, "
                               f"`{variable} = ...`")
    function.body = function.body[assigned[-1] + 1:]
    if isinstance(function.body[-1], ast.Return):     # return h, h_relu, y_pred: the last
        function.body[-1] = ast.Return(ast.Name("y_pred", ast.Load()))
    function.args.args.append(ast.arg(variable))
    function.decorator_list = []
    namespace = {}
    exec(compile(ast.fix_missing_locations(tree), "<forward>", "exec"), forward.__globals__,
         namespace)
    return namespace[function.name]


def finite_differences(step, as_array, x, y, weights):
    """Central differences of the learner's own loss with respect to the weights and to every
    value of the forward pass that backward() takes: a change to each number, run through the
    learner's forward() and compute_loss()."""
    h, h_relu, y_pred = [to_numpy(v) for v in step.forward(as_array(x), *map(as_array,
                                                                             weights.values()))]
    rest = {name: rest_of_forward(step.forward, name) for name in ("h", "h_relu", "y_pred")}

    def loss(variable, value):                # copies: the code may change them in place
        arrays = {"x": x, **weights}
        if variable in rest:
            y_pred = rest[variable](**{k: as_array(v.copy()) for k, v in arrays.items()},
                                    **{variable: as_array(value.copy())})
        else:
            arrays[variable] = value
            y_pred = step.forward(*[as_array(v.copy()) for v in arrays.values()])[2]
        return float(step.compute_loss(y_pred, as_array(y.copy())))

    points = {"grad_y_pred": ("y_pred", y_pred), "grad_h_relu": ("h_relu", h_relu),
              "grad_h": ("h", h), **{f"grad_{k}": (k, v) for k, v in weights.items()}}
    answers = {}
    for name, (variable, value) in points.items():
        value = np.array(value, dtype=np.float64)
        answers[name] = central_differences(functools.partial(loss, variable, value), value)
    return answers


def autograd_answers(step, x, y, weights):
    """The same gradients from autograd, through the learner's own forward() and
    compute_loss() on tensors, keeping those of the values in between."""
    x, y = torch.tensor(x), torch.tensor(y)
    weights = {name: torch.tensor(a, requires_grad=True) for name, a in weights.items()}
    h, h_relu, y_pred = step.forward(x, *weights.values())
    for tensor in (h, h_relu, y_pred):
        tensor.retain_grad()                # keep .grad of non-leaf tensors too
    step.compute_loss(y_pred, y).backward()
    return {"grad_y_pred": y_pred.grad, "grad_h_relu": h_relu.grad, "grad_h": h.grad,
            **{f"grad_{name}": weight.grad for name, weight in weights.items()}}


def run_backward(step, as_array, x, y, weights):
    """Call the learner's backward() on their own forward pass, and return its local variables
    as it returns (or raises).

    backward() returns only the weights' gradients; the others are its local variables.
    sys.setprofile lets us see a function's locals at the moment it returns, without
    changing the function we check.
    """
    backward = step.backward
    h, h_relu, y_pred = step.forward(as_array(x), *map(as_array, weights.values()))
    seen = {}

    def profiler(frame, event, arg):
        if event == "return" and frame.f_code is backward.__code__:
            seen.update(frame.f_locals)

    sys.setprofile(profiler)
    try:
        backward(*map(as_array, (x, y, weights["w2"])), h, h_relu, y_pred)
        error = None
    except Exception as exception:            # a learner's backward may raise anything
        error = exception
    finally:
        sys.setprofile(None)
    return seen, error


def to_numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def compare(got, want):
    """(largest absolute difference, relative error); infinite where the shapes differ."""
    got = to_numpy(got)
    want = to_numpy(want)
    if got.shape != want.shape:
        return float("inf"), float("inf")
    diff = np.abs(got - want).max()
    return diff, diff / max(np.abs(want).max(), 1e-300)


def lines_of(function, name):
    """The lines of function's source that assign to name (name = ..., name[...] = ...)."""
    source, first = inspect.getsourcelines(function)
    pattern = re.compile(rf"^\s*{name}\s*(\[.*\])?\s*[-+*/]?=[^=]")
    return [(first + i, line.strip()) for i, line in enumerate(source) if pattern.match(line)]


def array_kind(step, x, weights):
    """np.asarray if the script's forward() computes with numpy arrays (it returns them), else
    torch.from_numpy: a copy of step 2 computes with tensors (and may fail on arrays). A script
    without torch whose forward() fails on arrays raises that error, its own."""
    try:
        y_pred = step.forward(x.copy(), *[weight.copy() for weight in weights.values()])[2]
        if isinstance(y_pred, np.ndarray):
            return np.asarray
    except Exception:                                 # it wants tensors, or it is wrong
        if not any(value is torch for value in vars(step).values()):
            raise
    return torch.from_numpy


def check(path, seed=0):
    """Print the table for one script; True when every gradient passes."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"checked_{name}", path)
    step = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(step)
    except Exception as error:                     # a mistake in the copy: where, and what
        lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
                 if frame.filename == path]
        where = "" if isinstance(error, SyntaxError) or not lines else f"line {lines[-1]}: "
        print(f"{os.path.basename(path)}: could not be imported: {where}"
              f"{type(error).__name__}: {error}")
        return False
    if hasattr(step, "Value") and hasattr(step, "record"):     # an engine, as step 4's
        return check_engine(step, path, seed)
    if not callable(getattr(step, "backward", None)):
        print(f"{os.path.basename(path)}: no backward() of its own to check: steps 3 and 5 "
              "leave the backward pass to autograd (check a Function of your own with "
              "torch.autograd.gradcheck, as step 5's --gradcheck does)")
        return False
    backward = step.backward
    try:
        x, y, weights = make_batch(seed, weight_names(step))
        as_array = array_kind(step, x, weights)      # numpy arrays, or tensors (step 2)
        by_fd = finite_differences(step, as_array, x, y, weights)
        by_autograd = autograd_answers(step, x, y, weights) if as_array is torch.from_numpy \
            else None
    except UncheckableError as error:
        print(f"{os.path.basename(path)}: {error}")
        return False
    except Exception as error:                     # the learner's forward() or loss raised
        print(f"{os.path.basename(path)}: its forward() and compute_loss() could not run on a "
              f"small float64 batch: {type(error).__name__}: {error}")
        return False
    seen, error = run_backward(step, as_array, x, y, weights)

    print(f"{os.path.basename(path)}: backward() on a float64 batch with "
          f"N, D_in, H, D_out = {N}, {D_in}, {H}, {D_out}")
    print(f"{'gradient':12} {'vs autograd: max diff':>22} {'rel err':>9}   "
          f"{'vs finite diff: max diff':>25} {'rel err':>9}   result")
    first_wrong = None
    for grad in [grad for grad in GRADIENTS if grad in by_fd]:
        if grad not in seen:
            print(f"{grad:12} {'not computed':>22}")
            first_wrong = first_wrong or grad
            continue
        fd_diff, fd_rel, ok, note = judged(seen[grad], by_fd[grad], grad[len("grad_"):])
        if by_autograd is None:                           # numpy code: no autograd
            auto = f"{'n/a (numpy)':>22} {'':>9}"
        else:
            auto_diff, auto_rel = compare(seen[grad], by_autograd[grad])
            auto = f"{auto_diff:22.3e} {auto_rel:9.1e}"
            ok = ok and auto_rel <= AUTOGRAD_RTOL
        print(f"{grad:12} {auto}   {fd_diff:25.3e} {fd_rel:9.1e}   "
              f"{'ok' if ok else 'WRONG' + note}")
        if not ok and first_wrong is None:
            first_wrong = grad

    if error is not None:
        frame = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
        where = f"line {frame[-1].lineno}: {frame[-1].line}" if frame else "backward()"
        print(f"backward() raised {type(error).__name__} at {where}\n  {error}\n(the rows above "
              "judge its variables as they were when it stopped)")
        return False
    if first_wrong is None:
        against = "" if by_autograd is None else f"<= {AUTOGRAD_RTOL:g} against autograd, "
        print(f"all gradients match (relative error {against}<= {FD_RTOL:g} against finite "
              "differences)")
        return True
    later = GRADIENTS[GRADIENTS.index(first_wrong) + 1:]
    shared = [grad for grad in later if grad in seen and np.shares_memory(
        to_numpy(seen[grad]), to_numpy(seen[first_wrong]))] if first_wrong in seen else []
    if shared:              # grad_h = grad_h_relu, then grad_h[...] = 0: both changed
        print(f"first wrong gradient: {first_wrong}, which is one array with {shared[0]}: a "
              f"line that changes {shared[0]} in place changes {first_wrong} too; make "
              f"{shared[0]} a copy (.copy() in numpy, .clone() in torch), as steps 1 and 2 do")
        return False
    lines = lines_of(backward, first_wrong)
    if not lines:
        print(f"first wrong gradient: {first_wrong}: backward() has no line that sets it; the "
              "checker reads backward()'s variables by these names")
        return False
    print(f"first wrong gradient: {first_wrong}; look at")
    for lineno, line in lines:
        print(f"  line {lineno}: {line}")
    return False


def engine_operations(step):
    """The operations of an autograd engine like step 4's: its functions that call record()."""
    return [function for name, function in vars(step).items()
            if inspect.isfunction(function) and function.__module__ == step.__name__
            and name != "record" and "record(" in inspect.getsource(function)]


def operation_inputs(step, operation, rng):
    """Float64 Values that operation takes, each number at least 0.1 away from 0 (a kink there,
    as ReLU's, would spoil the differences): of one shape for all, or else shaped for a matrix
    product; positive if the output is not finite otherwise (as log's would not be). Returns
    (inputs, output), or (None, the reason) if no such inputs work."""
    arity = len(inspect.signature(operation).parameters)
    reason = "it takes no Values"
    for shapes in [[(3, 4)] * arity, [(3, 4), (4, 2)]]:
        if len(shapes) != arity:
            continue
        for positive in (False, True):
            data = [rng.standard_normal(shape) for shape in shapes]
            data = [np.abs(d) + 0.1 if positive else d + 0.1 * np.sign(d) for d in data]
            inputs = [step.Value(d, requires_grad=True) for d in data]
            try:
                output = operation(*inputs)
            except Exception as error:                # a learner's operation may raise anything
                reason = f"{type(error).__name__}: {error}"
                break                                 # try the next shapes
            if np.all(np.isfinite(output.data)):
                return inputs, output
            reason = "its output is not finite"
    return None, reason


def judged(grad, want, of):
    """(max diff, rel err, ok, a note: how grad, meant to be the gradient of `of`, went wrong)."""
    if grad is None:
        return float("inf"), float("inf"), False, " (not computed)"
    diff, rel = compare(grad, want)
    shape = np.shape(to_numpy(grad))
    note = "" if shape == np.shape(want) else f" (shape {shape}, not {of}'s {np.shape(want)})"
    return diff, rel, rel <= FD_RTOL, note


def check_operation(step, operation, rng):
    """Each input's gradient from operation's backward_fn, against central differences of its
    forward: (rows of (input number, max diff, rel err, ok, note), or an error message)."""
    inputs, output = operation_inputs(step, operation, rng)
    if inputs is None:
        return f"could not run it on Values ({output})"
    g = rng.standard_normal(np.shape(output.data))      # the gradient of the output, any one
    try:
        grads = output.backward_fn(g)
    except Exception as error:                          # a learner's backward_fn may raise
        return f"its backward_fn raised {type(error).__name__}: {error}"
    if not isinstance(grads, (tuple, list)):           # (g * 2) where (g * 2,) was meant
        return (f"its backward_fn returned one {type(grads).__name__}, not a tuple of one "
                "gradient per input (for one input: (grad,))")
    if len(grads) != len(inputs):
        return (f"its backward_fn returned {len(grads)} gradient{'s' * (len(grads) != 1)} for "
                f"{len(inputs)} input{'s' * (len(inputs) != 1)}")

    def weighted_output():                            # its derivative by an input: g's share
        return np.sum(operation(*inputs).data * g)
    rows = []
    for number, (value, grad) in enumerate(zip(inputs, grads)):
        want = central_differences(weighted_output, value.data)
        rows.append((number, *judged(grad, want, f"input {number}")))
    return rows


def takes_a_number(step, operation, rng):
    """Whether operation, which could not run on Values alone, runs on a Value followed by plain
    numbers (scale(a, k)): then it is left to the net's gradients, else it is wrong."""
    arity = len(inspect.signature(operation).parameters)
    try:
        operation(step.Value(rng.standard_normal((3, 4)), requires_grad=True),
                  *[1.5] * (arity - 1))
    except Exception:                                 # it fails on any input: it is wrong
        return False
    return arity > 1


def check_engine(step, path, seed):
    """Print the table for an autograd engine like step 4's: each operation's backward_fn against
    finite differences, then the net's gradients against those of its loss; True if all pass."""
    rng = np.random.default_rng(seed)
    print(f"{os.path.basename(path)}: each operation's backward_fn on float64 inputs, against "
          "central differences")
    print(f"{'operation':14} {'input':>5} {'max diff':>10} {'rel err':>9}   result")
    wrong, unchecked = [], []
    for operation in engine_operations(step):
        rows = check_operation(step, operation, rng)
        if isinstance(rows, str):       # one that runs only with a number, scale(a, k): the net's
            if rows.startswith("could not run") and takes_a_number(step, operation, rng):
                print(f"{operation.__name__:14} {rows}: not checked alone")
                unchecked.append(operation.__name__)
            else:
                print(f"{operation.__name__:14} {rows}")
                wrong.append(operation)
            continue
        for number, diff, rel, ok, note in rows:
            print(f"{operation.__name__:14} {number:5} {diff:10.3e} {rel:9.1e}   "
                  f"{'ok' if ok else 'WRONG' + note}")
            if not ok and operation not in wrong:
                wrong.append(operation)
    try:
        x, y, weights = make_batch(seed, weight_names(step))
    except UncheckableError as error:
        print(f"{os.path.basename(path)}: {error}")
        return False

    def net_loss():                                   # through the script's own forward()
        x_, y_, *weights_ = step.as_values(x, y, *weights.values())
        return float(step.compute_loss(step.forward(x_, *weights_), y_).data)
    try:        # as_values() and loss_and_grads() take the weights in forward()'s order
        loss, *grads = step.loss_and_grads(x, y, *weights.values())
        net_loss()
    except Exception as error:                        # a copy changed in one place, not all
        print(f"the net could not be run: {type(error).__name__}: {error}" + (
              "" if wrong else f" (as_values() and loss_and_grads() take x, y and then "
              f"forward()'s weights: {', '.join(weights)})"))
        if not wrong:
            return False
        grads = []                                    # an operation above is wrong: name it
    shapes_wrong = []
    for (name, weight), grad in zip(weights.items(), grads):
        diff, rel, ok, note = judged(grad, central_differences(net_loss, weight), name)
        print(f"{'the net: grad_' + name:20} {diff:10.3e} {rel:9.1e}   "
              f"{'ok' if ok else 'WRONG' + note}")
        if not ok:
            wrong.append(f"grad_{name}")
            if "shape" in note:
                shapes_wrong.append(name)
    alone = (f"; {' and '.join(unchecked)} could not be checked alone (the net checks "
             "an operation only where forward() uses it)" if unchecked else "")
    if not wrong:
        print(f"all gradients match (relative error <= {FD_RTOL:g} against finite "
              f"differences){alone}")
        return True
    first = wrong[0]
    if unchecked and not callable(first):     # a net's gradient: perhaps an unchecked operation
        print(f"first wrong: {first}{alone}: look at {' and '.join(unchecked)}'s backward first")
        return False
    if callable(first):
        source, line = inspect.getsourcelines(first)
        print(f"first wrong: {first.__name__}; look at its backward, from line {line}: "
              f"{source[0].strip()}")
    elif shapes_wrong:          # the operations were checked on inputs of one shape only
        name = shapes_wrong[0]
        print(f"first wrong: {first}, of another shape than {name}: the operation that takes "
              f"{name} gets a gradient of its output's shape, and must return one of {name}'s "
              "(a bias added to every row: summed over the rows)")
    else:
        print(f"first wrong: {first}, though every operation passes on inputs of one shape: "
              f"look at the backward_fn of the operation that takes {first[len('grad_'):]}, for "
              "an input of another shape than its output (a bias added to every row), then at "
              "forward()")
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", default=MANUAL_STEPS,
                        help="scripts with a hand-written backward(), or an engine like step "
                             "4's (default: steps 1, 2 and 4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the batch (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 <= args.seed < 2**32:                  # the steps' range, and their message
        parser.error(f"argument --seed: must be from 0 to 2**32 - 1, got {args.seed}")
    for path in args.scripts:
        if not os.path.isfile(path):
            parser.error(f"{'not a file' if os.path.exists(path) else 'no such file'}: {path}")
        if not path.endswith(".py"):            # what Python's import machinery can load
            parser.error(f"not a Python script (.py): {path}")
    results = []
    try:
        for path in args.scripts:
            results.append(check(os.path.abspath(path), args.seed))
            print()
        sys.stdout.flush()      # here, not at exit: a reader gone (`head`) is caught below
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # the reader of our output (say `head`) has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
