"""Data that leaves the engine: plain numbers and copied numpy arrays, safe to hand to another thread."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Phase(Enum):
    """The phases of one training iteration, in the order they run."""

    ZERO_GRAD = "zero_grad"
    FORWARD = "forward"
    LOSS = "loss"
    BACKWARD = "backward"
    UPDATE = "update"

    @property
    def label(self) -> str:
        return {
            Phase.ZERO_GRAD: "zero_grad()",
            Phase.FORWARD: "forward",
            Phase.LOSS: "loss",
            Phase.BACKWARD: "backward()",
            Phase.UPDATE: "update",
        }[self]

    def next(self) -> "Phase":
        order = list(Phase)
        return order[(order.index(self) + 1) % len(order)]


#: LeNet's layers with parameters, in forward order: the keys of per-layer stats and plots.
LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1", "fc2", "fc3")

#: Activation names of a Snapshot, in forward order, with their shapes for one image.
ACTIVATION_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1": (6, 28, 28),
    "pool1": (6, 14, 14),
    "conv2": (16, 10, 10),
    "pool2": (16, 5, 5),
    "fc1": (120,),
    "fc2": (84,),
    "output": (10,),
    "probabilities": (10,),
}


@dataclass(frozen=True)
class StepStats:
    """Scalars of one completed iteration: cheap, produced every iteration, never dropped."""

    iteration: int  # completed iterations, counting this one (1 for the first)
    epoch: int  # 0-based epoch this iteration's batch came from
    loss: float
    accuracy: float  # of this batch, in [0, 1]
    grad_norms: dict[str, float]  # by named_parameters() name, e.g. "conv1.weight"
    weight_norms: dict[str, float]  # by parameter name, after the update
    update_ratios: dict[str, float]  # by layer ("conv1" ... "fc3"): ||update|| / ||weights after it||
    lr: float
    samples_seen: int
    eval_accuracy: float | None = None  # held-out accuracy, on iterations where it was measured
    diverged: bool = False  # loss or a gradient was NaN/Inf: the update was skipped, weights untouched


@dataclass(frozen=True)
class ParamRow:
    """One row of the parameter table (the tutorial's `params[i].size()` print, and more)."""

    name: str
    shape: tuple[int, ...]
    count: int
    weight_norm: float
    grad_norm: float | None  # None while .grad is None (before backward, after zero_grad)


@dataclass(frozen=True)
class AutogradNode:
    """A node of the loss's autograd graph: the tutorial's `loss.grad_fn.next_functions` walk."""

    name: str  # e.g. "MseLossBackward0", "AccumulateGrad"
    children: tuple["AutogradNode", ...] = ()
    parameter: str | None = None  # for AccumulateGrad: the leaf's parameter name


@dataclass(frozen=True)
class GraphNode:
    """One grad_fn node of the loss's graph: what torchviz's make_dot draws, plus the gradient."""

    id: int  # index in a breadth-first walk from loss.grad_fn: the same for the same structure
    name: str  # grad_fn class name, e.g. "AddmmBackward0", "AccumulateGrad"
    shape: tuple[int, ...] | None  # shape of what the node's forward op produced (a leaf: its parameter's)
    grad_norm: float | None  # norm of the gradient that reached the node in backward; None before it
    parameter: str | None = None  # for an AccumulateGrad leaf: the parameter's name, e.g. "conv1.weight"


@dataclass(frozen=True)
class AutogradGraph:
    """The loss's grad_fn graph as a DAG: every distinct node once, edges as in `next_functions`."""

    nodes: tuple[GraphNode, ...]  # nodes[0] is loss.grad_fn; nodes[k].id == k
    edges: tuple[tuple[int, int], ...]  # (from_id, to_id): to_id is in from_id's next_functions

    @property
    def structure(self) -> tuple:
        """Everything but the gradient norms: equal structures share one layout."""
        return tuple((n.name, n.shape, n.parameter) for n in self.nodes), self.edges


@dataclass(frozen=True)
class Snapshot:
    """What a user can look at between two phases.  Arrays are copies, never views of live tensors."""

    iteration: int
    epoch: int
    last_phase: Phase | None  # the phase that just ran (None before the first)
    next_phase: Phase  # the phase that runs next
    probe_index: int  # index into the held-out set
    probe_image: np.ndarray  # (32, 32) float32, as fed to the network
    probe_label: int
    activations: dict[str, np.ndarray]  # keys and shapes as ACTIVATION_SHAPES
    prediction: int
    conv1_weight: np.ndarray  # (6, 1, 5, 5)
    conv1_grad: np.ndarray | None  # None while conv1.weight.grad is None
    conv1_update: np.ndarray | None  # last update applied to conv1.weight; None before the first
    conv1_bias: np.ndarray  # (6,)
    conv1_bias_grad: np.ndarray | None
    params: tuple[ParamRow, ...]
    autograd: AutogradNode | None  # graph of the last loss; None before the first loss
    loss: float | None  # loss of the current (or last) iteration
    lr: float
    autograd_graph: AutogradGraph | None = None  # the same graph as nodes + edges, with gradient norms


@dataclass(frozen=True)
class RunInfo:
    """What a run trains on, for the status line: sent when the trainer is built or replaced."""

    dataset: str  # e.g. "MNIST"
    num_train: int
    num_test: int
    reason: str  # why this dataset (auto found MNIST, fell back to digits, ...)
    device: str

    @classmethod
    def of(cls, trainer) -> "RunInfo":  # noqa: ANN001 - a Trainer; typed loosely to keep torch out of here
        ds = trainer.dataset
        return cls(ds.name, ds.num_train, ds.num_test, ds.reason, str(trainer.device))

    def describe(self) -> str:
        return f"{self.dataset}: {self.num_train:,} train / {self.num_test:,} held-out"


@dataclass(frozen=True)
class Conv1GradExplanation:
    """Why conv1.weight.grad[f, 0, r, c] has its value, with the current batch's real numbers.

    dL/dw[f,0,r,c] = sum over images b and output positions (i, j) of
    input[b, 0, i+r, j+c] * upstream[b, f, i, j], where upstream = dL/d(conv1 output).
    The maps are of the batch's first image; the sums are over the whole batch.
    """

    filter: int
    row: int
    col: int
    image: np.ndarray  # (32, 32) first image of the batch, as conv1 received it
    patch: np.ndarray  # (28, 28) image[r:r+28, c:c+28]: the inputs weight (r, c) multiplied
    upstream: np.ndarray  # (28, 28) dL/d(conv1 output) of filter f, first image
    product: np.ndarray  # (28, 28) patch * upstream, first image
    batch_product: np.ndarray  # (28, 28) the product summed over the batch's images
    per_image: np.ndarray  # (batch,) each image's sum of its product
    total: float  # the formula: sum of everything
    weight_grad: float  # conv1.weight.grad[f, 0, r, c], to compare with `total`
    bias_total: float  # dL/db[f] = the sum of upstream over the batch and positions
    bias_grad: float  # conv1.bias.grad[f], to compare with `bias_total`

    @property
    def batch_size(self) -> int:
        return len(self.per_image)


@dataclass(frozen=True)
class UpdateComparison:
    """The tutorial's hand-written SGD step beside optim.SGD(momentum=0).step(), on copies of the weights."""

    lr: float
    manual: dict[str, np.ndarray]  # by parameter name: after - before of `f.data.sub_(f.grad.data * lr)`
    optim: dict[str, np.ndarray]  # after - before of `optimizer.step()`
    max_abs_diff: dict[str, float]  # max |manual - optim| per parameter: 0 up to float rounding
