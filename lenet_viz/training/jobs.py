"""Functions of a Trainer that the app asks the worker to run (`TrainingWorker.call`).

The trainer may live in another process, so these are module-level (they pickle by name) and
return plain picklable values; bind arguments with functools.partial, never a lambda.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from .config import TrainConfig
from .types import RunInfo, StepStats


@dataclass(frozen=True)
class CheckpointDone:
    """What a finished save or open reports to the GUI thread: plain values and a config copy."""

    opened: bool  # False: saved
    path: str
    iteration: int
    epoch: int
    config: TrainConfig
    dataset_text: str


def _done(trainer: Any, path: Path, *, opened: bool) -> CheckpointDone:
    return CheckpointDone(
        opened, str(path), trainer.iteration, trainer.epoch, trainer.config.replace(), RunInfo.of(trainer).describe(),
    )


def _save(path: Path, trainer: Any) -> CheckpointDone:
    from .checkpoint import save_checkpoint

    return _done(trainer, save_checkpoint(trainer, path), opened=False)


def _open(path: Path, trainer: Any) -> CheckpointDone:
    from .checkpoint import restore_checkpoint

    restore_checkpoint(trainer, path)
    return _done(trainer, path, opened=True)


def save_job(path: str | os.PathLike[str]) -> Callable[[Any], CheckpointDone]:
    """Save the run to `path` (atomically; a failure leaves an old file intact)."""
    return partial(_save, Path(path).expanduser().absolute())  # the child works in another folder


def open_job(path: str | os.PathLike[str]) -> Callable[[Any], CheckpointDone]:
    """Replace the run with the one saved in `path`; a bad file changes nothing."""
    return partial(_open, Path(path).expanduser().absolute())


def clock_mark(trainer: Any) -> tuple[float, int, float]:
    """(perf_counter, iteration, CPU time of the training thread): the benchmark's marker.  perf_counter
    is the system's monotonic clock, so marks from a training process compare with the GUI's."""
    return time.perf_counter(), trainer.iteration, time.thread_time()


def last_stats(trainer: Any) -> StepStats | None:
    return trainer.last_stats


def iteration(trainer: Any) -> int:
    return trainer.iteration
