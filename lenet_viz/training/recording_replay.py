"""Rebuilding the exact state after any iteration of a recording: nearest keyframe + deterministic replay.

Exactness needs everything that decides a step: weights, optimizer buffers, data order and
position, the sampler's RNG, the torch RNG, the settings in effect at each iteration (a
recording stores each change) and torch's thread count (it changes float summation order).
Replaying on the recorded device with the recorded thread count reproduces the original
losses bit for bit on CPU; a mismatch is reported as a warning naming the file.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections import OrderedDict
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..data import DataError, Dataset, load_dataset
from .checkpoint import MACHINE_FIELDS
from .config import ConfigError, TrainConfig
from .recorder import capture
from .recording_store import RecordingError
from .trainer import Trainer
from .types import Phase, Snapshot



class ReplayMismatchWarning(UserWarning):
    """A replayed loss differs from the recorded one (other thread count, device or torch version)."""


@contextmanager
def _isolated(threads: int) -> Iterator[None]:
    """Leave the caller's global torch RNG and thread count as they were (a live run may share them)."""
    before = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        try:
            torch.set_num_threads(threads)
            yield
        finally:
            torch.set_num_threads(before)


def _data_key(config: TrainConfig) -> tuple:
    return config.dataset, config.data_dir, config.seed if config.dataset == "random" else None


#: While replaying for a preview, the state every MEMO_EVERY iterations is kept in memory (the
#: last MEMO_STATES of them, ~0.5 MB each), so scrubbing back and forth replays a few iterations.
MEMO_EVERY, MEMO_STATES = 4, 64


