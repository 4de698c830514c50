"""The run loop that drives a Trainer from a stream of commands: play, pause, step, reset, ...

Qt-free, so the same loop runs on a thread of the GUI process or alone in a child process
(`training/remote.py`): the app's worker only chooses where, and what carries the commands in
and the results out.

- Commands (`training/messages.py`) come from a queue-like `Commands` (`get(timeout)`, `get_nowait()`, `qsize()`):
  paused, the loop blocks on it (no busy wait); running, it looks at it between iterations,
  and a speed limit is a `get(timeout=...)`, so a command always wakes it at once.
- Events go to an `Outbox`'s one `emit()`: every `Stats` (never dropped), snapshots, state changes,
  each tagged with the run it belongs to.
  Snapshots cost milliseconds, so while running one is taken at most every `snapshot_interval`
  seconds and never more than `snapshot_budget` of the time (display cost scales with the
  frame rate, not with training speed); after any command one is always taken.
"""

from __future__ import annotations

import logging
import math
import queue
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..data import DataError
from .config import ConfigError, TrainConfig
from .loop_confusion import LoopConfusion
from .metrics_log import MetricsLog
from .messages import (
    ApplyConfig, Call, CallDone, CheckpointSaved, Command, ConfusionReady, Diverged, Event, ExportMetrics, Failed,
    GalleryReady, MetricsExported,
    CellExplained, CompareUpdate, ContinueFrom, ExplainCell, FollowRecording, OpenCheckpoint, OpenRecording, Pause, PhaseRan, Play, Ready, RecordingState, RefreshConfusion, RequestGallery,
    RequestSnapshot, Reset, RunningChanged, RunStarted, SaveCheckpoint, Scrub, ScrubView, SetProbe, SetSpeed,
    ShowGraph, ShowSaliency, SnapshotTaken, Stats, StepIteration, StepPhase, Stop, Toggle, UpdateCompared, WatchConfusion,
)
from .types import Phase, RunInfo, Snapshot, StepStats

log = logging.getLogger(__name__)

#: The snapshot budget never stretches the gap between running snapshots beyond this.
MAX_SNAPSHOT_GAP_S = 0.25
#: While training runs, the autograd graph's gradient norms (~1 ms an iteration) are recorded at most
#: this often; the snapshots between show the latest recorded ones, and say which iteration they are of.
GRAPH_NORMS_GAP_S = 0.2
PROBE_MOVES = ("next", "previous", "random")
#: What the user was doing, by command, for error messages.
DOING = {
    Play: "Run", Pause: "Pause", Toggle: "Run / Pause", StepIteration: "Step", StepPhase: "Step phase", Reset: "Reset",
    ApplyConfig: "Applying settings", SetSpeed: "Speed limit", SetProbe: "Choosing the probe image",
    RequestSnapshot: "Snapshot", OpenCheckpoint: "Opening the checkpoint", SaveCheckpoint: "Saving the checkpoint",
    Call: "Running a task", Stop: "Stop", ShowSaliency: "Saliency", ShowGraph: "Autograd graph", WatchConfusion: "Confusion matrix",
    RefreshConfusion: "Confusion matrix", RequestGallery: "Confusion examples", Scrub: "Going back in time",
    ContinueFrom: "Continuing from there", OpenRecording: "Opening the recording", FollowRecording: "Following the recording",
    ExplainCell: "Explaining a gradient", CompareUpdate: "Comparing updates", ExportMetrics: "Exporting the metrics",
}


class Commands(Protocol):
    """What `queue.Queue` offers; `remote.PipeCommands` offers it over a pipe."""

    def get(self, block: bool = True, timeout: float | None = None) -> Command: ...
    def get_nowait(self) -> Command: ...
    def qsize(self) -> int: ...


class Outbox(Protocol):
    """Where the loop's events go, in order, from the loop's thread.  An outbox may also offer
    `emit_later(make)`: send `make()`, made on a thread of its own, after what came before
    (`remote.PipeOutbox` does, for snapshots); without it the loop makes the event itself."""

    def emit(self, event: Event) -> None: ...


