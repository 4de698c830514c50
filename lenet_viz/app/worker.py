"""Runs the training loop off the GUI thread: in a child process (the app) or on a QThread.

Why this shape (DESIGN.md, "The Qt side" and "Known hazards"):

- The loop itself is `training.loop.TrainingLoop` (Qt-free).  With `process=True` it runs in
  a child process (`training.remote`): no GIL shared with the GUI, so drawing costs training
  nothing on a 2-core machine; this QThread only relays the child's messages.  With
  `process=False` it runs on this QThread and `trainer` can be read while it is stopped
  (tests, scripts).
- Commands never block the GUI thread: they are queued (thread) or written to the pipe
  (process), and a paused loop blocks on them, so a command always wakes it at once.
- Results are pulled, not pushed: the window's timer calls `drain()`, which hands over every
  `StepStats` since the previous drain (none dropped) and only the newest `Snapshot` (latest
  value wins).  There is no signal per iteration: that would flood the event loop, and
  PySide6 6.12.0 on Python 3.11 aborts after a few thousand emits.
- Signals are for rare events.  `snapshotReady` lets the GUI drain right after a step instead
  of waiting for its timer; only `drain()` re-arms it, so at most one is ever in flight.
"""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import subprocess
import threading
import time
from multiprocessing.connection import Connection
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from ..training import MetricHistory, Phase, RunInfo, Snapshot, StepStats, TrainConfig
from ..training.loop import PROBE_MOVES, TrainingLoop
from ..training.remote import MESSAGES, PACKAGE_ROOT, anchored, child_command, child_env
from . import gc_guard
from .updates import RateMeter, Update

log = logging.getLogger(__name__)

#: How long a training process may take to stop by itself before it is terminated.
PROCESS_GRACE_S = 2.0


