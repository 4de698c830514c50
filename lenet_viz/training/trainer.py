"""The engine: LeNet trained one phase at a time, as the tutorial does it by hand.

An iteration is ZERO_GRAD -> FORWARD -> LOSS -> BACKWARD -> UPDATE.  `phase` is the phase
that runs next; between phases the state is exactly what the tutorial prints (every .grad
is None after ZERO_GRAD, populated after BACKWARD; weights move only in UPDATE).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ..data import Dataset, load_dataset
from ..model import LAYERS, LeNet
from .config import LIVE_FIELDS, ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode
from .explain import Conv1Tap, compare_manual_update, explain_conv1_grad
from .graph import GraphRecorder
from .history import MetricHistory
from .probes import activations, autograd_chain, to_numpy
from .types import Conv1GradExplanation, ParamRow, Phase, Snapshot, StepStats, UpdateComparison


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when torch sees a GPU, else CPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        build = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda} but sees no GPU"
        raise ConfigError("device", f"cuda is not available (torch {torch.__version__} is built {build}); use cpu or auto")
    return torch.device(name)


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
        self.probe_index = 0
        self._pending: TrainConfig | None = None
        #: Record the autograd graph's gradient norms in BACKWARD (~1 ms an iteration).  A run loop
        #: sets it False for iterations whose snapshot nobody will see; scripts and tests keep it on.
        self.record_graph = True
        self._in_step = False  # step() runs whole iterations: no forward-time shape recording
        self.reset()

    # ------------------------------------------------------------------ setup
    def _load_tensors(self) -> None:
        ds, dev = self.dataset, self.device
        self._train_x = ds.train_images.to(dev)
        self._train_y = ds.train_labels.to(dev)
        self._test_x = ds.test_images.to(dev)
        self._test_y = ds.test_labels.to(dev)
        self._train_t = ds.train_targets.to(dev) if ds.train_targets is not None else None

    def reset(self) -> None:
        """Re-initialize weights, optimizer and data order from the seed; clears the history."""
        torch.manual_seed(self.config.seed)
        self.model = LeNet().to(self.device)
        self._names = [n for n, _ in self.model.named_parameters()]
        self._params = [p for _, p in self.model.named_parameters()]
        self._name_of = {id(p): n for n, p in self.model.named_parameters()}
        self._graph = GraphRecorder()  # shapes and incoming gradients of the loss's grad_fn graph
        self._conv1_tap = Conv1Tap(self.model.conv1)  # conv1's input and upstream gradient, for the formula
        self._weights = [p.detach() for p in self._params]
        self._before = [torch.empty_like(w) for w in self._weights]  # reused by every UPDATE
        self._runners = {phase: getattr(self, f"_run_{phase.value}") for phase in Phase}
        self._layer_slices = [[i for i, n in enumerate(self._names) if n.split(".")[0] == layer] for layer in LAYERS]
        self.optimizer = self._make_optimizer()
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

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer is OptimizerKind.ADAM:
            return torch.optim.Adam(self._params, lr=c.lr)
        return torch.optim.SGD(self._params, lr=c.lr, momentum=c.momentum)

    def apply_config(self, config: TrainConfig) -> bool:
        """Adopt new settings.  Returns True if that re-initialized training (seed, data or device changed).

        Hyperparameters (lr, momentum, batch size, optimizer, loss, update mode) take effect at
        the next iteration boundary, so an iteration never mixes two configurations.
        """
        config.validate()
        new_data = any(getattr(config, f) != getattr(self.config, f) for f in ("dataset", "data_dir"))
        if new_data or (config.dataset == "random" and config.seed != self.config.seed):  # random data follows the seed
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
        if new.optimizer is not old.optimizer:
            self.optimizer = self._make_optimizer()
        else:
            for group in self.optimizer.param_groups:
                group["lr"] = new.lr
                if "momentum" in group:
                    group["momentum"] = new.momentum

    # ----------------------------------------------------------------- phases
    def step_phase(self) -> Phase:
        """Run exactly the next phase and return it."""
        ran = self.phase
        if ran is Phase.ZERO_GRAD:
            self._conv1_tap.clear()
        with self._graph.observe(ran, self._loss, shapes=not self._in_step, grads=self.record_graph):
            self._runners[ran]()
        self.last_phase = ran
        self.phase = ran.next()
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
        self.optimizer.zero_grad(set_to_none=True)
        self._diverged_now = False

    def _run_forward(self) -> None:
        self._batch = self._next_batch()
        self._output = self.model(self._batch[0])

    def _run_loss(self) -> None:
        assert self._output is not None and self._batch is not None
        out, y = self._output, self._batch[1]
        if self.config.loss is LossKind.MSE:
            target = self._batch_targets if self._batch_targets is not None else F.one_hot(y, 10).to(out.dtype)
            self._loss = F.mse_loss(out, target)
        else:
            self._loss = F.cross_entropy(out, y)
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
        if any(g is None for g in grads):
            first = [math.nan] * n + [self._accuracy.item()]
        else:  # one host read for the gradient norms and the batch accuracy
            first = torch.stack([*torch._foreach_norm(grads), self._accuracy]).tolist()
        gnorms, accuracy = first[:n], first[n]
        self._diverged_now = self._diverged_now or not all(math.isfinite(g) for g in gnorms)
        if self._diverged_now:  # skip the update: the weights stay finite, the user can go on
            ratios = {layer: math.nan for layer in LAYERS}
            wnorms = torch.stack(torch._foreach_norm(weights)).tolist()
        else:
            torch._foreach_copy_(before, weights)  # reused buffers: no allocation per iteration
            if self.config.update is UpdateMode.MANUAL:
                for p in self._params:  # the tutorial, verbatim
                    p.data.sub_(p.grad.data * self.config.lr)
            else:
                self.optimizer.step()
            torch._foreach_sub_(before, weights)  # `before` now holds minus this update
            self._has_update = True
            norms = torch.stack([*torch._foreach_norm(before), *torch._foreach_norm(weights)]).tolist()
            dn, wnorms = norms[:n], norms[n:]
            ratios = {}
            for layer, idx in zip(LAYERS, self._layer_slices):
                den = math.sqrt(sum(wnorms[i] ** 2 for i in idx))
                ratios[layer] = math.sqrt(sum(dn[i] ** 2 for i in idx)) / den if den > 0 else math.nan
        self.iteration += 1
        self._undo_fetch = None
        eval_acc = None
        if self.config.eval_every and self.iteration % self.config.eval_every == 0 and not self._diverged_now:
            eval_acc = self.evaluate(self.config.eval_samples)
            self.history.add_eval(self.iteration, eval_acc)
        self.last_stats = StepStats(
            iteration=self.iteration,
            epoch=self._batch_epoch,
            loss=self._loss_value,
            accuracy=accuracy,
            grad_norms=dict(zip(self._names, gnorms)),
            weight_norms=dict(zip(self._names, wnorms)),
            update_ratios=ratios,
            lr=self.config.lr,
            samples_seen=self.samples_seen,
            eval_accuracy=eval_acc,
            diverged=self._diverged_now,
        )
        self.history.append(self.last_stats)

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
        return self._train_x[idx], self._train_y[idx]

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

    def set_probe(self, index: int) -> None:
        self.probe_index = index % self.num_probes

    @torch.no_grad()
    def evaluate(self, max_samples: int | None = None) -> float:
        """Accuracy on the held-out set (its first `max_samples` images, or all of it)."""
        n = len(self._test_y) if max_samples is None else min(max_samples, len(self._test_y))
        correct = 0
        for start in range(0, n, 1000):
            stop = min(start + 1000, n)
            pred = self.model(self._test_x[start:stop]).argmax(1)
            correct += int((pred == self._test_y[start:stop]).sum())
        return correct / n if n else math.nan

    def snapshot(self) -> Snapshot:
        """Everything a user can look at right now, as copies safe to hand to another thread."""
        image = self._test_x[self.probe_index]
        acts = activations(self.model, image)
        c1 = self.model.conv1
        rows = tuple(
            ParamRow(
                name=n,
                shape=tuple(p.shape),
                count=p.numel(),
                weight_norm=float(p.detach().norm()),
                grad_norm=None if p.grad is None else float(p.grad.norm()),
            )
            for n, p in zip(self._names, self._params)
        )
        return Snapshot(
            iteration=self.iteration,
            epoch=self._epoch,
            last_phase=self.last_phase,
            next_phase=self.phase,
            probe_index=self.probe_index,
            probe_image=to_numpy(image[0]).astype("float32", copy=False),
            probe_label=int(self._test_y[self.probe_index]),
            activations=acts,
            prediction=int(acts["output"].argmax()),
            conv1_weight=to_numpy(c1.weight),
            conv1_grad=None if c1.weight.grad is None else to_numpy(c1.weight.grad),
            conv1_update=None if (cu := self._conv1_update()) is None else to_numpy(cu),
            conv1_bias=to_numpy(c1.bias),
            conv1_bias_grad=None if c1.bias.grad is None else to_numpy(c1.bias.grad),
            params=rows,
            autograd=None if self._loss is None else autograd_chain(self._loss, self._name_of),
            loss=self._loss_value,
            lr=self.config.lr,
            autograd_graph=self._graph.graph(self._loss, self._name_of),
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
    def state_dict(self) -> dict:
        """State as of the start of the current iteration (weights only change at its end).

        Plain types and tensors only, so torch.load(weights_only=True) can read it back.
        """
        epoch, cursor = self._undo_fetch if self._undo_fetch else (self._epoch, self._cursor)
        return {
            "config": self.config.to_dict(),
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),  # its tensors are live buffers
            "iteration": self.iteration,
            "samples_seen": self.samples_seen - (len(self._batch[1]) if self._undo_fetch and self._batch else 0),
            "epoch": epoch,
            "cursor": cursor,
            "perm": self._perm.clone(),
            "generator": self._gen.get_state(),
            "probe_index": self.probe_index,
            "conv1_update": None if (cu := self._conv1_update()) is None else cu.cpu(),
            "history": self.history.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict.  The caller validates first; this assumes a matching architecture."""
        config = TrainConfig.from_dict(state["config"])
        same_data = (config.dataset, config.data_dir) == (self.config.dataset, self.config.data_dir)
        if not same_data or (config.dataset == "random" and config.seed != self.config.seed):
            self.dataset = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        self.device = resolve_device(config.device)
        self.config = config
        self._pending = None  # settings queued before the load belong to the old run
        self._load_tensors()
        self.reset()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
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
        self.history.load_state_dict(state["history"])


__all__ = ["Trainer", "resolve_device", "LIVE_FIELDS"]
