"""The engine: LeNet trained one phase at a time, as the tutorial does it by hand.

An iteration is ZERO_GRAD -> FORWARD -> LOSS -> BACKWARD -> UPDATE.  `phase` is the phase
that runs next; between phases the state is exactly what the tutorial prints (every .grad
is None after ZERO_GRAD, populated after BACKWARD; weights move only in UPDATE).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Dataset, load_dataset
from ..architecture import LAYERS, combine_by_layer
from ..model import LeNet
from . import foreach, lab
from .config import ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode
from .confusion import GALLERY_LIMIT, Gallery, Verdicts
from .distributions import DistributionHistory
from .health import HealthMonitor
from .histograms import Histograms
from .explain import Conv1Tap, compare_manual_update, explain_conv1_grad
from .graph import GraphRecorder
from .history import MetricHistory
from .insight import HeldOutPass, gallery, probe_tensor, saliency
from .probes import FrozenLeNet, activations_later, autograd_chain, to_numpy
from .watch import ForwardWatch
from .types import Conv1GradExplanation, ParamRow, Phase, Snapshot, StepStats, UpdateComparison


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when torch sees a GPU, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda} but sees no GPU"
        raise ConfigError("device", f"cuda is not available (torch {torch.__version__} is built {build}); use cpu or auto")
    return torch.device(name)


def make_optimizer(config: TrainConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer `config` asks for: its hyperparameters come from the (validated) config only."""
    lr = lab.effective_lr(config)  # x100 under the lr_x100 bug
    if config.optimizer is OptimizerKind.ADAM:
        return torch.optim.Adam(params, lr=lr)
    # foreach: one fused kernel per operation for all ten tensors, bit for bit the same result (tested) and
    # ~70 us an iteration cheaper than the per-tensor loop torch picks on a CPU by default.
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, foreach=True)


