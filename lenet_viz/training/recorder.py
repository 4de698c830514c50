"""Recorder: writes a run into a recording while it trains, without slowing it down or stopping it.

- The training thread only flattens each StepStats into a row and appends it to a list
  (microseconds); a writer thread owns the SQLite connection, collects the rows a few times a
  second and commits about twice a second, so kill -9 loses at most the last second and the
  file is always a committed, readable database.  Rows are not queued one by one: waking the
  writer fifty times a second cost the training thread ~0.7 ms an iteration (measured, see
  README "Benchmark"), collecting them costs it nothing.
- Keyframes (the complete `Trainer.state_dict()`, the torch RNG, the thread count) are
  captured on the training thread (a copy, ~0.4 ms on MNIST) and encoded and written by the
  writer (~2.7 ms).  They start every `keyframe_every` iterations; each time the file outgrows
  its byte budget (less room for the write-ahead log, recording_store.wal_limits) the interval
  doubles and every other old keyframe is dropped (a branch's first is kept), so the spacing
  grows with the run and the size stays bounded.  Keyframes are also spaced
  so that they cost at most KEYFRAME_TIME_SHARE of training time, on any machine, judged by
  the median cost of the last few; a recording's first keyframe does not count, since it pays
  what happens once per process (torch imports `torch._dynamo` at the first optimizer
  `state_dict()`, ~1.9 s, which once spaced the next keyframe ~95 s later).
- Settings changes are noticed by the recorder itself (each iteration's config is compared
  with the last one recorded), so replay applies them where they happened.
- Any failure to write (disk full, the file vanished) stops the recording, never training:
  `stopped` says why, once, and `on_stopped` is called with the same line.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import json
import math
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .checkpoint import MACHINE_FIELDS
from .recording_store import RecordingError, check_writable, create
from .recording_writer import Writer
from .trainer import Trainer
from .types import Phase, StepStats

DEFAULT_BUDGET = 256 * 2**20  # bytes: ~45 MB of metrics per 100k iterations, the rest keyframes (~500 KB each)
MIN_BUDGET = 4 * 2**20
KEYFRAME_EVERY = 8  # iterations between keyframes at first (rewinds early in a run replay at most this many)
KEYFRAME_COSTS = 5  # the time share is judged by the median cost of this many recent keyframes,
KEYFRAME_COSTS_KNOWN = 3  # ... once this many have been timed (the first one not counted)
KEYFRAME_TIME_SHARE = 0.025  # keyframes may use at most 2.5 % of training time: with the rows (~0.2 %), the 3 % goal
COMMIT_EVERY_S = 0.5
ROWS_EVERY_S = 0.25  # how often the writer collects the rows the training thread appended


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def flatten(stats: StepStats) -> dict[str, Any]:
    """StepStats as metric columns; dicts become field/key ("grad_norms/conv1.weight"), new fields new columns."""
    row: dict[str, Any] = {}
    for name in _field_names(type(stats)):
        value = getattr(stats, name)
        if isinstance(value, dict):
            for key, v in value.items():
                row[f"{name}/{key}"] = v
        elif value is None or isinstance(value, (bool, int, float, str)):
            row[name] = value
        elif isinstance(value, (tuple, list, set, frozenset)):  # health flags, lab bugs: their names
            row[name] = ";".join(sorted(str(getattr(v, "name", v)) for v in value))
        # anything else (a histogram sample) is not a metric column
    return row


def run_settings(config: Any) -> dict[str, Any]:
    """The settings that decide the run (this machine's device, threads and data folder left out)."""
    return {k: v for k, v in config.to_dict().items() if k not in MACHINE_FIELDS}


def capture(trainer: Trainer) -> dict[str, Any]:
    """A keyframe: everything needed to continue `trainer` exactly, as fresh copies."""
    state = trainer.state_dict(history=False)
    state["torch_rng"] = torch.get_rng_state()
    state["dataset"] = trainer.dataset.name
    state["device"] = str(trainer.device)
    state["threads"] = torch.get_num_threads()
    return state


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return "the disk is full"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Recorder:
    """Records `trainer` into a new recording at `path` (an earlier recording there is replaced).

    With `attach` (default) it listens to every step of the trainer by itself; otherwise the
    loop calls `on_step(stats)` then `keyframe_if_due()` after each iteration.
    """

    def __init__(self, path: str | Path, trainer: Trainer, *, budget: int = DEFAULT_BUDGET,
                 keyframe_every: int = KEYFRAME_EVERY, time_share: float = KEYFRAME_TIME_SHARE,
                 commit_every: float = COMMIT_EVERY_S, attach: bool = True,
                 on_stopped: Callable[[str], None] | None = None, label: str = "") -> None:
        self.path = Path(path).expanduser()
        if budget < MIN_BUDGET:
            raise ValueError(f"budget must be at least {MIN_BUDGET} bytes (got {budget})")
        if keyframe_every < 1 or not 0 < time_share <= 1:
            raise ValueError(f"keyframe_every must be >= 1 and time_share in (0, 1] (got {keyframe_every}, {time_share})")
        check_writable(self.path)
        header = {"lenet_viz_version": __version__, "torch_version": str(torch.__version__),
                  "threads": str(torch.get_num_threads()), "device": str(trainer.device),
                  "dataset": trainer.dataset.name, "created": repr(time.time())}
        try:
            conn = create(self.path, header, budget)
        except (OSError, sqlite3.Error) as e:
            raise RecordingError(f"cannot record to {self.path}: {describe_failure(e)}") from None
        self.budget, self.interval, self.time_share = budget, keyframe_every, time_share
        self.on_stopped = on_stopped
        self.stopped: str | None = None  # "recording stopped: why" once writing failed
        self._stopping = threading.Lock()  # the writer and the training thread may both fail at once
        self.trainer = trainer
        self.branch_id = 0
        self._closed = False
        self._attached = False
        self._fault_hook: Callable[[], None] | None = None  # tests: raise here to simulate a failing disk
        #: CPU seconds the recording has taken: on the training thread while attached (rows, keyframe
        #: captures), and the writer thread's whole CPU time so far (the benchmark's own accounting).
        self.listen_cpu_s = self.writer_cpu_s = 0.0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._rows: list[tuple[int, dict[str, Any]]] = []  # (branch, row) appended here, collected by the writer
        self._rows_lock = threading.Lock()
        # CPU seconds recent keyframes cost (capture here + write there; not waits for a core); the writer adds them
        self._kf_costs: deque[float] = deque(maxlen=KEYFRAME_COSTS)
        self._kf_first_cost: float | None = None  # the first keyframe's: one-time costs, left out of the spacing
        writer = Writer(self, conn, commit_every, rows_every=max(0.01, min(ROWS_EVERY_S, commit_every)))
        self._writer = threading.Thread(target=writer.run, name="recording writer", daemon=True)
        self._writer.start()
        self._new_branch(None, trainer.iteration, trainer, label)
        if attach:
            self._attach(trainer)

    # ------------------------------------------------------------- the run
    def on_step(self, stats: StepStats) -> None:
        """Record one completed iteration (and a settings change it was the first to use)."""
        if self.stopped or self._closed:
            return
        if stats.iteration != self._expected:
            self._discontinuity(stats)
        config = self.trainer.config
        if config is not self._config_seen:  # apply_config makes a new object: compare only then
            self._config_seen = config
            settings = run_settings(config)
            if settings != self._settings:
                self._settings = settings
                self._put(("settings", self.branch_id, stats.iteration, json.dumps(settings)))
        row = (self.branch_id, flatten(stats))
        with self._rows_lock:
            self._rows.append(row)
        if stats.diverged:
            self.on_event("divergence", {"loss": stats.loss, "lr": stats.lr})
        self._expected = stats.iteration + 1

    def keyframe_if_due(self) -> bool:
        """Take a keyframe if the interval has passed and keyframes stay under `time_share` of the time."""
        t = self.trainer
        if self.stopped or self._closed or t.phase is not Phase.ZERO_GRAD or t.iteration - self._last_kf < self.interval:
            return False
        if time.perf_counter() - self._last_kf_time < self.keyframe_cost() / self.time_share:
            return False
        self._keyframe(t)
        return True

    def keyframe_cost(self) -> float:
        """CPU seconds a keyframe costs, as the spacing counts it: the median of the last KEYFRAME_COSTS,
        leaving out the recording's first (imports), so one slow keyframe (a collection, a busy disk, the
        file's first pages) does not hold the next back for a hundred times its cost either; 0 (the
        interval alone) until KEYFRAME_COSTS_KNOWN have been timed."""
        return statistics.median(self._kf_costs) if len(self._kf_costs) >= KEYFRAME_COSTS_KNOWN else 0.0

    def add_keyframe_cost(self, seconds: float) -> None:
        """The writer's report of what one keyframe cost (capture and write)."""
        if self._kf_first_cost is None:
            self._kf_first_cost = seconds
        else:
            self._kf_costs.append(seconds)

    def on_event(self, kind: str, detail: Any = None) -> None:
        """Record what happened ("settings", "reset", "branch", "divergence", "lab_bug", ...) at this iteration."""
        if not (self.stopped or self._closed):
            self._put(("event", self.branch_id, self.trainer.iteration, time.time(), kind,
                             json.dumps(detail, default=str)))

    def branch(self, from_iteration: int, *, parent: int | None = None, trainer: Trainer | None = None,
               label: str = "") -> int:
        """Start a new branch at `from_iteration` of `parent` (default: the current branch); returns its id.

        Call it once the trainer is in the state after `from_iteration` (e.g. `rec.trainer_at(k)`,
        passed as `trainer` when it replaces the one recorded so far) and its new settings, if
        any, are applied: the branch starts with a keyframe of exactly that.
        """
        if trainer is not None:
            self._use(trainer)
        if self.trainer.iteration != from_iteration:
            raise ValueError(f"the trainer is at iteration {self.trainer.iteration}, not {from_iteration}: "
                             "restore it first (Recording.trainer_at)")
        parent = self.branch_id if parent is None else parent
        new = self._new_branch(parent, from_iteration, self.trainer, label)
        self.on_event("branch", {"parent": parent, "from_iteration": from_iteration})
        return new

    def restart(self, kind: str = "reset", trainer: Trainer | None = None, label: str = "") -> int:
        """The trainer starts a new run (reset, new seed or data, a checkpoint loaded): a new root branch."""
        if trainer is not None:
            self._use(trainer)
        new = self._new_branch(None, self.trainer.iteration, self.trainer, label)
        self.on_event(kind, {"iteration": self.trainer.iteration})
        return new

    def flush(self, timeout: float = 30.0) -> bool:
        """Commit everything queued so far (before another reader needs it, e.g. a rewind)."""
        if self.stopped or self._closed:
            return False
        done = threading.Event()
        self._put(("flush", done))
        return done.wait(timeout)

    def close(self) -> None:
        """Keyframe the final state (so the run can be continued from its end), commit, close the file."""
        if self._closed:
            return
        if self._attached:
            self.trainer.step_listeners.remove(self._listen)
            self._attached = False
        t = self.trainer
        if not self.stopped and t.phase is Phase.ZERO_GRAD and self._last_kf != t.iteration:
            self._keyframe(t)
        self._closed = True
        self._put(("close", None))
        self._writer.join()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- helpers
    def _use(self, trainer: Trainer) -> None:
        """Record `trainer` from now on (a rewind may replace the trainer object)."""
        if self._attached:
            self._attach(trainer)
        else:
            self.trainer = trainer

    def _attach(self, trainer: Trainer) -> None:
        if self._attached:
            self.trainer.step_listeners.remove(self._listen)
        self.trainer = trainer
        trainer.step_listeners.append(self._listen)
        self._attached = True

    def _listen(self, stats: StepStats) -> None:
        start = time.thread_time()
        try:
            self.on_step(stats)
            self.keyframe_if_due()
        except Exception as e:  # noqa: BLE001 - a recording problem must never stop training
            self._stop(e)
        self.listen_cpu_s += time.thread_time() - start

    def _put(self, item: tuple) -> None:
        """Queue `item` for the writer after every row appended so far, so it is written in order."""
        rows = self.take_rows()
        if rows:
            self._queue.put(("rows", rows))
        self._queue.put(item)

    def take_rows(self) -> list[tuple[int, dict[str, Any]]]:
        """The rows appended since the last call, oldest first (the writer's collection)."""
        with self._rows_lock:
            rows, self._rows = self._rows, []
        return rows

    def _new_branch(self, parent: int | None, fork: int, source: Trainer | None, label: str = "") -> int:
        self.branch_id += 1
        self._put(("branch", self.branch_id, parent, fork, time.time(), label))
        self._expected = fork + 1
        self._settings: dict[str, Any] | None = None
        self._config_seen: Any = None
        self._last_kf, self._last_kf_time = -math.inf, -math.inf
        if source is not None:
            self._keyframe(source)
        return self.branch_id

    def _discontinuity(self, stats: StepStats) -> None:
        """The trainer jumped (reset or load without `restart`): record what follows as a new run."""
        if stats.iteration == 1:  # the state before it is a pure function of the settings: rebuild it
            with torch.random.fork_rng(devices=[]):
                fresh = Trainer(self.trainer.config, dataset=self.trainer.dataset)
            self._new_branch(None, 0, fresh)
        else:  # unknown start: the new run is replayable from its first keyframe (taken right after this step)
            self._new_branch(None, stats.iteration - 1, None)
        self.on_event("reset", {"iteration": stats.iteration - 1, "noticed": True})

    def _keyframe(self, trainer: Trainer) -> None:
        start, cpu = time.perf_counter(), time.thread_time()
        state = capture(trainer)
        self._put(("keyframe", self.branch_id, state["iteration"], state, time.thread_time() - cpu))
        self._last_kf, self._last_kf_time = state["iteration"], start

    def _stop(self, exc: BaseException) -> None:
        """Stop recording for good and say why, once (`on_stopped` may run on the writer thread)."""
        with self._stopping:
            if self.stopped is not None:
                return
            self.stopped = f"recording stopped: {describe_failure(exc)} ({self.path}); training goes on"
        if self.on_stopped is not None:
            self.on_stopped(self.stopped)