class Replayer:
    """The torch side of a Recording: datasets loaded once, a scratch trainer and a memo for previews."""

    def __init__(self, recording: Any) -> None:  # a Recording (not imported: the two modules would import each other)
        self.rec = recording
        self._datasets: dict[tuple, Dataset] = {}
        self._scratch: Trainer | None = None
        self._scratch_branch: int | None = None
        self._memo: OrderedDict[tuple[int, int], dict[str, Any]] = OrderedDict()  # (line, iteration) -> state

    # ------------------------------------------------------------------ public
    def trainer_at(self, k: int, branch: int | None, dataset: Dataset | None) -> Trainer:
        branch, k = self._resolve(k, branch)
        trainer = self._restore(*self._start(k, branch, strict=False), dataset)
        self._replay(trainer, k, branch)
        trainer.history.clear()  # only the replayed tail would be in it; the recording has them all
        return trainer

    def observe(self, k: int, branch: int | None, probe_index: int, exact: bool, dataset: Dataset | None) -> Snapshot:
        branch, k = self._resolve(k, branch)
        with _isolated(self.rec.threads):
            start, load = self._start(k, branch, strict=exact)  # strict: replaying k itself leaves its grads
            target = k if exact else start
            t = self._scratch
            if t is None or self._scratch_branch != branch or not start <= t.iteration <= target or t.phase is not Phase.ZERO_GRAD:
                t = self._scratch = self._restore(start, load, dataset)
                self._scratch_branch = branch
            self._replay(t, target, branch, memo=True)
            t.set_probe(probe_index)
            return t.snapshot()

    # ----------------------------------------------------------------- helpers
    def _resolve(self, k: int, branch: int | None) -> tuple[int, int]:
        branch = self.rec.main_branch if branch is None else branch
        self._check_range(k, branch)
        return branch, int(k)

    def _start(self, k: int, branch: int, strict: bool) -> tuple[int, Callable[[], dict[str, Any]]]:
        """The latest exact state known at or before k (before k when `strict` and one is): iteration, loader."""
        kf_branch, kf = self.rec.nearest_keyframe(k, branch, before=strict)
        memo = [it for line, it in self._memo if line == branch and kf < it <= k and not (strict and it == k)]
        if memo:
            state = self._memo[(branch, max(memo))]
            self._memo.move_to_end((branch, max(memo)))
            # optimizer.load_state_dict keeps the buffers it is given: hand it copies, keep the memo intact
            return max(memo), lambda: {**state, "optimizer": copy.deepcopy(state["optimizer"])}
        return kf, lambda: self.rec.keyframe(kf_branch, kf, as_tensor=torch.from_numpy)

    def _check_range(self, k: int, branch: int) -> None:
        last = self.rec.last_iteration(branch)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= last:
            raise RecordingError(f"recording {self.rec.path} has iterations up to {last} on branch {branch}; "
                                 f"cannot go to iteration {k!r}")

    def _restore(self, iteration: int, load: Callable[[], dict[str, Any]], dataset: Dataset | None) -> Trainer:
        path = self.rec.path
        try:
            state = load()
            config = self._config(state)
            dataset = self._dataset(config, dataset)
            if dataset.name != state["dataset"] or dataset.num_train != len(state["perm"]):
                raise RecordingError(
                    f"cannot replay recording {path}: it was trained on {state['dataset']} ({len(state['perm']):,} "
                    f"training images), but here that data is {dataset.name} ({dataset.num_train:,})")
            self._datasets[_data_key(config)] = dataset
            trainer = Trainer(config, dataset=dataset)
            trainer.load_state_dict({**state, "config": config.to_dict()})
            torch.set_rng_state(state["torch_rng"])
        except RecordingError:
            raise
        except DataError as e:
            raise RecordingError(f"cannot replay recording {path}: its data is not available here: {e}") from None
        except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as e:
            raise RecordingError(f"cannot replay recording {path}: its keyframe at iteration {iteration} is damaged "
                                 f"({type(e).__name__}: {e})") from None
        return trainer

    def _config(self, state: dict[str, Any]) -> TrainConfig:
        """The run's settings, with this machine's device (the recorded one if present), threads and data."""
        saved = {k: v for k, v in state["config"].items() if k not in MACHINE_FIELDS}
        device = str(state.get("device", "cpu")).split(":")[0]
        if device == "cuda" and not torch.cuda.is_available():
            device = "cpu"
        data_dir = state["config"].get("data_dir")
        if data_dir is not None and not Path(data_dir).expanduser().is_dir():
            data_dir = None  # recorded elsewhere: look where this machine keeps its data
        return TrainConfig.from_dict({**saved, "device": device, "threads": int(state.get("threads", self.rec.threads)),
                                      "data_dir": data_dir})

    def _dataset(self, config: TrainConfig, given: Dataset | None) -> Dataset:
        """The run's data: the one a caller gave, else one loaded once (`_restore` keeps what fits)."""
        key = _data_key(config)
        if given is None and key not in self._datasets:
            self._datasets[key] = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        return given if given is not None else self._datasets[key]

    def _replay(self, trainer: Trainer, k: int, branch: int, memo: bool = False) -> None:
        """Step from trainer.iteration to k, applying each recorded settings change where it happened."""
        start = trainer.iteration
        if start >= k:
            return
        changes = dict(self.rec.settings(branch, after=start, upto=k))
        machine = {f: getattr(trainer.config, f) for f in MACHINE_FIELDS}
        stats = None
        graph = trainer.record_graph
        # No held-out evaluations, histograms or graph norms on the way (the last iteration's norms are
        # shown): the same weights, sooner (~1 ms an iteration, ~40 ms an evaluation on MNIST).
        trainer.replaying = True
        try:
            while trainer.iteration < k:
                if (change := changes.get(trainer.iteration + 1)) is not None:
                    config = TrainConfig.from_dict({**change, **machine})
                    if config != trainer.config:
                        trainer.apply_config(config)
                trainer.record_graph = graph and trainer.iteration + 1 == k
                stats = trainer.step()
                if memo and trainer.iteration % MEMO_EVERY == 0:
                    self._memo[(branch, trainer.iteration)] = capture(trainer)
                    if len(self._memo) > MEMO_STATES:
                        self._memo.popitem(last=False)
        finally:
            trainer.replaying, trainer.record_graph = False, graph
        recorded = self.rec.loss_at(k, branch)
        if stats is not None and stats.loss != recorded and not (math.isnan(stats.loss) and math.isnan(recorded)):
            warnings.warn(ReplayMismatchWarning(
                f"replaying recording {self.rec.path} gave loss {stats.loss!r} at iteration {k}, the recording has "
                f"{recorded!r} (it was made with {self.rec.threads} torch threads on {self.rec.header.get('device')}, "
                f"torch {self.rec.header.get('torch_version')}; here {torch.get_num_threads()} threads, torch {torch.__version__})"),
                stacklevel=4)


__all__ = ["ReplayMismatchWarning", "Replayer"]