class Trainer:
    """Owns the model, the optimizer and the data order; runs phases on request."""

    def __init__(self, config: TrainConfig | None = None, dataset: Dataset | None = None) -> None:
        config = config or TrainConfig()
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.dataset = dataset if dataset is not None else load_dataset(config.dataset, config.data_dir, seed=config.seed)
        self._load_tensors()
        self.history = MetricHistory()
        self.distributions = DistributionHistory()  # histograms over time (lab: training/distributions.py)
        self.probe_index = 0
        self._probe_image: torch.Tensor | None = None  # a drawn/opened image in [0, 1]; survives reset()
        self.saliency_in_snapshot = False  # a backward pass per snapshot (~1.4 ms): only while it is shown
        self.saliency_target: int | None = None  # the class the snapshot's saliency is for; None = predicted
        self.graph_in_snapshot = True  # the autograd graph's nodes (~0.15 ms): only while someone looks at it
        self.tree_in_snapshot = True  # the next_functions tree (~0.15 ms): likewise
        self.verdicts: Verdicts | None = None  # the last full held-out pass (confusion matrix, gallery)
        self._pending: TrainConfig | None = None
        #: Called with every completed iteration's StepStats (a recording listens here), so any
        #: loop that steps this trainer (app, headless, a notebook) is observed the same way.
        self.step_listeners: list[Callable[[StepStats], None]] = []
        #: Record the autograd graph's gradient norms in BACKWARD (~1 ms an iteration).  A run loop
        #: sets it False for iterations whose snapshot nobody will see; scripts and tests keep it on.
        self.record_graph = True
        #: Replaying a recording (recording_replay.py): skip what only informs and leaves the weights as
        #: they are, the held-out evaluation (~40 ms every eval_every iterations) and the histograms.
        self.replaying = False
        self._in_step = False  # step() runs whole iterations: no forward-time shape recording
        self.reset()

    # ------------------------------------------------------------------ setup
    def _load_tensors(self) -> None:
        ds, dev = self.dataset, self.device
        self._train_x = ds.train_images.to(dev)
        self._test_x = ds.test_images.to(dev)
        self._test_y = ds.test_labels.to(dev)
        self._load_labels()

    def _load_labels(self) -> None:
        labels, targets = lab.training_labels(self.dataset, self.config)  # shuffled_labels permutes them
        self._train_y = labels.to(self.device)
        self._train_t = targets.to(self.device) if targets is not None else None

    def _fed(self, images: torch.Tensor) -> torch.Tensor:
        """Images as the network receives them: raw 0-255 pixels under the raw_pixels bug."""
        return lab.raw_pixels(images, self.dataset) if "raw_pixels" in self.config.bugs else images

    @property
    def effective_lr(self) -> float:
        """The learning rate in use: config.lr, times 100 while the lr_x100 bug is on."""
        return lab.effective_lr(self.config)

    def reset(self) -> None:
        """Re-initialize weights, optimizer and data order from the seed; clears the history."""
        torch.manual_seed(self.config.seed)
        self.model = LeNet().to(self.device)
        self._names = [n for n, _ in self.model.named_parameters()]
        self._params = [p for _, p in self.model.named_parameters()]
        self._name_of = {id(p): n for n, p in self.model.named_parameters()}
        self._graph = GraphRecorder()  # shapes and incoming gradients of the loss's grad_fn graph
        self._conv1_tap = Conv1Tap()  # conv1's input and upstream gradient, for the formula
        self._weights = [p.detach() for p in self._params]
        self._before = [torch.empty_like(w) for w in self._weights]  # reused by every UPDATE
        self._runners = {phase: getattr(self, f"_run_{phase.value}") for phase in Phase}
        self._optimizer: torch.optim.Optimizer | None = None  # built on first use: see `optimizer`
        self._histograms = Histograms(self.model, seed=self.config.seed)  # edges are chosen anew: re-bins
        self._watch = ForwardWatch(self.model, self._histograms)  # dead ReLUs, activation histograms
        self.health = HealthMonitor()
        self._gen = torch.Generator().manual_seed(self.config.seed)
        self._epoch, self._cursor = 0, 0
        self._perm = torch.randperm(len(self._train_y), generator=self._gen)
        self._undo_fetch: tuple | None = None
        self.iteration = 0
        self.samples_seen = 0
        self.phase = Phase.ZERO_GRAD
        self.last_phase: Phase | None = None
        self.last_stats: StepStats | None = None
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self._batch_targets: torch.Tensor | None = None
        self._batch_epoch = 0
        self._output: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._loss_value: float | None = None
        self._accuracy: torch.Tensor | None = None
        self._diverged_now = False
        self._has_update = False  # self._before holds minus the last update once one happened
        self.history.clear()
        self.verdicts = None  # answers of weights that no longer exist
        self.distributions.clear()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.config, self._params)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, built on first use: torch's first optimizer imports torch._dynamo (~1.5 s), and a
        window can draw the network from the model alone meanwhile (the run loop builds it right after)."""
        if self._optimizer is None:
            self._optimizer = self._make_optimizer()
        return self._optimizer

    @optimizer.setter
    def optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        self._optimizer = optimizer

    def apply_config(self, config: TrainConfig) -> bool:
        """Adopt new settings.  Returns True if that re-initialized training (seed, data or device changed).

        Hyperparameters (lr, momentum, batch size, optimizer, loss, update mode) take effect at
        the next iteration boundary, so an iteration never mixes two configurations.
        """
        config.validate()
        if self.config.needs_new_data(config):
            self.dataset = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        structural = {f for f in ("seed", "dataset", "data_dir", "device", "threads") if getattr(config, f) != getattr(self.config, f)}
        if structural:
            if "device" in structural:
                self.device = resolve_device(config.device)
            if "threads" in structural and config.threads:
                torch.set_num_threads(config.threads)
            self.config = config
            self._load_tensors()
            self.probe_index %= len(self._test_y)
            self._pending = None
            self.reset()
            return True
        self._pending = config
        if self.phase is Phase.ZERO_GRAD:
            self._adopt_pending()
        return False

    def _adopt_pending(self) -> None:
        new, old = self._pending, self.config
        self._pending = None
        if new is None:
            return
        self.config = new
        if "shuffled_labels" in new.bugs ^ old.bugs:
            self._load_labels()
        if new.optimizer is not old.optimizer:
            self.optimizer = self._make_optimizer()
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = lab.effective_lr(new)
                if "momentum" in group:
                    group["momentum"] = new.momentum

    # ----------------------------------------------------------------- phases
    def step_phase(self) -> Phase:
        """Run exactly the next phase and return it."""
        ran = self.phase
        if ran is Phase.ZERO_GRAD:
            self._conv1_tap.clear()
        with self._graph.observe(ran, self._loss, shapes=not self._in_step, grads=self.record_graph,
                                 iteration=self.iteration + 1):
            self._runners[ran]()
        self.last_phase = ran
        self.phase = ran.next()
        if ran is Phase.UPDATE:  # the iteration is complete: listeners see the state after it
            for listener in self.step_listeners:
                listener(self.last_stats)
        return ran

    def step(self) -> StepStats:
        """Finish the current iteration from wherever it stands; return its stats."""
        self._in_step = True
        try:
            while True:
                if self.step_phase() is Phase.UPDATE:
                    assert self.last_stats is not None
                    return self.last_stats
        finally:
            self._in_step = False

    def _run_zero_grad(self) -> None:
        self._adopt_pending()
        if not (self.config.bugs and "skip_zero_grad" in self.config.bugs):  # the bug: .grad accumulates
            self.optimizer.zero_grad(set_to_none=True)
        self._diverged_now = False

    def _run_forward(self) -> None:
        self._batch = self._next_batch()
        every, upcoming = self.config.histogram_every, self.iteration + 1
        self._watch.sampling = every > 0 and (upcoming == 1 or upcoming % every == 0) and not self.replaying
        self._output = self._watch.forward(self.model, self._batch[0], self._conv1_tap.saw)  # = self.model(x)

    def _run_loss(self) -> None:
        assert self._output is not None and self._batch is not None
        out, y = self._output, self._batch[1]
        scores = lab.loss_input(out, self.config) if self.config.bugs else out  # double_softmax
        if self.config.loss is LossKind.MSE:
            target = self._batch_targets if self._batch_targets is not None else F.one_hot(y, 10).to(out.dtype)
            self._loss = F.mse_loss(scores, target)
        else:
            self._loss = F.cross_entropy(scores, y)
        self._accuracy = (out.detach().argmax(1) == y).float().mean()
        self._loss_value = self._loss.item()
        self._diverged_now = not math.isfinite(self._loss_value)

    def _run_backward(self) -> None:
        assert self._loss is not None
        if not self._diverged_now:  # a NaN loss would poison every gradient
            self._loss.backward()

    def _run_update(self) -> None:
        assert self._loss_value is not None and self._accuracy is not None
        grads = [p.grad for p in self._params]
        weights, before, n = self._weights, self._before, len(self._weights)
        dead = self._watch.dead_sums()  # each ReLU unit's output summed over the batch: 0 if dead
        tail = [self._accuracy.reshape(1)] + ([] if dead is None else [dead])
        if any(g is None for g in grads):
            first = [math.nan] * n + torch.cat(tail).tolist()
        else:  # one host read for the gradient norms, the batch accuracy and the ReLU sums
            first = torch.cat([torch.stack(foreach.norms(grads)), *tail]).tolist()
        gnorms, accuracy = first[:n], first[n]
        dead_relu = self._watch.dead_relu(first[n + 1 :]) if dead is not None else {}
        self._diverged_now = self._diverged_now or not all(math.isfinite(g) for g in gnorms)
        if self._diverged_now:  # skip the update: the weights stay finite, the user can go on
            ratios = {layer: math.nan for layer in LAYERS}
            wnorms = torch.stack(foreach.norms(weights)).tolist()
        else:
            foreach.copy_(before, weights)  # reused buffers: no allocation per iteration
            if self.config.update is UpdateMode.MANUAL:
                for p in self._params:  # the tutorial, verbatim
                    p.data.sub_(p.grad.data * self.effective_lr)
            else:
                self.optimizer.step()
            foreach.sub_(before, weights)  # `before` now holds minus this update
            self._has_update = True
            norms = torch.stack(foreach.norms(before + weights)).tolist()  # one fused kernel, one read
            dn, wnorms = norms[:n], norms[n:]
            updates, weights = combine_by_layer(dict(zip(self._names, dn))), combine_by_layer(dict(zip(self._names, wnorms)))
            ratios = {layer: updates[layer] / weights[layer] if weights[layer] > 0 else math.nan for layer in LAYERS}
        self.iteration += 1
        self._undo_fetch = None
        eval_acc = None
        if self.config.eval_every and self.iteration % self.config.eval_every == 0 and not (self._diverged_now or self.replaying):
            eval_acc = self.evaluate(self.config.eval_samples)
            self.history.add_eval(self.iteration, eval_acc)
        stats = StepStats(
            iteration=self.iteration,
            epoch=self._batch_epoch,
            loss=self._loss_value,
            accuracy=accuracy,
            grad_norms=dict(zip(self._names, gnorms)),
            weight_norms=dict(zip(self._names, wnorms)),
            update_ratios=ratios,
            lr=self.effective_lr,
            samples_seen=self.samples_seen,
            eval_accuracy=eval_acc,
            diverged=self._diverged_now,
            dead_relu=dead_relu,
            bugs=self.config.bugs,
        )
        self.last_stats = self._observe(stats)
        self.history.append(self.last_stats)

    def _observe(self, stats: StepStats) -> StepStats:
        """Health flags, and on sampled iterations the histograms, added to an iteration's stats."""
        flags = self.health.check(stats, cross_entropy=self.config.loss is LossKind.CROSS_ENTROPY)
        sample = None
        if self._watch.sampling and not stats.diverged:
            sample = self._histograms.sample(stats.iteration, self._watch.activation_counts)
            self.distributions.append(sample)
        self._watch.activation_counts = {}
        return dataclasses.replace(stats, flags=flags, histograms=sample) if flags or sample else stats

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self._train_y)
        if self._cursor >= n:
            self._epoch += 1
            self._cursor = 0
            self._perm = torch.randperm(n, generator=self._gen)
        self._undo_fetch = (self._epoch, self._cursor)
        idx = self._perm[self._cursor : self._cursor + self.config.batch_size].to(self.device)
        self._cursor += len(idx)
        self._batch_epoch = self._epoch
        self.samples_seen += len(idx)
        self._batch_targets = self._train_t[idx] if self._train_t is not None else None
        x = self._train_x[idx]
        return (self._fed(x) if self.config.bugs else x), self._train_y[idx]

    # ----------------------------------------------------------- observation
    def _conv1_update(self) -> torch.Tensor | None:
        """The last update applied to conv1.weight (after - before): a fresh tensor."""
        return self._before[0].neg() if self._has_update else None

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def diverged(self) -> bool:
        """True when the last completed iteration hit a NaN/Inf loss or gradient."""
        return bool(self.last_stats and self.last_stats.diverged)

    @property
    def num_probes(self) -> int:
        return len(self._test_y)

    def set_probe(self, probe: int | np.ndarray) -> None:
        """Probe with held-out image `probe` (an index, wrapping around) or with an image of the user's.

        An image is (1, 32, 32) or (32, 32) in [0, 1], as `preprocess_drawing` returns; it is kept
        raw and standardized like the current dataset's images whenever it is fed, so it survives
        reset(), a checkpoint load and a change of dataset unchanged.  An index survives them too,
        wrapped into the new held-out set (index 7 stays 7; 5000 becomes 5000 % 360 on digits).
        While an image is the probe, `probe_index` keeps the last held-out index, so "next"
        goes on from there.
        """
        if isinstance(probe, (int, np.integer)) and not isinstance(probe, bool):
            self._probe_image = None
            self.probe_index = int(probe) % self.num_probes
        else:
            self._probe_image = probe_tensor(probe)

    @property
    def probe(self) -> int | np.ndarray:
        """The probe in a form `set_probe` takes again: the held-out index, or the user's image."""
        return self.probe_index if self._probe_image is None else self._probe_image.cpu().numpy()

    def _probe_input(self) -> torch.Tensor:
        """The probe as the network is fed it: (1, 32, 32), standardized, on the device."""
        if self._probe_image is None:
            return self._test_x[self.probe_index]
        ds = self.dataset
        return ((self._probe_image - ds.pixel_mean) / ds.pixel_std).to(self.device)

    def saliency(self, target: int | None = None) -> np.ndarray:
        """(32, 32) |d logit_target / d input| for the probe as the network sees it; None = the predicted class."""
        return saliency(self.model, self._probe_input(), target)[0]

    def confusion_pass(self, chunk: int | None = None) -> HeldOutPass:
        """A confusion matrix over the whole held-out set, to be computed one `advance()` at a time
        (so training goes on meanwhile); when done, its verdicts become `self.verdicts`."""
        args = {} if chunk is None else {"chunk": chunk}
        return HeldOutPass(self.model, self._test_x, self._test_y, self.iteration, on_done=self._keep_verdicts, **args)

    def _keep_verdicts(self, job: HeldOutPass) -> None:
        if job.source is self.model:  # a pass begun before a reset or a load describes weights now gone
            self.verdicts = job.verdicts

    def confusion_matrix(self) -> np.ndarray:
        """10x10 int64 counts over the whole held-out set now: rows are true labels, columns predictions."""
        return self.confusion_pass().finish().matrix()

    def gallery(self, true: int, predicted: int, limit: int = GALLERY_LIMIT) -> Gallery:
        """The held-out examples of one confusion cell, from the last verdicts (computed now if none)."""
        if self.verdicts is None:
            self.confusion_matrix()
        assert self.verdicts is not None
        ds = self.dataset
        return gallery(self.verdicts, self._test_x, ds.pixel_mean, ds.pixel_std, true, predicted, limit)

    @torch.no_grad()
    def evaluate(self, max_samples: int | None = None) -> float:
        """Accuracy on the held-out set (its first `max_samples` images, or all of it)."""
        n = len(self._test_y) if max_samples is None else min(max_samples, len(self._test_y))
        correct = 0
        for start in range(0, n, 1000):
            stop = min(start + 1000, n)
            pred = self.model(self._fed(self._test_x[start:stop])).argmax(1)
            correct += int((pred == self._test_y[start:stop]).sum())
        return correct / n if n else math.nan

    def snapshot(self) -> Snapshot:
        """Everything a user can look at right now, as copies safe to hand to another thread."""
        return self.snapshot_later()()

    def snapshot_later(self) -> Callable[[], Snapshot]:
        """`snapshot()` in two halves: everything is read now, on this thread (copies of the weights
        and of the conv1 arrays, the norms, the graph); the returned function runs the probe image
        through the copied weights and returns the Snapshot, on any thread, at any time later."""
        image = self._fed(self._probe_input())
        frozen = FrozenLeNet(self._weights)  # conv1's weight and bias are read from this copy too
        acts = activations_later(frozen, image)
        drawn = self._probe_image is not None
        sal, target = saliency(self.model, image, self.saliency_target) if self.saliency_in_snapshot else (None, None)
        c1 = self.model.conv1
        rows = self._param_rows(self.last_stats if self.last_phase is Phase.UPDATE else None)
        now = dict(
            iteration=self.iteration,
            epoch=self._epoch,
            last_phase=self.last_phase,
            next_phase=self.phase,
            probe_index=self.probe_index,
            probe_label=None if drawn else int(self._test_y[self.probe_index]),
            conv1_grad=None if c1.weight.grad is None else to_numpy(c1.weight.grad),  # accumulates in place
            conv1_bias_grad=None if c1.bias.grad is None else to_numpy(c1.bias.grad),  # under skip_zero_grad
            params=rows,
            autograd=None if self._loss is None or not self.tree_in_snapshot else autograd_chain(self._loss, self._name_of),
            loss=self._loss_value,
            lr=self.effective_lr,
            probe_source="drawing" if drawn else "held-out",
            saliency=sal,
            saliency_target=target,
            dead_units=self._watch.dead_units(),
            autograd_graph=self._graph.graph(self._loss, self._name_of, latest=self.last_phase is Phase.UPDATE,
                                             backward_ran=self.last_phase in (Phase.BACKWARD, Phase.UPDATE))
            if self.graph_in_snapshot else None,
        )

        update = self._conv1_update()  # a fresh tensor

        def finish() -> Snapshot:
            a, weights = acts(), frozen.weights()
            return Snapshot(**now, probe_image=to_numpy(image[0]).astype("float32", copy=False), activations=a,
                            prediction=int(a["output"].argmax()), conv1_weight=to_numpy(weights[0]),
                            conv1_bias=to_numpy(weights[1]), conv1_update=None if update is None else to_numpy(update))

        return finish

    def _param_rows(self, stats: StepStats | None = None) -> tuple[ParamRow, ...]:
        """The parameter table: every weight and gradient norm in one fused kernel and one host read.
        Right after UPDATE, the iteration's stats hold these very norms (the same kernel on the same
        tensors: .grad is untouched by the step, the weights are read after it): no kernel at all."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if stats is not None and stats.iteration == self.iteration and not stats.diverged and len(grads) == len(self._params):
            weight_norms = [stats.weight_norms[n] for n in self._names]
            grad_norms = iter([stats.grad_norms[n] for n in self._names])
        else:
            norms = torch.stack(foreach.norms(self._weights + grads)).tolist()
            weight_norms, grad_norms = norms[: len(self._weights)], iter(norms[len(self._weights) :])
        return tuple(
            ParamRow(name=n, shape=tuple(p.shape), count=p.numel(), weight_norm=w,
                     grad_norm=None if p.grad is None else next(grad_norms))
            for n, p, w in zip(self._names, self._params, weight_norms)
        )

    # ------------------------------------------------------------ inside one step
    def explain_conv1_grad(self, f: int, r: int, c: int) -> Conv1GradExplanation:
        """conv1.weight.grad[f, 0, r, c] (and conv1.bias.grad[f]) worked out from this batch's numbers."""
        tap, conv1 = self._conv1_tap, self.model.conv1
        if tap.input is None or tap.upstream is None or conv1.weight.grad is None or conv1.bias.grad is None:
            raise ValueError("conv1.weight.grad is None: run BACKWARD first, then click a gradient cell")
        return explain_conv1_grad(
            to_numpy(tap.input), to_numpy(tap.upstream), to_numpy(conv1.weight.grad), to_numpy(conv1.bias.grad), f, r, c
        )

    def compare_manual_update(self) -> UpdateComparison:
        """The tutorial's hand-written update and SGD(momentum=0).step() on copies, at the optimizer's lr."""
        lr = float(self.optimizer.param_groups[0]["lr"])
        return compare_manual_update(list(zip(self._names, self._params)), lr)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self, history: bool = True) -> dict:
        """State as of the start of the current iteration (weights only change at its end).

        Plain types and tensors only, so torch.load(weights_only=True) can read it back.
        `history=False` leaves the metric history out (a recording keeps the metrics itself).
        """
        epoch, cursor = self._undo_fetch if self._undo_fetch else (self._epoch, self._cursor)
        return {
            "config": self.config.to_dict(),
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": _copied(self.optimizer.state_dict()),  # its tensors are live buffers
            "iteration": self.iteration,
            "samples_seen": self.samples_seen - (len(self._batch[1]) if self._undo_fetch and self._batch else 0),
            "epoch": epoch,
            "cursor": cursor,
            # Not a copy: the data order is a new tensor each epoch, never changed in place (so a recording's
            # writer knows it from the keyframe before by identity and does not hash it again).
            "perm": self._perm,
            "generator": self._gen.get_state(),
            "probe_index": self.probe_index,
            "conv1_update": None if (cu := self._conv1_update()) is None else cu.cpu(),
            **({"history": self.history.state_dict()} if history else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict.  The caller validates first; this assumes a matching architecture."""
        config = TrainConfig.from_dict(state["config"])
        if self.config.needs_new_data(config):
            self.dataset = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        self.device = resolve_device(config.device)
        self.config = config
        self._pending = None  # settings queued before the load belong to the old run
        self._load_tensors()
        self.reset()
        self.model.load_state_dict(state["model"])
        # buffers from the state, hyperparameters from the config: a file never sets lr or maximize
        self.optimizer.load_state_dict({**state["optimizer"], "param_groups": self.optimizer.state_dict()["param_groups"]})
        self.iteration = int(state["iteration"])
        self.samples_seen = int(state["samples_seen"])
        self._epoch, self._cursor = int(state["epoch"]), int(state["cursor"])
        self._perm = state["perm"].clone()
        self._gen.set_state(state["generator"])
        self.probe_index = int(state["probe_index"]) % self.num_probes
        cu = state.get("conv1_update")
        if cu is not None:
            self._before[0].copy_(-cu.to(self.device))
            self._has_update = True
        if "history" in state:
            self.history.load_state_dict(state["history"])


def _copied(optimizer_state: dict) -> dict:
    """An optimizer's state_dict() with its tensors cloned: what deepcopy made, in 0.1 ms instead of
    0.85 (a keyframe of the recording takes one every few iterations)."""
    return {
        "state": {i: {k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in buffers.items()}
                  for i, buffers in optimizer_state["state"].items()},
        "param_groups": copy.deepcopy(optimizer_state["param_groups"]),
    }


__all__ = ["Trainer", "make_optimizer", "resolve_device"]
