"""The training loop's recording: every run written to one file, and time travel over it.

Lives where training runs (it needs torch).  The loop owns one `LoopRecording`; it starts with
the trainer, follows its restarts, answers `Scrub` with a snapshot of the past (replayed on a
scratch trainer: the live run is untouched) and `ContinueFrom` with a trainer rewound to that
iteration, recorded as a new branch.  A recording that cannot be written never stops training:
it turns off with one line (`problem`).
"""

from __future__ import annotations

import logging
from typing import Any

from .recorder import Recorder
from .recording import Recording
from .recording_store import RecordingError

log = logging.getLogger(__name__)


class LoopRecording:
    def __init__(self, path: str | None, budget: int | None = None) -> None:
        self.path, self.budget = path, budget
        self.recorder: Recorder | None = None
        self.problem: str | None = None
        self._reader: Recording | None = None
        self.viewed: str | None = None  # a recording opened to look at (scrubbing reads it instead of our own)
        self._viewer: Recording | None = None
        self.followed = 0  # the last iteration of the viewed recording handed to the app

    @property
    def on(self) -> bool:
        return self.recorder is not None and not self.recorder.stopped

    def start(self, trainer: Any) -> None:
        if self.path is None:
            return
        try:
            self.recorder = Recorder(self.path, trainer, **({"budget": self.budget} if self.budget else {}))
        except (RecordingError, OSError, ValueError) as exc:
            self.problem = f"recording is off: {exc}"
            log.warning(self.problem)

    @property
    def branch_id(self) -> int:
        """The recording's branch the run is written to now (0: not recorded)."""
        return self.recorder.branch_id if self.on else 0  # type: ignore[union-attr]

    def status(self) -> str | None:
        """Why the recording stopped, if it did."""
        if self.recorder is not None and self.recorder.stopped:
            return self.recorder.stopped
        return self.problem

    def restarted(self, trainer: Any, kind: str) -> None:
        if self.on:
            self.recorder.restart(kind, trainer=trainer)  # type: ignore[union-attr]

    def event(self, kind: str, detail: Any = None) -> None:
        if self.on:
            self.recorder.on_event(kind, detail)  # type: ignore[union-attr]

    def view(self, path: str, dataset: Any = None) -> tuple[Any, list]:
        """Open `path` to look at: a trainer at its last iteration and its recorded iterations (StepStats)."""
        viewer = Recording.open(path)
        stats = viewer.step_stats()
        trainer = viewer.trainer_at(viewer.last_iteration())
        if self._viewer is not None:
            self._viewer.close()
        self.viewed, self._viewer = path, viewer
        self.followed = stats[-1].iteration if stats else 0
        return trainer, stats

    def follow(self) -> list:
        """What the viewed recording gained since the last look (its writer is another process)."""
        if self._viewer is None:
            return []
        stats = self._viewer.step_stats(after=self.followed)
        if stats:
            self.followed = stats[-1].iteration
        return stats

    def reader(self) -> Recording:
        if self._viewer is not None:
            return self._viewer  # scrubbing and rewinding read the run the user opened
        if not self.on:
            raise RecordingError(self.status() or "this run is not being recorded (start lenet-viz with --record PATH)")
        self.recorder.flush()  # type: ignore[union-attr]  # what the past needs is on disk
        if self._reader is None:
            self._reader = Recording.open(self.path)  # type: ignore[arg-type]
        return self._reader

    def observe(self, trainer: Any, k: int, exact: bool) -> Any:
        return self.reader().observe(k, probe_index=trainer.probe_index, exact=exact, dataset=trainer.dataset)

    def rewound(self, trainer: Any, k: int) -> Any:
        """A trainer in the state after iteration k of the line being recorded, with the live settings
        that can change mid-run (lr, momentum, ...), its probe and its history up to k; recorded as a new branch."""
        if not 0 <= k <= trainer.iteration:
            raise RecordingError(f"cannot continue from iteration {k}: the run is at iteration {trainer.iteration}")
        new = self.reader().trainer_at(k, dataset=trainer.dataset)
        live = trainer.config
        if not live.needs_new_data(new.config) and live.seed == new.config.seed:
            new.apply_config(new.config.replace(**{f: getattr(live, f) for f in LIVE_SETTINGS}))
        new.set_probe(trainer.probe_index)
        new.set_probe(trainer.probe)  # the user's drawing, if that is the probe
        new.history = trainer.history.truncated(k)
        if self.on:  # our own recording goes on as a new branch (a viewed run: a branch of ours starting at k)
            self.recorder.branch(k, trainer=new)  # type: ignore[union-attr]
        return new

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.close()
        if self.recorder is not None:
            self.recorder.close()
        if self._reader is not None:
            self._reader.close()


#: Settings a branch takes from the live run (the user may have changed them before "Continue from here").
LIVE_SETTINGS = ("lr", "momentum", "batch_size", "optimizer", "loss", "update")
