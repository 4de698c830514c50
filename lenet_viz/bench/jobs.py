"""Functions of a Trainer that the benchmark asks the worker to run (`worker.call`): module-level,
so they pickle by name into the training process."""

from __future__ import annotations

import time
from typing import Any


def clock_mark(trainer: Any) -> tuple[float, int, float]:
    """(perf_counter, iteration, CPU time of the training thread): the benchmark's marker.  perf_counter
    is the system's monotonic clock, so marks from a training process compare with the GUI's."""
    return time.perf_counter(), trainer.iteration, time.thread_time()


def last_stats(trainer: Any):  # noqa: ANN201 - a StepStats or None
    return trainer.last_stats
