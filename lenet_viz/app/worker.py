"""Runs the training engine on its own QThread, so the GUI thread never trains.

Why this shape (DESIGN.md, "The Qt side" and "Known hazards"):

- Commands are queued on a `queue.Queue`: the GUI thread only enqueues (never blocks, never
  touches the trainer).  Paused, the worker blocks on the queue (no busy wait); running, it
  looks at it between iterations, and a speed limit is a `get(timeout=...)` on it, so a
  command always wakes the worker at once.
- Results are pulled, not pushed: the window's 30-60 Hz timer calls `drain()`, which hands
  over every `StepStats` since the previous drain (none dropped) and only the newest
  `Snapshot` (latest value wins).  There is no signal per iteration: that would flood the
  event loop, and PySide6 6.12.0 on Python 3.11 aborts after a few thousand emits.
- Signals are for rare events.  `snapshotReady` lets the GUI drain right after a step instead
  of waiting for its timer; only `drain()` re-arms it, so at most one is ever in flight.
- Snapshots cost milliseconds, so while running one is taken at most every
  `snapshot_interval` seconds and never more than `snapshot_budget` of the time (display cost
  scales with the frame rate, not with training speed); after any command one is always taken.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
from PySide6.QtCore import QObject, QThread, Signal

from ..data import DataError
from ..training import ConfigError, MetricHistory, Phase, Snapshot, StepStats, TrainConfig, Trainer
from . import gc_guard
from .updates import RateMeter, Update

log = logging.getLogger(__name__)

#: The snapshot budget never stretches the gap between running snapshots beyond this.
MAX_SNAPSHOT_GAP_S = 0.25
PROBE_MOVES = ("next", "previous", "random")


class TrainingWorker(QThread):
    """Owns a Trainer and runs it in this thread; every public method is safe from the GUI thread."""

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
        trainer: Trainer | None = None,
        *,
        torch_threads: int | None = None,
        snapshot_interval: float = 1 / 30,
        snapshot_budget: float = 0.05,
        probe_seed: int = 0,
        parent: QObject | None = None,
    ) -> None:
        """Pass a `config` (the Trainer is then built in the worker thread, so loading data never
        freezes the GUI) or a prebuilt `trainer`.  `torch_threads` is torch's intra-op thread
        count for the training thread; None leaves it to the config's `threads` (0: torch's
        default).  Running snapshots come at most every `snapshot_interval` s and, up to
        MAX_SNAPSHOT_GAP_S, cost at most `snapshot_budget` of the time."""
        super().__init__(parent)
        if config is not None and trainer is not None:
            raise TypeError("pass config or trainer, not both")
        self._config = config if config is not None or trainer is not None else TrainConfig()
        self._trainer = trainer
        self._torch_threads = torch_threads
        self.snapshot_interval = snapshot_interval
        self.snapshot_budget = snapshot_budget
        self._rng = random.Random(probe_seed)
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._tokens = itertools.count(1)
        self._stop = False
        self._running = False  # written by the worker thread only
        # Shared with drain(), guarded by _lock (held only for a few assignments).
        self._lock = threading.Lock()
        self._stats: list[StepStats] = []
        self._snapshot: Snapshot | None = None
        self._iteration = trainer.iteration if trainer else 0
        self._next_phase = trainer.phase if trainer else Phase.ZERO_GRAD
        self._cfg = trainer.config if trainer else None
        self._phase_done: Phase | None = None
        self._error: str | None = None
        self._reset = False
        self._history: MetricHistory | None = None  # the loaded run's curves, until drained
        self._notified = False
        self._rate = RateMeter()
        # Worker thread only.
        self._period = 0.0  # seconds per iteration under the speed limit (0: unlimited)
        self._next_tick = 0.0
        self._last_snap = -math.inf
        self._snap_due = -math.inf  # running snapshots follow a fixed grid of due times
        self._snap_cost = 0.0
        self._gc_held = False  # gc_guard: cyclic GC only in the GUI thread while this thread may run

    # ------------------------------------------------ commands (any thread, never block)
    def play(self) -> None:
        self._commands.put(("play", None))

    def pause(self) -> None:
        self._commands.put(("pause", None))

    def toggle(self) -> None:
        self._commands.put(("toggle", None))

    def step_iteration(self) -> None:
        """Pause and finish the current iteration (a whole one when at a boundary)."""
        self._commands.put(("step_iteration", None))

    def step_phase(self) -> None:
        """Pause and run exactly the next phase."""
        self._commands.put(("step_phase", None))

    def reset(self) -> None:
        """Pause and re-initialize training from the seed (back to iteration 0)."""
        self._commands.put(("reset", None))

    def apply_config(self, config: TrainConfig) -> None:
        """Hyperparameters take effect at the next iteration boundary; seed/data/device restart."""
        self._commands.put(("apply_config", config))

    def set_speed_limit(self, max_iters_per_s: float | None) -> None:
        """None (or 0) means as fast as possible."""
        if max_iters_per_s is not None and not max_iters_per_s >= 0:
            raise ValueError(f"speed limit must be None or >= 0 iterations/s (got {max_iters_per_s!r})")
        self._commands.put(("speed", max_iters_per_s))

    def set_probe(self, which: int | str) -> None:
        """An index into the held-out set, or "next", "previous", "random" (seeded by probe_seed)."""
        if isinstance(which, str) and which not in PROBE_MOVES:
            raise ValueError(f"probe must be an index or one of {', '.join(PROBE_MOVES)} (got {which!r})")
        self._commands.put(("probe", which))

    def request_snapshot(self) -> None:
        self._commands.put(("snapshot", None))

    def call(self, fn: Callable[[Trainer], Any], *, replaces_state: bool = False) -> int:
        """Run `fn(trainer)` in the worker thread; returns a token that callFinished carries back
        with fn's result.  If fn raises, errorOccurred fires instead and the worker pauses.
        `replaces_state`: fn swaps in another run (a checkpoint load), so the next drain() says
        `reset` and carries a copy of the trainer's history: in the same drain as the stats, so
        no stat of the old run can land in the new run's curves."""
        token = next(self._tokens)
        self._commands.put(("call", (token, fn, replaces_state)))
        return token

    def stop(self) -> None:
        """Ask the loop to end; the queued command wakes a paused worker."""
        self._stop = True
        self._commands.put(("stop", None))

    def start(self, *args: Any) -> None:
        """QThread.start(), from the GUI thread; garbage is collected only there until shutdown()."""
        if not self._gc_held:
            self._gc_held = True
            gc_guard.hold()
        super().start(*args)

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """stop + quit + wait: True when the thread has ended (safe to destroy)."""
        self.stop()
        self.quit()
        ended = self.wait(timeout_ms)
        if ended and self._gc_held:
            self._gc_held = False
            gc_guard.release()
        return ended

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
            self._notified = False
            running = self._running
            ips, sps = self._rate.rates() if running else (0.0, 0.0)
            return Update(stats, snapshot, running, self._iteration, self._next_phase, phase_done,
                          ips, sps, error, reset, self._cfg, history)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def trainer(self) -> Trainer | None:
        """The engine.  Touch it only while the thread is not running; otherwise use call()."""
        return self._trainer

    # ------------------------------------------------------------------ worker thread
    def run(self) -> None:
        try:
            if self._trainer is None:
                self._trainer = Trainer(self._config)
            # Per thread with OpenMP builds: the count must be set here, where training runs,
            # even when the trainer was built (and config.threads applied) in another thread.
            if threads := self._torch_threads or self._trainer.config.threads:
                torch.set_num_threads(threads)
            self._publish()
        except Exception as exc:  # noqa: BLE001 - reported to the user, thread ends cleanly
            self._fail("Starting training", exc)
            return
        self.ready.emit()
        commands = self._commands
        while not self._stop:
            if not self._running:
                self._handle(*commands.get())
            elif commands.qsize():
                self._handle(*commands.get_nowait())
            elif (wait := self._next_tick - time.perf_counter()) > 0:
                try:  # the speed limit: sleep on the queue so a command still wakes us
                    self._handle(*commands.get(timeout=wait))
                except queue.Empty:
                    pass
            else:
                try:
                    self._train_one()
                except Exception as exc:  # noqa: BLE001 - never let the thread die silently
                    self._fail("Training step", exc)

    def _train_one(self) -> None:
        self._next_tick = time.perf_counter() + self._period
        stats = self._t.step()
        gap = max(self.snapshot_interval, min(self._snap_cost / self.snapshot_budget, MAX_SNAPSHOT_GAP_S))
        now = time.perf_counter()
        publish = now >= self._snap_due
        if publish:  # due + gap, not now + gap: snapshots wait for an iteration's end, so "gap after
            # the last one" lost half an iteration a frame (26 fps where 30 were asked, at 11 ms/it)
            self._snap_due = self._snap_due + gap if self._snap_due + gap > now else now + gap
        self._finished(stats, publish=publish)

    def _handle(self, name: str, arg: Any) -> None:
        try:
            getattr(self, f"_do_{name}")(arg)
        except Exception as exc:  # noqa: BLE001 - reported, paused, still accepting commands
            self._fail(_WHAT.get(name, name), exc)

    def _do_play(self, _: None) -> None:
        self._next_tick = 0.0
        self._set_running(True)

    def _do_pause(self, _: None) -> None:
        self._set_running(False)
        self._publish()

    def _do_toggle(self, _: None) -> None:
        (self._do_pause if self._running else self._do_play)(None)

    def _do_step_iteration(self, _: None) -> None:
        self._set_running(False)
        self._finished(self._t.step())

    def _do_step_phase(self, _: None) -> None:
        self._set_running(False)
        ran = self._t.step_phase()
        with self._lock:
            self._phase_done = ran
        if ran is Phase.UPDATE and self._t.last_stats is not None:
            self._finished(self._t.last_stats)
        else:
            self._publish()

    def _do_reset(self, _: None) -> None:
        self._set_running(False)
        self._t.reset()
        self._restarted()

    def _do_apply_config(self, config: TrainConfig) -> None:
        if self._t.apply_config(config):
            self._restarted()
        else:
            self._publish()

    def _do_speed(self, limit: float | None) -> None:
        self._period = 1.0 / limit if limit else 0.0
        self._next_tick = 0.0

    def _do_probe(self, which: int | str) -> None:
        t = self._t
        if which == "random":
            index = self._rng.randrange(t.num_probes)
        elif which in ("next", "previous"):
            index = t.probe_index + (1 if which == "next" else -1)
        else:
            index = int(which)
        t.set_probe(index)  # wraps around
        self._publish()

    def _do_snapshot(self, _: None) -> None:
        self._publish()

    def _do_call(self, job: tuple[int, Callable[[Trainer], Any], bool]) -> None:
        token, fn, replaces_state = job
        result = fn(self._t)
        if replaces_state:
            self._restarted(history=self._t.history.copy())
        else:
            self._publish()  # fn may have changed anything: show it first
        self.callFinished.emit(token, result)

    def _do_stop(self, _: None) -> None:
        pass  # the flag is already set; this command only wakes a paused worker

    # ------------------------------------------------------------------------ helpers
    @property
    def _t(self) -> Trainer:
        assert self._trainer is not None, "used before run() built the trainer"
        return self._trainer

    def _finished(self, stats: StepStats, publish: bool = True) -> None:
        """An iteration completed: queue its stats for drain(); stop on NaN/Inf so the user sees it."""
        now = time.perf_counter()
        with self._lock:
            self._stats.append(stats)
            self._iteration, self._next_phase = stats.iteration, Phase.ZERO_GRAD
            self._rate.add(now, stats.iteration, stats.samples_seen)
        if stats.diverged:
            self._set_running(False)
            self._publish()
            self.diverged.emit(stats.iteration, stats.loss)
        elif publish:
            self._publish()

    def _publish(self) -> None:
        """Take a snapshot (here, in the worker) as the newest; wake the GUI unless already woken."""
        t = self._t
        start = time.perf_counter()
        snapshot = t.snapshot()
        self._last_snap = time.perf_counter()
        cost = self._last_snap - start  # the estimate falls at once and rises slowly, so
        rising = self._snap_cost and cost > self._snap_cost  # one hiccup cannot stall the display
        self._snap_cost = 0.8 * self._snap_cost + 0.2 * cost if rising else cost
        with self._lock:
            self._snapshot = snapshot
            self._iteration, self._next_phase, self._cfg = t.iteration, t.phase, t.config
            notify, self._notified = not self._notified, True
        if notify:
            self.snapshotReady.emit()

    def _restarted(self, history: MetricHistory | None = None) -> None:
        t = self._t
        with self._lock:
            self._stats.clear()  # iterations of the discarded run
            self._rate.clear()
            self._history = history
            self._reset = True  # with the new position, so no drain sees a reset at the old one
            self._iteration, self._next_phase, self._cfg = t.iteration, t.phase, t.config
        self._publish()
        self.resetDone.emit()

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            with self._lock:
                self._running = running
                self._rate.clear()
            self.stateChanged.emit(running)

    def _fail(self, what: str, exc: BaseException) -> None:
        """Log the traceback; tell the user in one line; pause, so nothing runs on in a bad state."""
        log.error("%s failed", what, exc_info=exc)
        if isinstance(exc, (ConfigError, DataError)):
            message = str(exc)  # already written for the user
        else:
            message = f"{what} failed: {type(exc).__name__}: {exc}"
        message = message.splitlines()[0] if message.strip() else f"{what} failed"
        with self._lock:
            self._error = message
        self._set_running(False)
        self.errorOccurred.emit(message)


_WHAT = {
    "step_iteration": "Step", "step_phase": "Step phase", "reset": "Reset", "apply_config": "Applying settings",
    "probe": "Choosing the probe image", "snapshot": "Snapshot", "call": "Running a task", "pause": "Pause",
}
