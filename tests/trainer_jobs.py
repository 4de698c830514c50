"""Functions of a Trainer that tests ask the worker to run (`worker.call`), where training runs.

Module-level, so they pickle by name into a training process (the child imports this module
from the tests' folder, which pytest puts on the path the child inherits).
"""

from __future__ import annotations

from typing import Any


def last_stats(trainer: Any):  # noqa: ANN201 - a StepStats or None
    return trainer.last_stats


def iteration(trainer: Any) -> int:
    return trainer.iteration


def payload_size(trainer: Any, payload: bytes) -> int:
    """A command as large as `payload` (a partial of this): more than a socket's buffer holds."""
    return len(payload)


def slow_fsync(trainer: Any, seconds: float) -> None:
    """Make every fsync where training runs take `seconds` (a USB stick), for the rest of that process."""
    import os
    import time

    real = os.fsync

    def slow(fd: int) -> None:
        time.sleep(seconds)
        real(fd)

    os.fsync = slow


def dataset_identity(trainer: Any) -> tuple[str, int, int]:
    """(name, training images, process id) of the data the trainer trains on, and where it lives."""
    import os

    return trainer.dataset.name, trainer.dataset.num_train, os.getpid()
