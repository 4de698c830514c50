"""Data that leaves the engine: plain numbers and copied numpy arrays, safe to hand to another thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..architecture import ACTIVATION_SHAPES, LAYERS  # noqa: F401 - re-exported: the engine's data speaks in these names


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


def metric_columns(grad_norms, weight_norms, update_ratios) -> list[str]:  # noqa: ANN001 - names (dicts or lists)
    """The per-parameter and per-layer column names: the same in the metrics CSV, the metric history and
    recordings ("grad_norm/conv1.weight", "weight_norm/conv1.weight", "update_ratio/conv1")."""
    return (
        [f"grad_norm/{k}" for k in grad_norms]
        + [f"weight_norm/{k}" for k in weight_norms]
        + [f"update_ratio/{k}" for k in update_ratios]
    )


#: Layers followed by a ReLU: the keys of StepStats.dead_relu.
RELU_LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1", "fc2")


@dataclass(frozen=True)
class HealthFlag:
    """A sign of an unhealthy run, raised by training/health.py and held until the sign is gone."""

    name: str  # e.g. "exploding_gradients": stable, for code and the metrics CSV
    title: str  # e.g. "Exploding gradients"
    explanation: str  # one line: what was measured and why it matters
    what_to_try: str  # one line
    layers: tuple[str, ...] = ()  # where it was seen, when it is about layers
    since: int = 0  # the iteration that raised it


@dataclass(frozen=True)
class HistogramSample:
    """Histograms of one iteration, one row per (kind, layer) in `keys` (see training/distributions.py).

    `edges` are in the row's axis units: weight values, or log10 of the magnitude for gradients
    and activations.  Values outside the edges are counted in the first or last bin.
    """

    iteration: int
    keys: tuple[tuple[str, str], ...]  # (kind, layer), kind in "weight", "grad", "activation"
    counts: np.ndarray  # (len(keys), bins) float32
    edges: np.ndarray  # (len(keys), bins + 1) float64, fixed for a run


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
    dead_relu: dict[str, float] = field(default_factory=dict)  # RELU_LAYERS -> fraction of dead units in this batch
    flags: tuple[HealthFlag, ...] = ()  # health flags raised after this iteration
    histograms: HistogramSample | None = None  # every config.histogram_every iterations, and at iteration 1
    bugs: frozenset[str] = frozenset()  # the bug lab's switches this iteration ran with


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
    #: The iteration whose backward the gradient norms come from (None: no norms).  While training runs,
    #: norms are recorded a few times a second, so a snapshot may show an earlier iteration's norms.
    norms_at: int | None = None
    #: No norms although backward ran on this loss: nobody was watching the graph then, so they were not
    #: recorded (the gradients exist; the next recorded backward shows them).  False: before backward.
    unrecorded: bool = False

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
    probe_label: int | None  # None when the probe is the user's own image (no label)
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
    probe_source: str = "held-out"  # "held-out" (probe_index, labelled) or "drawing" (drawn or opened, no label)
    saliency: np.ndarray | None = None  # (32, 32) |d logit / d input|; None unless Trainer.saliency_in_snapshot
    saliency_target: int | None = None  # the class `saliency` is for
    dead_units: dict[str, np.ndarray] = field(default_factory=dict)  # RELU_LAYERS -> bool per channel/neuron, last batch
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
