"""Snapshot.autograd_graph is the loss's grad_fn DAG: every node once, edges as next_functions, gradient norms after backward."""

from __future__ import annotations

import math

import pytest
import torch

from lenet_viz.data import load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer
from lenet_viz.training.graph import GraphRecorder, walk
from lenet_viz.training.types import AutogradGraph

PARAMS = {
    "conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,), "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
    "fc1.weight": (120, 400), "fc1.bias": (120,), "fc2.weight": (84, 120), "fc2.bias": (84,),
    "fc3.weight": (10, 84), "fc3.bias": (10,),
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def make(digits, **kw) -> Trainer:
    return Trainer(TrainConfig(dataset="digits", eval_every=0, threads=1, **kw), dataset=digits)


def run_until(t: Trainer, phase: Phase) -> None:
    while t.step_phase() is not phase:
        pass


def brute_force(root) -> tuple[list, dict]:  # noqa: ANN001
    """Distinct nodes by a recursive walk, and each one's children straight from next_functions."""
    nodes, children = [], {}

    def visit(fn) -> None:  # noqa: ANN001
        if any(fn is n for n in nodes):
            return
        nodes.append(fn)
        children[len(nodes) - 1] = [c for c, _ in fn.next_functions if c is not None]
        for c in children[len(nodes) - 1]:
            visit(c)

    visit(root)
    return nodes, children


def signature_of_fn(fn, names: dict[int, str]) -> tuple:  # noqa: ANN001
    var = getattr(fn, "variable", None)
    kids = tuple(signature_of_fn(c, names) for c, _ in fn.next_functions if c is not None)
    return type(fn).__name__, None if var is None else names[id(var)], kids


def signature_of_graph(g: AutogradGraph, k: int = 0) -> tuple:
    kids = tuple(signature_of_graph(g, b) for a, b in g.edges if a == k)
    return g.nodes[k].name, g.nodes[k].parameter, kids


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_graph_equals_a_brute_force_walk(digits, loss):
    t = make(digits, loss=loss)
    run_until(t, Phase.LOSS)
    g = t.snapshot().autograd_graph
    nodes, children = brute_force(t._loss.grad_fn)
    assert len(g.nodes) == len(nodes)  # every distinct node exactly once
    assert [n.id for n in g.nodes] == list(range(len(nodes)))
    assert sorted(n.name for n in g.nodes) == sorted(type(fn).__name__ for fn in nodes)
    assert len(g.edges) == sum(len(c) for c in children.values())
    assert signature_of_graph(g) == signature_of_fn(t._loss.grad_fn, t._name_of)  # edges in next_functions order
    leaves = {n.parameter: n.shape for n in g.nodes if n.name == "AccumulateGrad"}
    assert leaves == PARAMS
    assert all(n.parameter is None for n in g.nodes if n.name != "AccumulateGrad")
    assert g.nodes[0].name == ("MseLossBackward0" if loss == "mse" else "NllLossBackward0")


def test_norms_none_before_backward_present_after_and_gone_after_zero_grad(digits):
    t = make(digits)
    assert t.snapshot().autograd_graph is None  # no loss yet
    run_until(t, Phase.LOSS)
    assert all(n.grad_norm is None for n in t.snapshot().autograd_graph.nodes)
    t.step_phase()  # BACKWARD
    g = t.snapshot().autograd_graph
    assert all(n.grad_norm is not None and math.isfinite(n.grad_norm) for n in g.nodes)
    assert g.nodes[0].grad_norm == pytest.approx(1.0)  # d loss / d loss
    grads = {n: p.grad for n, p in t.model.named_parameters()}
    for n in g.nodes:
        if n.parameter:  # what reached the leaf is what landed in .grad (grads were zeroed)
            assert n.grad_norm == pytest.approx(float(grads[n.parameter].norm()), rel=1e-5)
    t.step_phase()  # UPDATE: grads still there, norms too
    assert t.snapshot().autograd_graph.nodes[0].grad_norm == pytest.approx(1.0)
    t.step_phase()  # ZERO_GRAD: .grad is None, so are the norms
    assert all(n.grad_norm is None for n in t.snapshot().autograd_graph.nodes)


def test_conv1_node_norm_is_the_upstream_gradient_norm(digits):
    t = make(digits)
    t.step()
    g = t.snapshot().autograd_graph
    leaf = next(n.id for n in g.nodes if n.parameter == "conv1.weight")
    conv = next(a for a, b in g.edges if b == leaf)
    assert g.nodes[conv].name == "ConvolutionBackward0" and g.nodes[conv].shape == (64, 6, 28, 28)
    assert g.nodes[conv].grad_norm == pytest.approx(float(t._conv1_tap.upstream.norm()), rel=1e-5)


def test_shapes_known_while_stepping_and_after_a_whole_step(digits):
    t = make(digits)
    run_until(t, Phase.LOSS)  # stepped phase by phase: forward-time shapes
    known = {n.name: n.shape for n in t.snapshot().autograd_graph.nodes if n.shape is not None}
    assert known["NllLossBackward0"] == () and known["ViewBackward0"] == (64, 400)
    assert known["MaxPool2DWithIndicesBackward0"] in ((64, 16, 5, 5), (64, 6, 14, 14))
    t.step()
    t.step()  # a whole iteration inside step(): shapes come from the recorded gradients
    g = t.snapshot().autograd_graph
    assert all(n.shape is not None for n in g.nodes)
    assert {n.shape for n in g.nodes if n.name == "TBackward0"} == {(84, 10), (120, 84), (400, 120)}


def test_record_graph_off_leaves_no_norms_and_the_same_training(digits):
    on, off = make(digits), make(digits)
    off.record_graph = False
    for _ in range(3):
        a, b = on.step(), off.step()
        assert a.loss == b.loss  # recording never touches the numbers
    assert all(n.grad_norm is None for n in off.snapshot().autograd_graph.nodes)
    assert on.snapshot().autograd_graph.structure[1] == off.snapshot().autograd_graph.structure[1]


def test_a_shared_node_appears_once_and_gets_the_summed_gradient():
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    x = w * 2  # used by two branches below
    loss = (x + x.exp()).sum()
    rec = GraphRecorder()
    with rec.observe(Phase.BACKWARD, loss, shapes=False, grads=True):
        (gx,) = torch.autograd.grad(loss, x, retain_graph=True)
        loss.backward()
    g = rec.graph(loss, {id(w): "w"})
    names = [n.name for n in g.nodes]
    assert names.count("MulBackward0") == 1 and names.count("AccumulateGrad") == 1
    mul = names.index("MulBackward0")
    assert sorted(a for a, b in g.edges if b == mul) == sorted([names.index("AddBackward0"), names.index("ExpBackward0")])
    assert g.nodes[mul].grad_norm == pytest.approx(float(gx.norm()))
    assert g.nodes[names.index("AccumulateGrad")].parameter == "w"
    order, edges = walk(loss.grad_fn)
    assert len(order) == len(g.nodes) and edges == list(g.edges)


def test_an_iteration_not_recorded_shows_the_latest_recorded_norms_and_says_whose(digits):
    """A running loop records the norms a few times a second: the snapshots between show the latest
    recorded graph, labelled with its iteration, never norms passed off as this iteration's."""
    t = make(digits)
    t.step()
    t.step()
    recorded = t.snapshot().autograd_graph
    assert recorded.norms_at == 2 and all(n.grad_norm is not None for n in recorded.nodes)
    t.record_graph = False
    t.step()
    shown = t.snapshot()
    assert shown.iteration == 3 and shown.autograd_graph is recorded  # iteration 2's norms, saying so
    t.record_graph = True
    t.step_phase()  # ZERO_GRAD: .grad is gone, so no norms at all (the tutorial's point)
    assert all(n.grad_norm is None for n in t.snapshot().autograd_graph.nodes)
    t.reset()
    t.record_graph = False
    t.step()
    assert t.snapshot().autograd_graph.norms_at is None  # nothing recorded in this run: no norms


def test_a_recorded_iteration_labels_its_norms_with_its_number(digits):
    t = make(digits)
    run_until(t, Phase.BACKWARD)
    assert t.snapshot().autograd_graph.norms_at == 1  # iteration 1 is in progress, its backward done
    t.step_phase()
    assert t.snapshot().autograd_graph.norms_at == 1 and t.iteration == 1
