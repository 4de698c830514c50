"""Rebuilding the exact state after any iteration of a recording: nearest keyframe + deterministic replay.

Exactness needs everything that decides a step: weights, optimizer buffers, data order and
position, the sampler's RNG, the torch RNG, the settings in effect at each iteration (a
recording stores each change) and torch's thread count (it changes float summation order).
Replaying on the recorded device with the recorded thread count reproduces the original
losses bit for bit on CPU; a mismatch is reported as a warning naming the file.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data import DataError, Dataset, load_dataset
from .checkpoint import MACHINE_FIELDS
from .config import ConfigError, TrainConfig
from .recording_store import RecordingError
from .trainer import Trainer
from .types import Phase, Snapshot

if TYPE_CHECKING:
    from .recording import Recording


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


class Replayer:
    """The torch side of a Recording: datasets loaded once, and a scratch trainer for previews."""

    def __init__(self, recording: Recording) -> None:
        self.rec = recording
        self._datasets: dict[tuple, Dataset] = {}
        self._scratch: Trainer | None = None
        self._scratch_branch: int | None = None

    # ------------------------------------------------------------------ public
    def trainer_at(self, k: int, branch: int | None, dataset: Dataset | None) -> Trainer:
        branch = self.rec.main_branch if branch is None else branch
        self._check_range(k, branch)
        k = int(k)
        kf = self.rec.nearest_keyframe(k, branch)
        trainer = self._restore(kf, dataset)
        self._replay(trainer, k, branch)
        trainer.history.clear()  # only the replayed tail would be in it; the recording has them all
        return trainer

    def observe(self, k: int, branch: int | None, probe_index: int, exact: bool) -> Snapshot:
        branch = self.rec.main_branch if branch is None else branch
        self._check_range(k, branch)
        k = int(k)
        kf = self.rec.nearest_keyframe(k, branch, before=exact)  # before: replaying k itself leaves its grads
        with _isolated(self.rec.threads):
            t = self._scratch
            target = k if exact else kf[1]
            if t is None or self._scratch_branch != branch or not kf[1] <= t.iteration <= target or t.phase is not Phase.ZERO_GRAD:
                t = self._scratch = self._restore(kf, None)
                self._scratch_branch = branch
            self._replay(t, target, branch)
            t.set_probe(probe_index)
            return t.snapshot()

    # ----------------------------------------------------------------- helpers
    def _check_range(self, k: int, branch: int) -> None:
        last = self.rec.last_iteration(branch)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= last:
            raise RecordingError(f"recording {self.rec.path} has iterations up to {last} on branch {branch}; "
                                 f"cannot go to iteration {k!r}")

    def _restore(self, kf: tuple[int, int], dataset: Dataset | None) -> Trainer:
        path = self.rec.path
        try:
            state = self.rec.keyframe(*kf, as_tensor=torch.from_numpy)
            config = self._config(state)
            if dataset is None:
                dataset = self._dataset(config)
            if dataset.name != state["dataset"] or dataset.num_train != len(state["perm"]):
                raise RecordingError(
                    f"cannot replay recording {path}: it was trained on {state['dataset']} ({len(state['perm']):,} "
                    f"training images), but here that data is {dataset.name} ({dataset.num_train:,})")
            trainer = Trainer(config, dataset=dataset)
            trainer.load_state_dict({**state, "config": config.to_dict()})
            torch.set_rng_state(state["torch_rng"])
        except RecordingError:
            raise
        except DataError as e:
            raise RecordingError(f"cannot replay recording {path}: its data is not available here: {e}") from None
        except (ConfigError, KeyError, TypeError, ValueError, RuntimeError) as e:
            raise RecordingError(f"cannot replay recording {path}: its keyframe at iteration {kf[1]} is damaged "
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

    def _dataset(self, config: TrainConfig) -> Dataset:
        key = (config.dataset, config.data_dir, config.seed if config.dataset == "random" else None)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        return self._datasets[key]

    def _replay(self, trainer: Trainer, k: int, branch: int) -> None:
        """Step from trainer.iteration to k, applying each recorded settings change where it happened."""
        start = trainer.iteration
        if start >= k:
            return
        changes = dict(self.rec.settings(branch, after=start, upto=k))
        machine = {f: getattr(trainer.config, f) for f in MACHINE_FIELDS}
        stats = None
        while trainer.iteration < k:
            if (change := changes.get(trainer.iteration + 1)) is not None:
                config = TrainConfig.from_dict({**change, **machine})
                if config != trainer.config:
                    trainer.apply_config(config)
            stats = trainer.step()
        recorded = self.rec.loss_at(k, branch)
        if stats is not None and stats.loss != recorded and not (math.isnan(stats.loss) and math.isnan(recorded)):
            warnings.warn(ReplayMismatchWarning(
                f"replaying recording {self.rec.path} gave loss {stats.loss!r} at iteration {k}, the recording has "
                f"{recorded!r} (it was made with {self.rec.threads} torch threads on {self.rec.header.get('device')}, "
                f"torch {self.rec.header.get('torch_version')}; here {torch.get_num_threads()} threads, torch {torch.__version__})"),
                stacklevel=4)


__all__ = ["ReplayMismatchWarning", "Replayer"]
