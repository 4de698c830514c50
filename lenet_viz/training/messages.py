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
    which: Any  # a held-out index, "next", "previous", "random", or an image: (1, 32, 32) or (32, 32) in [0, 1]


@dataclass(frozen=True)
class ShowSaliency(Command):
    """Put the probe's saliency map in every snapshot (a backward pass each) or stop; `target` None = predicted class."""

    on: bool
    target: int | None = None


@dataclass(frozen=True)
class ShowGraph(Command):
    """What of the loss's autograd graph the snapshots carry: `on`, the graph with its gradient norms
    (recorded on the running iterations whose snapshot is sent, about 1 ms each; stepped ones always);
    `tree`, the `next_functions` tree.  The window says which of its docks are on screen."""

    on: bool
    tree: bool = True


@dataclass(frozen=True)
class WatchConfusion(Command):
    """Keep a confusion matrix of the whole held-out set up to date (after each evaluation) or stop."""

    on: bool


@dataclass(frozen=True)
class RefreshConfusion(Command):
    """A confusion matrix now: answered by `ConfusionReady`."""


@dataclass(frozen=True)
class RequestGallery(Command):
    """The held-out examples of one confusion cell: answered by `GalleryReady`."""

    true: int
    predicted: int


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
class Scrub(Command):
    """Show the run as it was after iteration k (from the recording; the live run is untouched):
    answered by `ScrubView`.  `exact` False: the nearest state already known (while dragging)."""

    iteration: int
    exact: bool = True


@dataclass(frozen=True)
class ContinueFrom(Command):
    """Rewind to iteration k of the recording and train on from there, as a new branch (the
    abandoned one stays in the recording, and on screen as a ghost): answered by `RunStarted(cause="branch")`."""

    iteration: int


@dataclass(frozen=True)
class OpenRecording(Command):
    """Show the run recorded in `path` (absolute; another process may still be writing it): the network
    as it was at its last iteration, its curves, scrubbing over it; training goes on from there if asked.
    Answered by `RunStarted(cause="opened")`."""

    path: str


@dataclass(frozen=True)
class FollowRecording(Command):
    """Read what the recording being viewed has gained since (its writer is elsewhere): answered by `Stats`."""


@dataclass(frozen=True)
class ExplainCell(Command):
    """Explain conv1.weight.grad[f, 0, r, c] with the current batch's numbers: answered by `CellExplained`."""

    filter: int
    row: int
    col: int


@dataclass(frozen=True)
class CompareUpdate(Command):
    """The tutorial's hand-written update beside optimizer.step() on the current grads: answered by `UpdateCompared`."""


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

    `cause`: "reset", "config" (seed, data or device changed), "opened" (a checkpoint, whose
    history and path come along), "recording" (a recording opened to look at) or "branch" (a rewind)."""

    run: int
    cause: str
    info: RunInfo
    snapshot: Snapshot
    config: TrainConfig
    history: MetricHistory | None = None
    path: str | None = None
    token: int = 0
    branch: int = 0  # the recording's branch this run is written to (0: not recorded)


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
    """One line for the user; the loop is paused.  `token` names the command that failed, if any;
    `command` its class name ("SaveCheckpoint"), so a later success of the same kind can clear it."""

    run: int
    message: str
    token: int = 0
    command: str = ""


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


@dataclass(frozen=True)
class ConfusionReady(Event):
    run: int
    iteration: int  # the weights the matrix describes
    matrix: Any  # (10, 10) int64: rows true labels, columns predictions


@dataclass(frozen=True)
class GalleryReady(Event):
    run: int
    gallery: Any  # training.confusion.Gallery


@dataclass(frozen=True)
class ScrubView(Event):
    run: int
    iteration: int  # asked for; the snapshot's own iteration says what it shows (a preview may be earlier)
    snapshot: Snapshot


@dataclass(frozen=True)
class RecordingState(Event):
    """Where the run is recorded, or why it is not (any more): `path` None when off, `problem` set when it stopped."""

    run: int
    path: str | None
    problem: str | None = None
    branch: int = 0  # the recording's branch the run is written to now


@dataclass(frozen=True)
class CellExplained(Event):
    run: int
    explanation: Any  # types.Conv1GradExplanation, or None with `message` saying why not (no gradient yet)
    message: str = ""


@dataclass(frozen=True)
class UpdateCompared(Event):
    run: int
    comparison: Any  # types.UpdateComparison, or None with `message`
    message: str = ""


#: Commands answered by an event carrying their token (the worker's futures wait for these).
TOKEN_EVENTS = (RunStarted, CheckpointSaved, MetricsExported, CallDone, Failed)