class TrainingWorker(QThread):
    """Drives a TrainingLoop; every public method is safe from the GUI thread."""

    stateChanged = Signal(bool)  # running or not
    snapshotReady = Signal()  # something new to drain(); not re-emitted until drained
    errorOccurred = Signal(str)  # a one-line message for the user; the worker is paused
    diverged = Signal(int, float)  # iteration, loss: NaN/Inf seen, the worker paused
    ready = Signal()  # the trainer is built and a first snapshot is waiting
    resetDone = Signal()  # training re-initialized (reset, or a config that needed it)
    callFinished = Signal(int, object)  # token from call(), fn's return value

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
        parent: QObject | None = None,
    ) -> None:
        """Pass a `config` (the Trainer is then built where training runs, so loading data never
        freezes the GUI) or, in thread mode, a prebuilt `trainer`.  `process`: train in a child
        process.  `torch_threads` is torch's intra-op thread count for training; None leaves it
        to the config's `threads` (0: torch's default).  Running snapshots come at most every
        `snapshot_interval` s and, up to a quarter second, cost at most `snapshot_budget` of the time."""
        super().__init__(parent)
        if config is not None and trainer is not None:
            raise TypeError("pass config or trainer, not both")
        if process and trainer is not None:
            raise TypeError("a prebuilt trainer cannot move to another process; pass its config")
        self.process = process
        self._options = dict(
            torch_threads=torch_threads, snapshot_interval=snapshot_interval, snapshot_budget=snapshot_budget,
            probe_seed=probe_seed,
        )
        self._config = config if config is not None or trainer is not None else TrainConfig()
        self._trainer = trainer
        self._loop: TrainingLoop | None = None
        self._tokens = itertools.count(1)
        self._stopping = False
        self._gc_held = False  # gc_guard: cyclic GC only in the GUI thread while this thread may run
        if process:
            ours, theirs = socket.socketpair()
            self._conn, self._child_end = Connection(ours.detach()), theirs
            self._send_lock = threading.Lock()
            self._child: subprocess.Popen | None = None
            self._send("start", (anchored(self._config), self._options))  # read first, whenever the child starts
        else:
            self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        # Shared with drain(), guarded by _lock (held only for a few assignments).
        self._lock = threading.Lock()
        self._stats: list[StepStats] = []
        self._snapshot: Snapshot | None = None
        self._running = False
        self._iteration = trainer.iteration if trainer else 0
        self._next_phase = trainer.phase if trainer else Phase.ZERO_GRAD
        self._cfg = trainer.config if trainer else None
        self._phase_done: Phase | None = None
        self._error: str | None = None
        self._reset = False
        self._history: MetricHistory | None = None  # the loaded run's curves, until drained
        self._info: RunInfo | None = None  # what the run trains on, until drained
        self._info_seen = False  # the trainer was built (process mode: the child has something to lose)
        self._notified = False
        self._rate = RateMeter()

    # ------------------------------------------------ commands (any thread, never block)
    def play(self) -> None:
        self._send("play")

    def pause(self) -> None:
        self._send("pause")

    def toggle(self) -> None:
        self._send("toggle")

    def step_iteration(self) -> None:
        """Pause and finish the current iteration (a whole one when at a boundary)."""
        self._send("step_iteration")

    def step_phase(self) -> None:
        """Pause and run exactly the next phase."""
        self._send("step_phase")

    def reset(self) -> None:
        """Pause and re-initialize training from the seed (back to iteration 0)."""
        self._send("reset")

    def apply_config(self, config: TrainConfig) -> None:
        """Hyperparameters take effect at the next iteration boundary; seed/data/device restart."""
        self._send("apply_config", anchored(config) if self.process else config)

    def set_speed_limit(self, max_iters_per_s: float | None) -> None:
        """None (or 0) means as fast as possible."""
        if max_iters_per_s is not None and not max_iters_per_s >= 0:
            raise ValueError(f"speed limit must be None or >= 0 iterations/s (got {max_iters_per_s!r})")
        self._send("speed", max_iters_per_s)

    def set_probe(self, which: int | str) -> None:
        """An index into the held-out set, or "next", "previous", "random" (seeded by probe_seed)."""
        if isinstance(which, str) and which not in PROBE_MOVES:
            raise ValueError(f"probe must be an index or one of {', '.join(PROBE_MOVES)} (got {which!r})")
        self._send("probe", which)

    def request_snapshot(self) -> None:
        self._send("snapshot")

    def call(self, fn: Callable[[Any], Any], *, replaces_state: bool = False) -> int:
        """Run `fn(trainer)` where training runs; returns a token that callFinished carries back
        with fn's result.  If fn raises, errorOccurred fires instead and the worker pauses.
        In process mode fn and its result must pickle (a module-level function, a
        functools.partial of one): a lambda raises here, at once.
        `replaces_state`: fn swaps in another run (a checkpoint load), so the next drain() says
        `reset` and carries a copy of the trainer's history: in the same drain as the stats, so
        no stat of the old run can land in the new run's curves."""
        token = next(self._tokens)
        self._send("call", (token, fn, replaces_state))
        return token

    def stop(self) -> None:
        """Ask the loop to end; the command wakes a paused loop."""
        self._stopping = True
        self._send("stop")

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
        if self.process and not self._info_seen:  # still importing torch or loading data: nothing to lose
            self._terminate_child()
        ended = self.wait(timeout_ms)
        if not ended and self.process:
            self._terminate_child()
            ended = self.wait(int(PROCESS_GRACE_S * 1000))
        if ended and self._gc_held:
            self._gc_held = False
            gc_guard.release()
        return ended

    def _send(self, name: str, arg: Any = None) -> None:
        if not self.process:
            self._commands.put((name, arg))
            return
        with self._send_lock:  # pickling errors (a lambda for call()) raise here, to the caller
            try:
                self._conn.send((name, arg))
            except (BrokenPipeError, ConnectionResetError, OSError):
                if not self._stopping:
                    self.on_error("The training process has stopped; restart lenet-viz to train again")

    # ------------------------------------------------------------- output (GUI thread)
    def drain(self) -> Update:
        """Take everything produced since the previous drain; re-arms snapshotReady."""
        with self._lock:
            stats, self._stats = self._stats, []
            snapshot, self._snapshot = self._snapshot, None
            phase_done, self._phase_done = self._phase_done, None
            error, self._error = self._error, None
            reset, self._reset = self._reset, False
            history, self._history = self._history, None
            info, self._info = self._info, None
            self._notified = False
            running = self._running
            ips, sps = self._rate.rates() if running else (0.0, 0.0)
            return Update(stats, snapshot, running, self._iteration, self._next_phase, phase_done,
                          ips, sps, error, reset, self._cfg, history, info)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def child_pid(self) -> int | None:
        """The training process's id while it runs (None in thread mode)."""
        child = self._child if self.process else None
        return child.pid if child is not None and child.poll() is None else None

    @property
    def trainer(self) -> Any:
        """The engine, in thread mode (None in process mode, or before it is built).  Touch it
        only while the thread is not running; otherwise use call()."""
        return self._loop.trainer if self._loop is not None else self._trainer

    # --------------------------------------- the loop's outbox (worker or relay thread)
    def on_ready(self, info: RunInfo) -> None:
        with self._lock:
            self._info = info
            self._info_seen = True
        self.ready.emit()

    def on_stats(self, stats: StepStats) -> None:
        now = time.perf_counter()
        with self._lock:
            self._stats.append(stats)
            self._iteration, self._next_phase = stats.iteration, Phase.ZERO_GRAD
            self._rate.add(now, stats.iteration, stats.samples_seen)

    def on_snapshot(self, snapshot: Snapshot, config: TrainConfig) -> None:
        self._store(snapshot, config)

    def on_phase(self, phase: Phase) -> None:
        with self._lock:
            self._phase_done = phase

    def on_restart(self, info: RunInfo, history: MetricHistory | None, snapshot: Snapshot, config: TrainConfig) -> None:
        self._store(snapshot, config, restart=(info, history))
        self.resetDone.emit()

    def _store(self, snapshot: Snapshot, config: TrainConfig, restart: tuple | None = None) -> None:
        """The newest snapshot, with the position it shows; a restart also drops the old run's
        stats, in the same locked step, so no drain sees half of it."""
        with self._lock:
            if restart is not None:
                self._info, self._history = restart
                self._stats.clear()
                self._rate.clear()
                self._reset = True
            self._snapshot = snapshot
            self._iteration, self._next_phase, self._cfg = snapshot.iteration, snapshot.next_phase, config
            notify, self._notified = not self._notified, True
        if notify:
            self.snapshotReady.emit()

    def on_running(self, running: bool) -> None:
        with self._lock:
            self._running = running
            self._rate.clear()
        self.stateChanged.emit(running)

    def on_error(self, message: str) -> None:
        with self._lock:
            self._error = message
        self.errorOccurred.emit(message)

    def on_diverged(self, iteration: int, loss: float) -> None:
        self.diverged.emit(iteration, loss)

    def on_call(self, token: int, result: Any) -> None:
        self.callFinished.emit(token, result)

    # ------------------------------------------------------------------ worker thread
    def run(self) -> None:
        if not self.process:
            self._loop = TrainingLoop(self, self._commands, config=self._config, trainer=self._trainer, **self._options)
            self._loop.run()
            return
        self._relay()

    def _relay(self) -> None:
        """Start the training process, then hand each of its messages to the outbox until it ends."""
        fd = self._child_end.fileno()
        try:  # only the socket is inherited (close_fds), and the child works in the package's folder,
            # not the user's: nothing there is on its import path either (see remote.child_command)
            child = subprocess.Popen(child_command(fd), pass_fds=(fd,), close_fds=True, env=child_env(),
                                     cwd=PACKAGE_ROOT, stdin=subprocess.DEVNULL)
        except OSError as exc:
            log.error("could not start the training process", exc_info=exc)
            self.on_error(f"Could not start the training process: {exc}")
            return
        finally:
            self._child_end.close()  # the child's copy is the only one left: its exit reads as EOF here
        self._child = child
        while True:
            try:
                name, args = self._conn.recv()
            except (EOFError, OSError):
                break
            if name in MESSAGES:
                getattr(self, name)(*args)
        try:
            child.wait(PROCESS_GRACE_S)
        except subprocess.TimeoutExpired:
            self._terminate_child()
        # Exit code 0 without a stop: the trainer could not be built, and the loop said why.
        if not self._stopping and child.returncode != 0:
            if self._running:
                self.on_running(False)
            self.on_error(f"The training process stopped unexpectedly (exit code {child.returncode}); restart lenet-viz to train again")
        self._conn.close()

    def _terminate_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            log.warning("the training process did not stop in time; terminating it")
            child.terminate()
            try:
                child.wait(PROCESS_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
