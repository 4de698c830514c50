"""Runs the training loop off the GUI thread and hands its events to the GUI thread.

Why this shape (DESIGN.md, "The Qt side" and "Known hazards"):

- The loop is `training.loop.TrainingLoop` (Qt-free); where it runs is the transport's business
  (`app/transport.py`: a child process for the app, a thread for tests and debugging).  This
  QThread runs `transport.run()`: the loop itself, or the relay of the child's events.
- Commands (`training/messages.py`) never block the GUI thread: they are queued.
- Events are pulled, not pushed: the window's timer calls `drain()`, which hands over every
  event since the previous drain, with only the newest snapshot (latest value wins).  There is
  no signal per iteration: that would flood the event loop, and PySide6 6.12.0 on Python 3.11
  aborts after a few thousand emits.
- Signals are for rare events.  `snapshotReady` lets the GUI drain right after a step instead of
  waiting for its timer; only `drain()` re-arms it, so at most one is ever in flight.
- `call()`, `open_checkpoint()` and `save_checkpoint()` return futures, resolved in `drain()` on
  the GUI thread (after the events before their answer were handed over).
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from ..training import TrainConfig
from ..training.loop import PROBE_MOVES
from ..training.messages import (
    ApplyConfig, Call, CallDone, CheckpointSaved, Command, Diverged, Event, Failed, OpenCheckpoint, Pause,
    Play, Ready, RequestSnapshot, Reset, RunningChanged, RunStarted, SaveCheckpoint, SetProbe, SetSpeed,
    SnapshotTaken, StepIteration, StepPhase, Stop, Toggle,
)
from . import gc_guard
from .transport import PROCESS_GRACE_S, ProcessTransport, ThreadTransport, Transport

log = logging.getLogger(__name__)

#: Events that wake the GUI at once (a snapshot, or something the user is waiting for).
URGENT = (SnapshotTaken, RunStarted, Ready, Failed, CallDone, CheckpointSaved)


class TrainingWorker(QThread):
    """Drives a TrainingLoop through a transport; every public method is safe from the GUI thread."""

    stateChanged = Signal(bool)  # running or not
    snapshotReady = Signal()  # something new to drain(); not re-emitted until drained
    errorOccurred = Signal(str)  # a one-line message for the user; the loop is paused
    diverged = Signal(int, float)  # iteration, loss: NaN/Inf seen, the loop paused
    ready = Signal()  # the trainer is built and a first snapshot is waiting

    def __init__(
        self,
        config: TrainConfig | None = None,
        trainer: Any = None,
        *,
        process: bool = False,
        torch_threads: int | None = None,
        snapshot_interval: float = 1 / 30,
        snapshot_budget: float = 0.05,
        probe_seed: int = 0,
        record: str | None = None,
        record_budget: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        """Pass a `config` (the Trainer is then built where training runs, so loading data never
        freezes the GUI) or, on a thread, a prebuilt `trainer`.  `process`: train in a child
        process.  `torch_threads` is torch's intra-op thread count for training; None leaves it
        to the config's `threads` (0: torch's default).  Running snapshots come at most every
        `snapshot_interval` s and, up to a quarter second, cost at most `snapshot_budget` of the time.
        `record`: write the run into this recording file (time travel), None for no recording; `record_budget`:
        its size budget in bytes (None: the recorder's default)."""
        super().__init__(parent)
        if config is not None and trainer is not None:
            raise TypeError("pass config or trainer, not both")
        if process and trainer is not None:
            raise TypeError("a prebuilt trainer cannot move to another process; pass its config")
        options = dict(torch_threads=torch_threads, snapshot_interval=snapshot_interval,
                       snapshot_budget=snapshot_budget, probe_seed=probe_seed,
                       record=str(Path(record).expanduser().absolute()) if record else None, record_budget=record_budget)
        config = config if config is not None or trainer is not None else TrainConfig()
        self.process = process
        self.transport: Transport = ProcessTransport(config, options) if process else ThreadTransport(config, trainer, options)
        self._tokens = itertools.count(1)
        self._futures: dict[int, Future] = {}
        self._gc_held = False  # gc_guard: cyclic GC only in the GUI thread while this thread may run
        self._built = False  # the trainer exists (a training process then has something to lose)
        # Shared with drain(), guarded by _lock (held only for a few assignments).
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._snapshot_at: int | None = None  # index in _events of the newest snapshot not yet drained
        self._running = False
        self._notified = False

    # ------------------------------------------------ commands (any thread, never block)
    def send(self, command: Command) -> None:
        try:
            self.transport.send(command)
        except RuntimeError as exc:  # a training process that stopped reading: the banner says it is silent
            log.warning("%s: %s", type(command).__name__, exc)

    def play(self) -> None:
        self.send(Play())

    def pause(self) -> None:
        self.send(Pause())

    def toggle(self) -> None:
        self.send(Toggle())

    def step_iteration(self) -> None:
        """Pause and finish the current iteration (a whole one when at a boundary)."""
        self.send(StepIteration())

    def step_phase(self) -> None:
        """Pause and run exactly the next phase."""
        self.send(StepPhase())

    def reset(self) -> None:
        """Pause and re-initialize training from the seed (back to iteration 0)."""
        self.send(Reset())

    def apply_config(self, config: TrainConfig) -> None:
        """Hyperparameters take effect at the next iteration boundary; seed/data/device restart."""
        self.send(ApplyConfig(config))

    def set_speed_limit(self, max_iters_per_s: float | None) -> None:
        """None (or 0) means as fast as possible."""
        if max_iters_per_s is not None and not max_iters_per_s >= 0:
            raise ValueError(f"speed limit must be None or >= 0 iterations/s (got {max_iters_per_s!r})")
        self.send(SetSpeed(max_iters_per_s))

    def set_probe(self, which: int | str) -> None:
        """An index into the held-out set, or "next", "previous", "random" (seeded by probe_seed)."""
        if isinstance(which, str) and which not in PROBE_MOVES:
            raise ValueError(f"probe must be an index or one of {', '.join(PROBE_MOVES)} (got {which!r})")
        self.send(SetProbe(which))

    def request_snapshot(self) -> None:
        self.send(RequestSnapshot())

    def call(self, fn: Callable[[Any], Any]) -> Future:
        """Run `fn(trainer)` where training runs; the future gets fn's result (or a RuntimeError with
        the user's one-line message if fn raised; the loop then pauses).  With a training process,
        fn and its result must pickle (a module-level function, a functools.partial of one): a
        lambda raises here, at once."""
        return self._ask(lambda token: Call(token, fn))

    def open_checkpoint(self, path: str | Path) -> Future:
        """Pause, then replace the run with the one saved in `path`; a bad file changes nothing.
        The future gets the `RunStarted` event (whose history and snapshot the drain already handed over)."""
        self.pause()
        return self._ask(lambda token: OpenCheckpoint(str(Path(path).expanduser().absolute()), token))

    def save_checkpoint(self, path: str | Path) -> Future:
        """Save between two iterations (training goes on); the future gets the `CheckpointSaved` event."""
        return self._ask(lambda token: SaveCheckpoint(str(Path(path).expanduser().absolute()), token))

    def _ask(self, make: Callable[[int], Command]) -> Future:
        token = next(self._tokens)
        future: Future = Future()
        self._futures[token] = future
        try:
            self.transport.send(make(token))
        except RuntimeError as exc:  # not sent (a training process that stopped reading): the future says so
            del self._futures[token]
            future.set_exception(exc)
        except BaseException:
            del self._futures[token]
            raise
        return future

    def stop(self) -> None:
        """Ask the loop to end; the command wakes a paused loop (a child that stopped reading:
        shutdown() terminates it)."""
        self.send(Stop())

    def start(self, *args: Any) -> None:
        """QThread.start(), from the GUI thread; garbage is collected only there until shutdown()."""
        if not self._gc_held:
            self._gc_held = True
            gc_guard.hold()
        super().start(*args)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """stop + quit + wait: True when the thread has ended (safe to destroy).  A training
        process that does not stop within the timeout (still loading its data) is terminated."""
        self.stop()
        self.quit()
        if not self._built:  # still importing torch or loading data: nothing to lose
            self.transport.terminate(waited=False)
        ended = self.wait(timeout_ms)
        if not ended and self.transport.terminate():  # a process can be ended; a thread must be waited for
            ended = self.wait(int(PROCESS_GRACE_S * 1000))
        if ended and self._gc_held:
            self._gc_held = False
            gc_guard.release()
        return ended

    # ------------------------------------------------------------- output (GUI thread)
    def drain(self) -> list[Event]:
        """Every event since the previous drain, in order, with only the newest snapshot; resolves
        the futures they answer; re-arms snapshotReady."""
        with self._lock:
            events, self._events = self._events, []
            self._snapshot_at = None
            self._notified = False
        events = [e for e in events if e is not None]  # snapshots that a newer one replaced
        for event in events:
            token = getattr(event, "token", 0)
            if token and (future := self._futures.pop(token, None)) is not None:
                if isinstance(event, Failed):
                    future.set_exception(RuntimeError(event.message))
                else:
                    future.set_result(event.result if isinstance(event, CallDone) else event)
        return events

    @property
    def running(self) -> bool:
        return self._running

    @property
    def child_pid(self) -> int | None:
        """The training process's id while it runs (None on a thread)."""
        return self.transport.child_pid

    @property
    def trainer(self) -> Any:
        """The engine, on a thread (None with a training process, or before it is built).  Touch
        it only while the thread is not running; otherwise use call()."""
        return self.transport.trainer

    def unanswered_s(self) -> float:
        """How long the training process has left a command unanswered (0: it is answering)."""
        return self.transport.unanswered_s()

    # ------------------------------------------------- events (worker or relay thread)
    def _deliver(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, SnapshotTaken):  # latest value wins: replace the undrained one
                if self._snapshot_at is not None:
                    self._events[self._snapshot_at] = None  # type: ignore[call-overload]
                self._snapshot_at = len(self._events)
            elif isinstance(event, RunStarted):
                self._snapshot_at = None  # the new run's snapshot is inside it
            self._events.append(event)
            if isinstance(event, RunningChanged):
                self._running = event.running
            if isinstance(event, (Ready, RunStarted)):
                self._built = True
            notify = isinstance(event, URGENT) and not self._notified
            self._notified = self._notified or notify
        if isinstance(event, RunningChanged):
            self.stateChanged.emit(event.running)
        elif isinstance(event, Failed):
            self.errorOccurred.emit(event.message)
        elif isinstance(event, Diverged):
            self.diverged.emit(event.iteration, event.loss)
        elif isinstance(event, Ready):
            self.ready.emit()
        if notify:
            self.snapshotReady.emit()

    def run(self) -> None:
        self.transport.run(self._deliver)
