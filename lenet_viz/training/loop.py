"""The run loop that drives a Trainer from a stream of commands: play, pause, step, reset, ...

Qt-free, so the same loop runs on a thread of the GUI process or alone in a child process
(`training/remote.py`): the app's worker only chooses where, and what carries the commands in
and the results out.

- Commands come from a queue-like `Commands` (`get(timeout)`, `get_nowait()`, `qsize()`):
  paused, the loop blocks on it (no busy wait); running, it looks at it between iterations,
  and a speed limit is a `get(timeout=...)`, so a command always wakes it at once.
- Results go to an `Outbox`: every `StepStats` (never dropped), snapshots, state changes.
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
from .history import MetricHistory
from .types import Phase, RunInfo, Snapshot, StepStats

log = logging.getLogger(__name__)

#: The snapshot budget never stretches the gap between running snapshots beyond this.
MAX_SNAPSHOT_GAP_S = 0.25
PROBE_MOVES = ("next", "previous", "random")
#: Commands the loop understands, with what the user was doing (for error messages).
COMMANDS = {
    "play": "Run", "pause": "Pause", "toggle": "Run / Pause", "step_iteration": "Step", "step_phase": "Step phase",
    "reset": "Reset", "apply_config": "Applying settings", "speed": "Speed limit", "probe": "Choosing the probe image",
    "snapshot": "Snapshot", "call": "Running a task", "stop": "Stop",
}


class Commands(Protocol):
    """What `queue.Queue` offers; `remote.PipeCommands` offers it over a pipe."""

    def get(self, block: bool = True, timeout: float | None = None) -> tuple[str, Any]: ...
    def get_nowait(self) -> tuple[str, Any]: ...
    def qsize(self) -> int: ...


class Outbox(Protocol):
    """Where the loop's results go, called from the loop's thread, in this order of events."""

    def on_ready(self, info: RunInfo) -> None: ...  # built; a first snapshot was already sent
    def on_stats(self, stats: StepStats) -> None: ...  # one completed iteration
    def on_snapshot(self, snapshot: Snapshot, config: TrainConfig) -> None: ...
    def on_phase(self, phase: Phase) -> None: ...  # step_phase ran this phase
    def on_restart(self, info: RunInfo, history: MetricHistory | None, snapshot: Snapshot, config: TrainConfig) -> None:
        ...  # a new run replaced the old one; its first snapshot comes with it, so no drain sees half of it
    def on_running(self, running: bool) -> None: ...
    def on_error(self, message: str) -> None: ...  # one line for the user; the loop is paused
    def on_diverged(self, iteration: int, loss: float) -> None: ...
    def on_call(self, token: int, result: Any) -> None: ...


class TrainingLoop:
    """Owns a Trainer (built here, from `config`, unless one is given) and obeys `commands`."""

    def __init__(
        self, outbox: Outbox, commands: Commands, *, config: TrainConfig | None = None, trainer: Any = None,
        torch_threads: int | None = None, snapshot_interval: float = 1 / 30, snapshot_budget: float = 0.05,
        probe_seed: int = 0,
    ) -> None:
        self.outbox = outbox
        self.commands = commands
        self.trainer = trainer
        self._config = config if config is not None else TrainConfig()
        self._torch_threads = torch_threads
        self.snapshot_interval = snapshot_interval
        self.snapshot_budget = snapshot_budget
        self._rng = random.Random(probe_seed)
        self.stopped = False
        self.running = False
        self._period = 0.0  # seconds per iteration under the speed limit (0: unlimited)
        self._next_tick = 0.0
        self._snap_due = -math.inf  # running snapshots follow a fixed grid of due times
        self._snap_cost = 0.0

    def run(self) -> None:
        """Build, then obey commands until "stop" (or until the command source ends)."""
        try:
            if self.trainer is None:
                from .trainer import Trainer  # torch: only where training runs

                self.trainer = Trainer(self._config)
            # Per thread with OpenMP builds: the count must be set here, where training runs,
            # even when the trainer was built (and config.threads applied) in another thread.
            if threads := self._torch_threads or self.trainer.config.threads:
                import torch

                torch.set_num_threads(threads)
            self._publish()
        except Exception as exc:  # noqa: BLE001 - reported to the user, the loop ends cleanly
            self._fail("Starting training", exc)
            return
        self.outbox.on_ready(RunInfo.of(self.trainer))
        commands = self.commands
        while not self.stopped:
            if not self.running:
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
                except Exception as exc:  # noqa: BLE001 - never let the loop die silently
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
            if name not in COMMANDS:
                raise ValueError(f"unknown command {name!r}")
            getattr(self, f"_do_{name}")(arg)
        except Exception as exc:  # noqa: BLE001 - reported, paused, still accepting commands
            self._fail(COMMANDS.get(name, name), exc)

    def _do_play(self, _: None) -> None:
        self._next_tick = 0.0
        self._set_running(True)

    def _do_pause(self, _: None) -> None:
        self._set_running(False)
        self._publish()

    def _do_toggle(self, _: None) -> None:
        (self._do_pause if self.running else self._do_play)(None)

    def _do_step_iteration(self, _: None) -> None:
        self._set_running(False)
        self._finished(self._t.step())

    def _do_step_phase(self, _: None) -> None:
        self._set_running(False)
        ran = self._t.step_phase()
        self.outbox.on_phase(ran)
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

    def _do_call(self, job: tuple[int, Callable[[Any], Any], bool]) -> None:
        token, fn, replaces_state = job
        result = fn(self._t)
        if replaces_state:
            self._restarted(history=self._t.history.copy())
        else:
            self._publish()  # fn may have changed anything: show it first
        self.outbox.on_call(token, result)

    def _do_stop(self, _: None) -> None:
        self.stopped = True

    # ------------------------------------------------------------------------ helpers
    @property
    def _t(self) -> Any:
        assert self.trainer is not None, "used before run() built the trainer"
        return self.trainer

    def _finished(self, stats: StepStats, publish: bool = True) -> None:
        """An iteration completed: hand over its stats; stop on NaN/Inf so the user sees it."""
        self.outbox.on_stats(stats)
        if stats.diverged:
            self._set_running(False)
            self._publish()
            self.outbox.on_diverged(stats.iteration, stats.loss)
        elif publish:
            self._publish()

    def _publish(self) -> None:
        self.outbox.on_snapshot(self._snapshot(), self._t.config)

    def _snapshot(self) -> Snapshot:
        start = time.perf_counter()
        snapshot = self._t.snapshot()
        cost = time.perf_counter() - start  # the estimate falls at once and rises slowly, so
        rising = self._snap_cost and cost > self._snap_cost  # one hiccup cannot stall the display
        self._snap_cost = 0.8 * self._snap_cost + 0.2 * cost if rising else cost
        return snapshot

    def _restarted(self, history: MetricHistory | None = None) -> None:
        self.outbox.on_restart(RunInfo.of(self._t), history, self._snapshot(), self._t.config)

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.outbox.on_running(running)

    def _fail(self, what: str, exc: BaseException) -> None:
        """Log the traceback; tell the user in one line; pause, so nothing runs on in a bad state."""
        log.error("%s failed", what, exc_info=exc)
        self._set_running(False)
        self.outbox.on_error(user_message(what, exc))


def user_message(what: str, exc: BaseException) -> str:
    """One line: errors written for the user as they are, anything else with its type."""
    if isinstance(exc, (ConfigError, DataError)):
        message = str(exc)
    else:
        message = f"{what} failed: {type(exc).__name__}: {exc}"
    return message.splitlines()[0] if message.strip() else f"{what} failed"
