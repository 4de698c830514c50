"""Every command the app sends the training loop and every event it gets back: declared once, here.

Why one module of frozen dataclasses: the loop dispatches commands by type, the outbox has a
single `emit(event)`, the GUI dispatches events by type (`app/session.py`), and the pipe to
the training process pickles them as they are.  Adding an engine output is one event class
here and one handler in the session; adding a command is one class here and one handler in
the loop.

Every event carries `run`, the id of the run it belongs to: the loop starts a new run on
reset, on a restarting config and when a checkpoint replaces the trainer's state, and the
session drops events of a run it has already seen replaced (ndv's generation counters).
Torch-free, Qt-free: both processes import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .config import TrainConfig
from .history import MetricHistory
from .types import Phase, RunInfo, Snapshot, StepStats


class Command:
    """Base of what the app asks of the loop."""


@dataclass(frozen=True)
class Play(Command):
    pass


@dataclass(frozen=True)
class Pause(Command):
    pass


@dataclass(frozen=True)
class Toggle(Command):
    pass


@dataclass(frozen=True)
class StepIteration(Command):
    """Pause and finish the current iteration (a whole one at a boundary)."""


@dataclass(frozen=True)
class StepPhase(Command):
    """Pause and run exactly the next phase."""


@dataclass(frozen=True)
class Reset(Command):
    """Pause and re-initialize from the seed: a new run."""


@dataclass(frozen=True)
class ApplyConfig(Command):
    """Hyperparameters at the next iteration boundary; seed, data or device start a new run."""

    config: TrainConfig


@dataclass(frozen=True)
class SetSpeed(Command):
    limit: float | None  # iterations per second; None or 0: unlimited


@dataclass(frozen=True)
class SetProbe(Command):
    which: int | str  # a held-out index, or "next", "previous", "random"


@dataclass(frozen=True)
class RequestSnapshot(Command):
    pass


@dataclass(frozen=True)
class OpenCheckpoint(Command):
    """Replace the run with the one saved in `path` (absolute): answered by `RunStarted(cause="opened")`."""

    path: str
    token: int = 0


@dataclass(frozen=True)
class SaveCheckpoint(Command):
    """Save the run to `path` (absolute) between two iterations: answered by `CheckpointSaved`."""

    path: str
    token: int = 0


@dataclass(frozen=True)
class ExportMetrics(Command):
    """Write every iteration of the run so far to `path` (absolute) as CSV, the headless columns:
    answered by `MetricsExported`, or `Failed` naming the file."""

    path: str
    token: int = 0


@dataclass(frozen=True)
class Call(Command):
    """Run `fn(trainer)` where training runs (a module-level function or a partial of one: it
    must pickle); answered by `CallDone` with the same token."""

    token: int
    fn: Callable[[Any], Any]


@dataclass(frozen=True)
class Stop(Command):
    pass


class Event:
    """Base of what the loop reports; `run` is the id of the run it belongs to."""

    run: int


@dataclass(frozen=True)
class Ready(Event):
    """The trainer is built; its first snapshot was already sent."""

    run: int
    info: RunInfo


@dataclass(frozen=True)
class Stats(Event):
    """One completed iteration (never dropped)."""

    run: int
    stats: StepStats


@dataclass(frozen=True)
class SnapshotTaken(Event):
    """What the user can look at now (latest wins), with the settings the trainer runs."""

    run: int
    snapshot: Snapshot
    config: TrainConfig


@dataclass(frozen=True)
class PhaseRan(Event):
    run: int
    phase: Phase


@dataclass(frozen=True)
class RunStarted(Event):
    """A new run replaced the old one; its first snapshot comes with it, so nothing sees half of it.

    `cause`: "reset", "config" (seed, data or device changed) or "opened" (a checkpoint, whose
    history and path come along)."""

    run: int
    cause: str
    info: RunInfo
    snapshot: Snapshot
    config: TrainConfig
    history: MetricHistory | None = None
    path: str | None = None
    token: int = 0


@dataclass(frozen=True)
class CheckpointSaved(Event):
    run: int
    path: str
    iteration: int
    token: int = 0


@dataclass(frozen=True)
class MetricsExported(Event):
    run: int
    path: str
    rows: int
    first_iteration: int | None = None
    token: int = 0


@dataclass(frozen=True)
class RunningChanged(Event):
    run: int
    running: bool


@dataclass(frozen=True)
class Failed(Event):
    """One line for the user; the loop is paused.  `token` names the command that failed, if any."""

    run: int
    message: str
    token: int = 0


@dataclass(frozen=True)
class Diverged(Event):
    run: int
    iteration: int
    loss: float


@dataclass(frozen=True)
class CallDone(Event):
    run: int
    token: int
    result: Any = None


#: Commands answered by an event carrying their token (the worker's futures wait for these).
TOKEN_EVENTS = (RunStarted, CheckpointSaved, MetricsExported, CallDone, Failed)
