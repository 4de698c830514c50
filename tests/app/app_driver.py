"""Driving a real MainWindow from tests: barriers into the worker thread, a ledger of what the
window drained, and the consistency checks that say "nothing broke, nothing was lost".

Shared by test_abuse.py, test_divergence.py and test_bad_input.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import QSettings

from lenet_viz.app.main_window import MainWindow
from drained import Drained, summarize
from lenet_viz.app.worker import TrainingWorker
from lenet_viz.training import Phase, TrainConfig, Trainer

LONG = 60_000  # ms; generous: the machine is small and shared, the first Trainer pays for imports
#: The small, fast configuration the abuse tests train (random 32x32 tensors, batch 8).
FAST = dict(dataset="random", batch_size=8, threads=1, eval_every=50, eval_samples=64)


def ask(qtbot, worker: TrainingWorker, fn):  # noqa: ANN201
    """fn(trainer) where training runs, after every command queued before it; the window's timer
    drains and so resolves the future."""
    future = worker.call(fn)
    qtbot.waitUntil(future.done, timeout=LONG)
    return future.result()


def open_window(qtbot, tmp_path, **config) -> MainWindow:
    """A MainWindow with its own settings file, shown, trainer built and first snapshot drawn."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(**{**FAST, **config}), settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.info is not None and w.parameter_panel.table.rowCount() == 11, timeout=LONG)
    return w


def effective_config(t: Trainer) -> TrainConfig:
    """The settings the next iteration will run with (a mid-iteration change waits for the boundary)."""
    return t._pending or t.config  # noqa: SLF001 - no public accessor; read in the worker thread


def weights_finite(t: Trainer) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in t.model.parameters())


@dataclass
class EngineState:
    iteration: int
    phase: Phase
    config: TrainConfig
    weights_finite: bool


def engine_state(t: Trainer) -> EngineState:
    return EngineState(t.iteration, t.phase, effective_config(t), weights_finite(t))


@dataclass
class Ledger:
    """Every Update a window drains, checked as it arrives: after each reset the stats must run
    1, 2, 3, ... with no gap and no repeat.  Faults are collected (a failing assert inside a Qt
    slot would only surface later), and asserted by `check_consistent`."""

    count: int = 0  # iterations since the last reset, as the GUI received them
    resets: int = 0
    stats_seen: int = 0
    drains: int = 0
    faults: list[str] = field(default_factory=list)

    def see(self, u: Drained) -> None:
        self.drains += 1
        if u.reset:
            self.count = 0
            self.resets += 1
        for s in u.stats:
            if s.iteration != self.count + 1:
                self.faults.append(f"stats jumped from {self.count} to {s.iteration}")
            self.count = s.iteration
            self.stats_seen += 1
        if not u.stats and u.iteration != self.count and not u.running:
            # paused and nothing new: the worker's counter must be what we counted
            self.faults.append(f"paused at {u.iteration} but {self.count} iterations were received")

    def install(self, monkeypatch) -> "Ledger":
        """Watch every TrainingWorker.drain() (install before the window is built)."""
        drain = TrainingWorker.drain

        def watched(worker: TrainingWorker) -> list:
            events = drain(worker)
            self.see(summarize(worker, events))
            return events

        monkeypatch.setattr(TrainingWorker, "drain", watched)
        return self


def settle(qtbot, w: MainWindow) -> EngineState:
    """Pause, wait until every queued command has run, drain: afterwards nothing moves."""
    w.worker.pause()
    state = ask(qtbot, w.worker, engine_state)
    w.refresh()
    assert not w.worker.running
    return state


def check_consistent(qtbot, w: MainWindow, ledger: Ledger, config: TrainConfig | None = None) -> EngineState:
    """Settle, then: engine, worker, GUI and the ledger agree on the iteration, the history holds
    exactly iterations 1..N, weights are finite, the phase strip names the engine's next phase."""
    state = settle(qtbot, w)
    assert ledger.faults == []
    u = w.session
    assert not u.running
    assert state.iteration == ledger.count == u.iteration, (state.iteration, ledger.count, u.iteration)
    h = w.history
    if h.stride == 1:
        assert len(h) == state.iteration
        np.testing.assert_array_equal(h.column("iteration"), np.arange(1, state.iteration + 1))
    else:  # decimated: every stored point is the last iteration of its bucket
        assert h.column("iteration")[-1] <= state.iteration
    loss = h.column("loss")
    x = w.loss_panel.loss_curve.xData
    assert (0 if x is None else len(x)) == int(np.isfinite(loss).sum())  # every finite loss is drawn
    assert state.weights_finite
    assert w.phase_strip.next is state.phase is u.next_phase
    if config is not None:
        assert state.config == config
    if w.snapshot is not None:
        assert w.snapshot.iteration == state.iteration
    return state