class TrainingLoop:
    """Owns a Trainer (built here, from `config`, unless one is given) and obeys `commands`."""

    def __init__(
        self, outbox: Outbox, commands: Commands, *, config: TrainConfig | None = None, trainer: Any = None,
        torch_threads: int | None = None, snapshot_interval: float = 1 / 30, snapshot_budget: float = 0.05,
        probe_seed: int = 0, record: str | None = None, record_budget: int | None = None, dataset: Any = None,
    ) -> None:
        self.outbox = outbox
        self.commands = commands
        self.trainer = trainer
        self._config = config if config is not None else TrainConfig()
        self._dataset = dataset  # the config's data, loaded already (a warm training process), or None
        self._torch_threads = torch_threads
        self.snapshot_interval = snapshot_interval
        self.snapshot_budget = snapshot_budget
        self._rng = random.Random(probe_seed)
        self.stopped = False
        self.running = False
        self.run_id = 1  # bumped by every new run, so the app can drop a replaced run's events
        self._period = 0.0  # seconds per iteration under the speed limit (0: unlimited)
        self._next_tick = 0.0
        self._snap_due = -math.inf  # running snapshots follow a fixed grid of due times
        self._snap_cost = 0.0
        self._graph_due = -math.inf  # when running iterations may record the graph's norms again
        self._step_s = 0.0  # how long the last running iteration took
        self._record_path, self._record_budget = record, record_budget
        self.recording: Any = None  # a LoopRecording once the trainer exists (it needs torch)
        self._recording_said: str | None = None
        #: Running iterations record the graph's gradient norms when their snapshot will be sent, while
        #: someone looks at the graph (`ShowGraph`; on for scripts).  Stepped iterations always do.
        self.graph_shown = True
        self.tree_shown = True
        self.confusion = LoopConfusion()  # the held-out pass behind the confusion matrix (loop_confusion.py)
        self._handlers: dict[type, Callable[[Any], None]] = {
            Play: self._play, Pause: self._pause, Toggle: self._toggle, StepIteration: self._step_iteration,
            StepPhase: self._step_phase, Reset: self._reset, ApplyConfig: self._apply_config, SetSpeed: self._speed,
            SetProbe: self._probe, RequestSnapshot: lambda _: self._publish(), OpenCheckpoint: self._open,
            SaveCheckpoint: self._save, Call: self._call, Stop: self._stop, ShowSaliency: self._saliency,
            ShowGraph: self._show_graph,
            WatchConfusion: self._watch, RefreshConfusion: self._refresh_confusion, RequestGallery: self._gallery,
            Scrub: self._scrub, ContinueFrom: self._continue_from, ExplainCell: self._explain,
            CompareUpdate: self._compare_update, OpenRecording: self._open_recording, FollowRecording: self._follow,
            ExportMetrics: self._export_metrics,
        }
        self.metrics = MetricsLog()  # every iteration of the run, for File ▸ Export metrics

    def run(self) -> None:
        """Build, then obey commands until Stop (or until the command source ends)."""
        try:
            if self.trainer is None:
                from .trainer import Trainer  # torch: only where training runs

                self.trainer = Trainer(self._config, dataset=self._dataset)
                self._dataset = None
            # Per thread with OpenMP builds: the count must be set here, where training runs,
            # even when the trainer was built (and config.threads applied) in another thread.
            if threads := self._torch_threads or self.trainer.config.threads:
                import torch

                torch.set_num_threads(threads)
            from .loop_recording import LoopRecording

            self.recording = LoopRecording(self._record_path, self._record_budget)
            self._publish()  # the network, drawn from the model alone: the optimizer is not built yet
            # Then what the first step needs: torch's first optimizer imports torch._dynamo (~1.5 s), and
            # the recording's first keyframe holds the optimizer's state.  Ready follows: until then there is
            # nothing to lose, and closing the window ends this process at once.
            self.trainer.optimizer  # noqa: B018 - built on first use
            self.recording.start(self.trainer)
        except Exception as exc:  # noqa: BLE001 - reported to the user, the loop ends cleanly
            self._fail("Starting training", exc)
            return
        self._emit(Ready(self.run_id, RunInfo.of(self.trainer)))
        self._say_recording()
        try:
            self._serve()
        finally:
            self.recording.close()

    def _serve(self) -> None:
        commands = self.commands
        while not self.stopped:
            if not self.running:
                self._handle(commands.get())
            elif commands.qsize():
                self._handle(commands.get_nowait())
            elif (wait := self._next_tick - time.perf_counter()) > 0:
                try:  # the speed limit: sleep on the queue so a command still wakes us
                    self._handle(commands.get(timeout=wait))
                except queue.Empty:
                    pass
            else:
                try:
                    self._train_one()
                except Exception as exc:  # noqa: BLE001 - never let the loop die silently
                    self._fail("Training step", exc)

    def _train_one(self) -> None:
        self._next_tick = time.perf_counter() + self._period
        # The graph's gradient norms cost ~1 ms an iteration: only for an iteration whose snapshot will be
        # seen, a few times a second (GRAPH_NORMS_GAP_S).
        start = time.perf_counter()
        self._t.record_graph = self.graph_shown and start + self._step_s >= self._snap_due and start >= self._graph_due
        if self._t.record_graph:
            self._graph_due = start + GRAPH_NORMS_GAP_S
        stats = self._t.step()
        self._step_s = time.perf_counter() - start
        gap = max(self.snapshot_interval, min(self._snap_cost / self.snapshot_budget, MAX_SNAPSHOT_GAP_S))
        now = time.perf_counter()
        publish = now >= self._snap_due
        if publish:  # due + gap, not now + gap: snapshots wait for an iteration's end, so "gap after
            # the last one" lost half an iteration a frame (26 fps where 30 were asked, at 11 ms/it)
            self._snap_due = self._snap_due + gap if self._snap_due + gap > now else now + gap
        self._finished(stats, publish=publish)
        self._confusion_ready(self.confusion.advance(self._t))

    def _handle(self, command: Command) -> None:
        try:
            handler = self._handlers.get(type(command))
            if handler is None:
                raise ValueError(f"unknown command {command!r}")
            handler(command)
        except Exception as exc:  # noqa: BLE001 - reported, paused, still accepting commands
            self._fail(DOING.get(type(command), type(command).__name__), exc, getattr(command, "token", 0),
                       type(command).__name__)

    def _play(self, _: Play) -> None:
        self._next_tick = 0.0
        self._set_running(True)

    def _pause(self, _: Pause | None) -> None:
        self._set_running(False)
        self._publish()

    def _toggle(self, _: Toggle) -> None:
        (self._pause if self.running else self._play)(None)

    def _step_iteration(self, _: StepIteration) -> None:
        self._set_running(False)
        self._t.record_graph = True
        self._finished(self._t.step())
        self._confusion_ready(self.confusion.complete(self._t))  # paused: an evaluation's matrix is worth the wait

    def _step_phase(self, _: StepPhase) -> None:
        self._set_running(False)
        self._t.record_graph = True
        ran = self._t.step_phase()
        self._emit(PhaseRan(self.run_id, ran))
        if ran is Phase.UPDATE and self._t.last_stats is not None:
            self._finished(self._t.last_stats)
        else:
            self._publish()

    def _reset(self, _: Reset) -> None:
        self._set_running(False)
        self._t.reset()
        self._restarted("reset")

    def _apply_config(self, command: ApplyConfig) -> None:
        if self._t.apply_config(command.config):
            self._restarted("config")
        else:
            self._publish()

    def _speed(self, command: SetSpeed) -> None:
        self._period = 1.0 / command.limit if command.limit else 0.0
        self._next_tick = 0.0

    def _probe(self, command: SetProbe) -> None:
        t, which = self._t, command.which
        if not isinstance(which, (int, str)):  # an image: the user's drawing
            t.set_probe(which)
        elif which == "random":
            index = self._rng.randrange(t.num_probes)
        elif which in ("next", "previous"):
            index = t.probe_index + (1 if which == "next" else -1)
        else:
            index = int(which)
        if isinstance(which, (int, str)):
            t.set_probe(index)  # wraps around
        self._publish()

    def _saliency(self, command: ShowSaliency) -> None:
        self._t.saliency_in_snapshot, self._t.saliency_target = command.on, command.target
        self._publish()

    def _show_graph(self, command: ShowGraph) -> None:
        was = (self.graph_shown, self.tree_shown)
        self.graph_shown, self.tree_shown = command.on, command.tree
        if (command.on and not was[0]) or (command.tree and not was[1]):  # left out of snapshots nobody looked at
            self._publish()

    def _watch(self, command: WatchConfusion) -> None:
        self.confusion.watching = command.on
        if command.on and self.confusion.job is None:
            self.confusion.start(self._t)

    def _refresh_confusion(self, _: RefreshConfusion | None = None) -> None:
        self.confusion.start(self._t)
        if not self.running:  # paused: the user is waiting for it
            self._confusion_ready(self.confusion.complete(self._t))

    def _confusion_ready(self, done: tuple | None) -> None:
        if done is not None:
            self._emit(ConfusionReady(self.run_id, *done))

    def _gallery(self, command: RequestGallery) -> None:
        self._emit(GalleryReady(self.run_id, self._t.gallery(command.true, command.predicted)))

    def _scrub(self, command: Scrub) -> None:
        snapshot = self.recording.observe(self._t, command.iteration, command.exact)
        self._emit(ScrubView(self.run_id, command.iteration, snapshot))

    def _continue_from(self, command: ContinueFrom) -> None:
        self._set_running(False)
        self.trainer = self.recording.rewound(self._t, command.iteration)
        self._restarted("branch", history=self._t.history.copy())

    def _open_recording(self, command: OpenRecording) -> None:
        self._set_running(False)
        trainer, stats = self.recording.view(command.path)  # a bad file raises before anything changed
        trainer.history.extend(stats)
        for s in stats:
            if s.eval_accuracy is not None:
                trainer.history.add_eval(s.iteration, s.eval_accuracy)
        self.trainer = trainer
        self._restarted("recording", history=trainer.history.copy(), path=command.path)
        for s in stats:  # Export ▸ Metrics gives the viewed run's iterations too
            self.metrics.add(s)

    def _follow(self, _: FollowRecording) -> None:
        for stats in self.recording.follow():
            self.metrics.add(stats)
            self._emit(Stats(self.run_id, stats))

    def _explain(self, command: ExplainCell) -> None:
        try:
            explained, message = self._t.explain_conv1_grad(command.filter, command.row, command.col), ""
        except (ValueError, IndexError) as exc:  # no gradient yet, or a cell outside conv1: the panel says so
            explained, message = None, str(exc)
        self._emit(CellExplained(self.run_id, explained, message))

    def _compare_update(self, _: CompareUpdate) -> None:
        try:
            compared, message = self._t.compare_manual_update(), ""
        except ValueError as exc:
            compared, message = None, str(exc)
        self._emit(UpdateCompared(self.run_id, compared, message))

    def _say_recording(self) -> None:
        if self.recording.path is None:
            return  # not asked to record: nothing to say
        problem = self.recording.status()
        if problem != self._recording_said or self._recording_said is None:
            self._recording_said = problem or ""
            path = self.recording.path if self.recording.on else None
            self._emit(RecordingState(self.run_id, path, problem, self.recording.branch_id))

    def _open(self, command: OpenCheckpoint) -> None:
        from .checkpoint import restore_checkpoint  # torch: only where training runs

        self._set_running(False)
        restore_checkpoint(self._t, command.path)  # a bad file raises before anything changed
        self._restarted("opened", history=self._t.history.copy(), path=command.path, token=command.token)

    def _save(self, command: SaveCheckpoint) -> None:
        from .checkpoint import save_checkpoint

        path = save_checkpoint(self._t, command.path)
        self._emit(CheckpointSaved(self.run_id, str(path), self._t.iteration, command.token))

    def _export_metrics(self, command: ExportMetrics) -> None:
        try:
            rows = self.metrics.export(command.path)
        except OSError as e:
            raise DataError(f"cannot export metrics to {command.path}: {e.strerror or e}") from e
        self._emit(MetricsExported(self.run_id, command.path, rows, self.metrics.first_iteration, command.token))

    def _call(self, command: Call) -> None:
        result = command.fn(self._t)
        self._publish()  # fn may have changed anything: show it first
        self._emit(CallDone(self.run_id, command.token, result))

    def _stop(self, _: Stop) -> None:
        self.stopped = True

    # ------------------------------------------------------------------------ helpers
    @property
    def _t(self) -> Any:
        assert self.trainer is not None, "used before run() built the trainer"
        return self.trainer

    def _emit(self, event: Event) -> None:
        self.outbox.emit(event)

    def _finished(self, stats: StepStats, publish: bool = True) -> None:
        """An iteration completed: hand over its stats; stop on NaN/Inf so the user sees it."""
        self._emit(Stats(self.run_id, stats))
        self.metrics.add(stats)
        if self.recording.recorder is not None and self.recording.recorder.stopped:
            self._say_recording()
        if self.confusion.watching and stats.eval_accuracy is not None and self.confusion.job is None:
            self.confusion.start(self._t)
        if stats.diverged:
            self._set_running(False)
            self._publish()
            self._emit(Diverged(self.run_id, stats.iteration, stats.loss))
        elif publish:
            self._publish()

    def _publish(self) -> None:
        """Send a snapshot of now.  An outbox with its own sending thread (a training process's) takes
        the probe's forward pass and the pickling there: the training thread only reads and copies."""
        start = time.perf_counter()
        finish, run, config = self._snapshot_later(), self.run_id, self._t.config
        later = getattr(self.outbox, "emit_later", None)
        if later is None:  # made here: a failure reaches the caller (a step fails, training pauses)
            self._emit(SnapshotTaken(run, finish(), config))
        else:
            later(lambda: _snapshot_event(run, finish, config))
        self._snapshot_took(time.perf_counter() - start)

    def _snapshot(self) -> Snapshot:
        start = time.perf_counter()
        snapshot = self._snapshot_later()()
        self._snapshot_took(time.perf_counter() - start)
        return snapshot

    def _snapshot_later(self) -> Callable[[], Snapshot]:
        self._t.graph_in_snapshot, self._t.tree_in_snapshot = self.graph_shown, self.tree_shown
        return self._t.snapshot_later()

    def _snapshot_took(self, cost: float) -> None:
        """What a snapshot cost this thread: the estimate falls at once and rises slowly, so one
        hiccup cannot stall the display."""
        rising = self._snap_cost and cost > self._snap_cost
        self._snap_cost = 0.8 * self._snap_cost + 0.2 * cost if rising else cost

    def _restarted(self, cause: str, **extra: Any) -> None:
        self.run_id += 1
        if cause != "branch":  # a branch was recorded as one by the rewind
            self.recording.restarted(self._t, "load" if cause in ("opened", "recording") else cause)
        self.metrics.restart()
        self.confusion.drop()  # a pass over weights that are gone
        self._emit(RunStarted(self.run_id, cause, RunInfo.of(self._t), self._snapshot(), self._t.config,
                              branch=self.recording.branch_id, **extra))
        if self.confusion.watching:
            self._refresh_confusion()

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self._emit(RunningChanged(self.run_id, running))

    def _fail(self, what: str, exc: BaseException, token: int = 0, command: str = "") -> None:
        """Tell the user in one line; pause, so nothing runs on in a bad state.  A traceback is logged
        only for a bug: a bad file or value the user chose is their one line, not a stack on stderr."""
        if isinstance(exc, (ConfigError, DataError)):
            log.info("%s failed: %s", what, exc)
        else:
            log.error("%s failed", what, exc_info=exc)
        self._set_running(False)
        self._emit(Failed(self.run_id, user_message(what, exc), token, command))


def _snapshot_event(run: int, finish: Callable[[], Snapshot], config: TrainConfig) -> Event:
    """A snapshot made on the outbox's thread: a failure there (a bug) is said in one line, training goes on."""
    try:
        return SnapshotTaken(run, finish(), config)
    except Exception as exc:  # noqa: BLE001 - reported to the user
        log.error("Taking a snapshot failed", exc_info=exc)
        return Failed(run, user_message("Taking a snapshot", exc))


def user_message(what: str, exc: BaseException) -> str:
    """One line: errors written for the user as they are, anything else with its type."""
    if isinstance(exc, (ConfigError, DataError)):
        message = str(exc)
    else:
        message = f"{what} failed: {type(exc).__name__}: {exc}"
    return message.splitlines()[0] if message.strip() else f"{what} failed"
