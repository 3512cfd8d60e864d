"""Autograd opened: step 3's --show-graph prints the graph the forward pass recorded, and the
READMEs show that very graph (a table beside step 1, and a mermaid picture); autograd_rules.py
shows each rule it states; step 5's gradcheck passes MyReLU and catches a wrong backward in a
learner's copy."""
import re

import pytest
import torch
from ladder import (
    REFERENCE,
    ROOT,
    default_data,
    edited_copy,
    load,
    run_copy,
    run_main,
    step_losses,
)

READMES = ["README.md", "README.zh-CN.md"]
HEADER = "the graph, from the loss back to the leaves:"


def printed_graph(capsys, name=REFERENCE, options=("--device", "cpu")):
    """(depth, line) of each node that `name --show-graph --steps 1` prints, in order."""
    status, out, err = run_main(name, ["--show-graph", "--steps", "1", *options], capsys)
    assert status == 0 and len(step_losses(out)) == 1, err
    lines = err.split(HEADER + "\n")[1].splitlines()
    return [((len(line) - len(line.lstrip())) // 2, line.strip()) for line in lines]


def node_name(line):
    """The node's name, at the start of a printed line ("MmBackward0, saved: ...")."""
    return line.split(",")[0].split(":")[0]


def edges(nodes):
    """(parent line, child line) pairs of an indented tree, as (depth, line) in order."""
    found, path = [], []
    for depth, line in nodes:
        del path[depth - 1:]
        if path:
            found.append((path[-1], line))
        path.append(line)
    return sorted(found)


def walked(node):
    """An independent walk of the recorded graph: (node name, its children's walks)."""
    return (type(node).__name__,
            [walked(child) for child, _ in node.next_functions if child is not None])


def test_show_graph_prints_the_graph_autograd_recorded(capsys):
    nodes = printed_graph(capsys)
    # The same tree, by name, as a walk of a graph recorded here, at the default start.
    x, y, w1, w2 = default_data(REFERENCE, 0)
    step = load(REFERENCE)
    loss = step.compute_loss(step.forward(x, w1, w2), y)

    def names(tree, depth):
        name, children = tree
        return [(depth, name)] + [pair for child in children for pair in names(child, depth + 1)]
    recorded = names(walked(loss.grad_fn), 1)
    assert [(depth, node_name(line)) for depth, line in nodes] == recorded
    # The nodes the README names (the same at both ends of the torch versions admitted).
    assert [name for _, name in recorded] == [
        "SumBackward0", "PowBackward0", "SubBackward0", "MmBackward0", "ClampBackward1",
        "MmBackward0", "AccumulateGrad", "AccumulateGrad"]
    # What each node saved: the clamp keeps h, as step 1's forward pass kept it; the product
    # x @ w1 keeps x only (x needs no gradient, so w1 is not needed); the leaves get .grad.
    clamp = loss.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[0][0] \
        .next_functions[0][0]
    assert torch.equal(clamp._saved_self, x @ w1)
    lines = [line for _, line in nodes]
    assert "ClampBackward1, saved: min = 0, self = a tensor (64, 100)" in lines
    assert "MmBackward0, saved: self = x (64, 1000)" in lines
    assert lines[-2:] == ["AccumulateGrad: into w1.grad (1000, 100)",
                          "AccumulateGrad: into w2.grad (100, 10)"]


def test_backward_runs_the_nodes_in_the_order_of_step_1s_lines():
    """The READMEs: the print follows each path to its end, but on the CPU backward() runs w2's
    AccumulateGrad (step 1's grad_w2) before the clamp's node (grad_h); .grad is then set to
    the gradient itself, the first time, and added into after."""
    x, y, w1, w2 = default_data(REFERENCE, 0)
    step = load(REFERENCE)
    loss = step.compute_loss(step.forward(x, w1, w2), y)
    ran, seen, stack = [], set(), [loss.grad_fn]
    while stack:                              # a prehook on every node records when it runs
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        name = type(node).__name__
        if hasattr(node, "variable"):
            name += " w1" if node.variable is w1 else " w2"
        node.register_prehook(lambda grad_outputs, name=name: ran.append(name))
        stack += [child for child, _ in node.next_functions]
    loss.backward()
    assert ran == ["SumBackward0", "PowBackward0", "SubBackward0", "MmBackward0",
                   "AccumulateGrad w2", "ClampBackward1", "MmBackward0", "AccumulateGrad w1"]
    first = w1.grad.clone()
    step.compute_loss(step.forward(x, w1, w2), y).backward()
    assert torch.equal(w1.grad, 2 * first)               # the second backward() added into it


def mermaid_edges(readme):
    """(parent label, child label) of the README's mermaid graph, its labels as printed lines:
    `<br>` stands for the printed separator after the node's name."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block, f"{readme} shows no mermaid graph"
    labels = dict(re.findall(r'(\w+)\["([^"]*)"\]', block[1]))
    found = []
    for line in block[1].splitlines()[1:]:
        ids = re.findall(r'(\w+)(?:\["[^"]*"\])?\s*(?:-->|$)', line.strip())
        found += list(zip(ids, ids[1:]))

    def as_printed(label):
        name, _, rest = label.partition("<br>")
        return name + ("" if not rest else (": " if rest.startswith("into") else ", ") + rest)
    return sorted((as_printed(labels[a]), as_printed(labels[b])) for a, b in found)


@pytest.mark.parametrize("readme", READMES)
def test_readme_shows_the_printed_graph(readme, capsys):
    """The mermaid picture has the printed graph's nodes, labels and edges, and the table beside
    step 1 lists the printed nodes in their order."""
    nodes = printed_graph(capsys)
    assert mermaid_edges(readme) == edges(nodes)
    text = (ROOT / readme).read_text(encoding="utf-8")
    table = re.findall(r"^\| `(\w*Backward\d*|AccumulateGrad)`", text, re.M)
    assert table == [node_name(line) for _, line in nodes]


@pytest.mark.parametrize("argv", [["--gradcheck"],
                                  # float64 on the CPU always: a device this machine may lack,
                                  # and mps's float32 only, refuse no check
                                  ["--gradcheck", "--device", "cuda"],
                                  ["--gradcheck", "--device", "mps", "--dtype", "float64"]])
def test_gradcheck_passes_my_relu(argv, capsys):
    step = load("two_layer_net_custom_function")
    assert step.check_my_relu() is True
    status, out, err = run_main("two_layer_net_custom_function", argv, capsys)
    assert status == 0 and err == ""
    assert out == ("gradcheck passed: MyReLU's backward agrees with finite differences of its "
                   "forward\n")


@pytest.mark.parametrize("wrong_line", [
    "grad_h[h <= -1] = 0",                  # the mask in the wrong place
    "grad_h[h <= 0] = 0.5",                 # the wrong slope where the unit is off
])
def test_gradcheck_catches_a_wrong_backward_in_a_copy(wrong_line, tmp_path, capsys):
    """A learner's copy of step 5 with one wrong line in MyReLU.backward, run as they would."""
    copy = edited_copy("two_layer_net_custom_function.py",
                       [("grad_h[h <= 0] = 0 ", wrong_line + " ")], tmp_path, "my_relu_copy.py")
    status, out, err = run_copy(copy, ["--gradcheck"], capsys)
    assert status == 1 and out == ""
    assert re.match(r"\S+: gradcheck failed: Jacobian mismatch", err), err
    assert "numerical:" in err and "analytical:" in err and "Traceback" not in err


def rules_output(capsys, *rules):
    """autograd_rules.py's sections: rule name -> its printed lines."""
    status, out, err = run_main("autograd_rules", list(rules), capsys)
    assert status == 0 and err == "", err
    sections = {}
    for line in out.splitlines():
        if line.startswith("--- "):
            name = line[4:].split(":")[0]
            sections[name] = []
        else:
            sections[name].append(line)
    return sections


def numbers(line):
    """The numbers of the last tensor([...]) printed on a line."""
    return [float(value) for value in re.findall(r"-?\d+\.?\d*", line.split("tensor(")[-1])]


def test_autograd_rules_show_what_the_readme_says(capsys):
    rules = load("autograd_rules")
    sections = rules_output(capsys)
    assert list(sections) == [rule.__name__ for rule in rules.RULES]
    w = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)

    def grad(function):                                  # the gradient, by autograd, here
        return torch.autograd.grad(function(w), w)[0].tolist()
    leaves = sections["leaves"]
    assert leaves[0].startswith("w.is_leaf: True") and numbers(leaves[0]) == \
        grad(lambda w: ((w * 2) ** 2).sum())
    assert leaves[1] == "h.is_leaf: False, h.grad: None"
    assert leaves[2].startswith("  UserWarning: The .grad attribute of a Tensor that is not a leaf")
    assert numbers(leaves[3]) == [2 * 2 * v for v in w.tolist()]       # d(h^2)/dh = 2h = 4w
    assert sections["requires_grad_spreads"] == ["x * 2: requires_grad False, grad_fn None",
                                                 "x * w: requires_grad True, grad_fn MulBackward0"]
    scalar = sections["backward_wants_a_scalar"]
    assert scalar[0] == ("y.backward(): RuntimeError: grad can be implicitly created only for "
                         "scalar outputs")
    assert numbers(scalar[1]) == grad(lambda w: (w * w).sum())
    freed = sections["the_graph_is_freed"]
    assert numbers(freed[0]) == [2 * v for v in grad(lambda w: (w * w).sum())]    # added
    assert freed[1].startswith("a third: RuntimeError: Trying to backward through the graph a "
                               "second time")
    (in_place,) = sections["in_place_on_a_saved_tensor"]
    assert in_place.startswith("RuntimeError: one of the variables needed for gradient computation "
                               "has been modified by an inplace operation")
    assert re.search(r"output 0 of Exp(Backward0)?, is at version 1", in_place)   # 2.14: Exp
    assert sections["not_recorded"] == [
        "w.detach(): requires_grad False, shares w's memory True",
        "w * 2 under torch.no_grad(): requires_grad False",
        "w * 2 under torch.inference_mode(): requires_grad False, is_inference True",
        "used in autograd later: RuntimeError: Inference tensors cannot be saved for backward"]


def test_autograd_rules_runs_one_rule_or_says_which_exist(capsys):
    assert list(rules_output(capsys, "not_recorded", "leaves")) == ["leaves", "not_recorded"]
    status, out, err = run_main("autograd_rules", ["leaves", "leafs"], capsys)
    assert status == 2 and out == ""
    assert err.splitlines()[-1].endswith("error: argument RULE: no rule 'leafs'; the rules: "
                                         "leaves, requires_grad_spreads, backward_wants_a_scalar, "
                                         "the_graph_is_freed, in_place_on_a_saved_tensor, "
                                         "not_recorded")


# --- Step 4: autograd of our own ----------------------------------------------------------

def test_own_autograd_is_step_1_to_the_bit_in_float64():
    """Each backward_fn does the arithmetic of one of step 1's lines on the same numbers (the
    sum's adds an exact multiplication by 1; mm computes its two gradients in the other order,
    which changes no bit): the same bits, for the gradients and all 500 losses, in float64 and
    in float32."""
    import numpy as np
    one, own = load("two_layer_net_numpy"), load("two_layer_net_own_autograd")
    by_hand, by_engine = default_data("two_layer_net_numpy", 0, "float64"), \
        default_data("two_layer_net_own_autograd", 0, "float64")
    loss, grad_w1, grad_w2 = one.loss_and_grads(*by_hand)
    assert own.loss_and_grads(*by_engine)[0] == loss
    assert all(np.array_equal(a, b) for a, b in zip(own.loss_and_grads(*by_engine)[1:],
                                                     [grad_w1, grad_w2]))
    assert own.train(*by_engine, print_every=0) == one.train(*by_hand, print_every=0)
    assert np.array_equal(by_engine[2], by_hand[2])          # trained in place, the same
    by_hand, by_engine = default_data("two_layer_net_numpy", 0, "float32"), \
        default_data("two_layer_net_own_autograd", 0, "float32")
    assert own.train(*by_engine, steps=100, print_every=0) == \
        one.train(*by_hand, steps=100, print_every=0)


def test_a_value_used_twice_gets_the_sum_of_its_gradients():
    """backward() adds into .grad: w @ w uses w twice, as dynamic_net.py reuses its middle layer."""
    import numpy as np
    own = load("two_layer_net_own_autograd")
    w = np.random.default_rng(0).standard_normal((3, 3))
    leaf = own.Value(w, requires_grad=True)
    own.backward(own.total(own.mm(leaf, leaf)))
    reference = torch.tensor(w, requires_grad=True)
    (reference @ reference).sum().backward()
    np.testing.assert_allclose(leaf.grad, reference.grad.numpy(), rtol=1e-12)


def test_own_autograd_prints_step_3s_graph(capsys):
    """--show-graph prints the graph step 3 prints, as the engine names it: the same nodes, in
    the same places, with the same saved values."""
    names = {"SumBackward0": "SumBackward", "PowBackward0": "PowBackward",
             "SubBackward0": "SubBackward", "MmBackward0": "MmBackward",
             "ClampBackward1": "ReluBackward", "AccumulateGrad": "AccumulateGrad"}
    expected = []
    for depth, line in printed_graph(capsys):
        name = node_name(line)
        line = names[name] + line[len(name):]
        line = line.replace("a tensor", "an array").replace(", saved: alpha = 1", "")
        expected.append((depth, line.replace("saved: min = 0, ", "saved: ")))
    assert printed_graph(capsys, "two_layer_net_own_autograd", options=()) == expected
