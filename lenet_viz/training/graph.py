"""The loss's autograd graph as nodes and edges, with the shape and gradient norm of every node.

Public autograd API only (`torch.autograd.graph.Node`): `next_functions` for the structure,
`metadata` to remember the shape a node's forward op produced, `register_prehook` to see the
gradient that reaches a node during backward.  Shapes are written at forward time by a
TorchFunctionMode, which sees the ops the model and the loss call (ops hidden inside one call,
like the transpose inside F.linear, learn their shape in backward instead).

What it costs is measured in README ("Inside one step"): the trainer records only when asked
(`Trainer.record_graph`, and shapes only while a person steps phase by phase).  Norms are taken
inside the hooks (no host sync) rather than by keeping the gradients: kept gradients cannot be
reused by the allocator and cost ~600 fresh pages per iteration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch.overrides import TorchFunctionMode

from .types import AutogradGraph, GraphNode, Phase

SHAPE_KEY = "lenet_viz.shape"  # our key in Node.metadata


class _RecordShapes(TorchFunctionMode):
    """Writes each autograd output's shape into its grad_fn's metadata as the op runs."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                t.grad_fn.metadata[SHAPE_KEY] = tuple(t.shape)
        return out


def walk(root) -> tuple[list, list[tuple[int, int]]]:  # noqa: ANN001 - torch.autograd.graph.Node
    """Every distinct node reachable from `root`, breadth first, and the edges of `next_functions`.

    Ids are positions in this walk, so the same structure gets the same ids every iteration.
    """
    order, index, edges = [root], {root: 0}, []
    for k, fn in enumerate(order):  # `order` grows while we walk it
        for child, _ in fn.next_functions:
            if child is None:  # an input that needs no gradient (the images)
                continue
            if child not in index:
                index[child] = len(order)
                order.append(child)
            edges.append((k, index[child]))
    return order, edges


@dataclass
class _Recording:
    """One recorded backward: the walk it hooked, the norms its hooks took, the graph built from them once."""

    order: list
    edges: list[tuple[int, int]]
    iteration: int | None
    norms: dict[int, torch.Tensor] = field(default_factory=dict)  # node id -> norm of the gradient that reached it (0-d)
    graph: AutogradGraph | None = None


class GraphRecorder:
    """Follows one trainer's phases: shapes during FORWARD/LOSS, incoming gradient norms in BACKWARD."""

    def __init__(self) -> None:
        self._loss: torch.Tensor | None = None  # the loss whose recorded backward still describes .grad
        self._latest: _Recording | None = None  # kept after zero_grad: what running snapshots show

    @contextmanager
    def observe(self, phase: Phase, loss: torch.Tensor | None, *, shapes: bool, grads: bool,
                iteration: int | None = None) -> Iterator[None]:
        """Wrap one phase of the trainer; `loss` is the trainer's loss as the phase starts, of `iteration`.

        shapes: record output shapes while FORWARD/LOSS build the graph (worth it when a person
        steps phase by phase: after backward every shape is known from its gradient anyway).
        grads: record the norm of the gradient reaching every node in BACKWARD.
        """
        if phase is Phase.ZERO_GRAD:
            self.forget_grads()
        if shapes and phase in (Phase.FORWARD, Phase.LOSS):
            with _RecordShapes():
                yield
            return
        if not grads or phase is not Phase.BACKWARD or loss is None or loss.grad_fn is None:
            yield
            return
        self._loss = loss
        rec = self._latest = _Recording(*walk(loss.grad_fn), iteration)
        handles = [fn.register_prehook(self._recorder(rec, k)) for k, fn in enumerate(rec.order)]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    @staticmethod
    def _recorder(rec: _Recording, k: int):  # noqa: ANN205
        def record(grad_outputs: tuple) -> None:  # returns None: the gradient flows on untouched
            grads = [g for g in grad_outputs if g is not None]  # LeNet's nodes have one output each
            if not grads:
                return
            norm = torch.linalg.vector_norm  # a 0-d tensor: no host sync inside backward
            rec.norms[k] = norm(grads[0]) if len(grads) == 1 else norm(torch.stack([norm(g) for g in grads]))
            meta = rec.order[k].metadata
            if SHAPE_KEY not in meta:
                meta[SHAPE_KEY] = tuple(grads[0].shape)

        return record

    def forget_grads(self) -> None:
        """zero_grad ran: the recorded norms no longer describe .grad (the recording stays the latest one)."""
        self._loss = None

    def graph(self, loss: torch.Tensor | None, param_names: dict[int, str], *, latest: bool = False,
              backward_ran: bool = False) -> AutogradGraph | None:
        """`loss`'s graph as plain data; gradient norms only if backward on this very loss was recorded.

        latest: when this loss's backward was not recorded, the latest recording with norms (its
        `norms_at` says which iteration), instead of a graph without norms: what a running snapshot shows.
        backward_ran: backward has run on `loss` (and no zero_grad since): a graph without norms then
        says they were not recorded, not that there is no gradient yet."""
        if loss is None or loss.grad_fn is None:
            return None
        rec = self._latest
        if rec is not None and (loss is self._loss or (latest and rec.norms)):
            if rec.graph is None:  # built once, however many snapshots show it
                rec.graph = self._build(rec.order, rec.edges, rec.norms, rec.iteration, param_names)
            return rec.graph
        order, edges = walk(loss.grad_fn)
        built = self._build(order, edges, {}, None, param_names)
        return replace(built, unrecorded=True) if backward_ran else built

    @staticmethod
    def _build(order: list, edges: list[tuple[int, int]], recorded: dict[int, torch.Tensor], iteration: int | None,
               param_names: dict[int, str]) -> AutogradGraph:
        norms: dict[int, float] = {}
        if recorded:
            keys = list(recorded)
            norms = dict(zip(keys, torch.stack([recorded[k] for k in keys]).float().tolist()))  # one host read
        nodes = []
        for k, fn in enumerate(order):
            variable = getattr(fn, "variable", None)  # AccumulateGrad's leaf tensor
            nodes.append(
                GraphNode(
                    id=k,
                    name=type(fn).__name__,
                    shape=tuple(variable.shape) if variable is not None else fn.metadata.get(SHAPE_KEY),
                    grad_norm=norms.get(k),
                    parameter=None if variable is None else param_names.get(id(variable)),
                )
            )
        return AutogradGraph(nodes=tuple(nodes), edges=tuple(edges), norms_at=iteration if norms else None)
