"""What one `TrainingWorker.drain()` brought, summed up the way tests ask about it.

`drain()` returns the events themselves; a test wants "the stats of this drain", "the newest
snapshot", "did the run restart" and the worker's position after it.  `Drained` answers those,
feeding the events through a `Session` of the test's own (one per worker), as the window does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lenet_viz.app.session import Session
from lenet_viz.training.messages import Failed, PhaseRan, Ready, RunStarted, SnapshotTaken, Stats


@dataclass
class Drained:
    events: list
    session: Session
    stats: list = field(default_factory=list)
    snapshot: Any = None
    reset: bool = False
    history: Any = None
    error: str | None = None
    phase_done: Any = None
    info: Any = None

    @property
    def running(self) -> bool:
        return self.session.running

    @property
    def iteration(self) -> int:
        return self.session.iteration

    @property
    def next_phase(self):  # noqa: ANN201
        return self.session.next_phase

    @property
    def config(self):  # noqa: ANN201
        return self.session.config

    @property
    def iters_per_s(self) -> float:
        return self.session.rate.rates()[0] if self.session.running else 0.0


def summarize(worker: Any, events: list) -> Drained:
    session = getattr(worker, "_test_session", None)
    if session is None:
        session = worker._test_session = Session()
    restarted = [e for e in events if isinstance(e, RunStarted)]
    d = Drained(events, session, reset=bool(restarted))
    session.apply(events, time.perf_counter())
    cut = restarted[-1].run if restarted else 0
    for e in events:
        if e.run < cut:
            continue  # the replaced run's leftovers, as the window drops them
        if isinstance(e, Stats):
            d.stats.append(e.stats)
        elif isinstance(e, (SnapshotTaken, RunStarted)):
            d.snapshot = e.snapshot
        elif isinstance(e, Failed):
            d.error = e.message
        elif isinstance(e, PhaseRan):
            d.phase_done = e.phase
        if isinstance(e, RunStarted):
            d.history, d.info = e.history, e.info
        elif isinstance(e, Ready):
            d.info = e.info
    return d


def drain(worker: Any) -> Drained:
    """Everything since the previous `drain(worker)`, including what `settle_futures` pulled meanwhile."""
    return summarize(worker, take(worker) + worker.drain())


def take(worker: Any) -> list:
    pending, worker._test_pending = getattr(worker, "_test_pending", []), []
    return pending


def settle_futures(worker: Any) -> None:
    """Drain so the worker resolves its futures (as the window's timer does), keeping the events
    for the test's next `drain(worker)`."""
    worker._test_pending = getattr(worker, "_test_pending", []) + worker.drain()


def ask(qtbot, worker: Any, fn, timeout: int = 60_000):  # noqa: ANN001, ANN201
    """Run fn(trainer) where training runs (the GUI thread must not read the live trainer)."""
    future = worker.call(fn)
    qtbot.waitUntil(lambda: settle_futures(worker) or future.done(), timeout=timeout)
    return future.result()


def until(qtbot, worker: Any, kind: type, timeout: int) -> Drained:
    """Drain (as the GUI timer does) until an event of `kind` came; everything drained meanwhile, summed up."""
    events: list = []

    events.extend(take(worker))

    def came() -> bool:
        events.extend(worker.drain())
        return any(isinstance(e, kind) for e in events)

    qtbot.waitUntil(came, timeout=timeout)
    return summarize(worker, events)
