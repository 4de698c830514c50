"""The training loop's confusion matrix: a pass over the whole held-out set, done a chunk at a time.

While the app watches the matrix (`WatchConfusion`), a pass starts after every held-out evaluation
and after every restart; running, it advances one chunk per iteration within CONFUSION_SHARE of
the time, so training goes on meanwhile; paused, it completes at once (the user is waiting).
The loop owns one `LoopConfusion` and emits what `advance` returns.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

#: The held-out pass may use at most this share of training time while training runs.
CONFUSION_SHARE = 0.10


class LoopConfusion:
    def __init__(self) -> None:
        self.watching = False
        self.job: Any = None  # a HeldOutPass in progress
        self._spent = self._began = 0.0  # the time it has used / since it began

    def start(self, trainer: Any) -> None:
        self.job = trainer.confusion_pass()
        self._spent, self._began = 0.0, time.perf_counter()

    def drop(self) -> None:
        """Forget a pass over weights that are gone (a reset, a load, a rewind)."""
        self.job = None

    def advance(self, trainer: Any) -> tuple[int, np.ndarray] | None:
        """One chunk, if it is within its share of the time; (iteration, matrix) once the pass is done."""
        job, now = self.job, time.perf_counter()
        if job is None or (not job.done and self._spent > CONFUSION_SHARE * (now - self._began)):
            return None
        if not job.done:
            job.advance()
            self._spent += time.perf_counter() - now
        if not job.done:
            return None
        self.job = None
        if job.source is not trainer.model:  # a pass over weights a reset or a load replaced
            return None
        return job.iteration, job.verdicts.matrix()

    def complete(self, trainer: Any) -> tuple[int, np.ndarray] | None:
        """The whole pass now (paused: the user is waiting for it)."""
        if self.job is None:
            return None
        self.job.finish()
        return self.advance(trainer)
