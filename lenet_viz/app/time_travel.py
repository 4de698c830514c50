"""Time travel in the window: a timeline under the plots, a draggable line on the loss plot, ghosts.

Every run the app trains is recorded (training/loop_recording.py).  Dragging the timeline or
the loss plot's line asks the engine for the past (`Scrub`: a quick preview while dragging, the
exact state once released); the filters, feature maps, prediction and parameter table then show
that iteration while training may go on.  "Continue from here" rewinds the run (`ContinueFrom`)
as a new branch; the abandoned line stays behind the live curves as a faint ghost.  "Live"
returns to the running end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMainWindow

from ..training.messages import ContinueFrom, Scrub
from .docks import add_dock
from .panels.gradients import GradientPanel
from .panels.loss import LossPanel
from .panels.timeline import TimelinePanel
from .session import Session
from .worker import TrainingWorker

GHOST_PEN = pg.mkPen((230, 230, 230, 120), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
SCRUB_PEN = pg.mkPen("#ff9f1c", width=2)


class TimeTravel(QObject):
    def __init__(self, window: QMainWindow, worker: Callable[[], TrainingWorker], session: Session, loss_panel: LossPanel,
                 gradient_panel: GradientPanel) -> None:
        super().__init__(window)
        self._worker, self.session, self.loss_panel = worker, session, loss_panel
        #: Where a ghost is drawn, and what of its history: the smoothed loss, the batch accuracy (%), and the
        #: whole network's gradient norm (all layers combined).
        self.ghost_targets = (
            (loss_panel.plot, lambda h: h.column("loss_smooth"), False),
            (loss_panel.accuracy_view, lambda h: h.column("accuracy") * 100, False),
            (gradient_panel.grad_plot, lambda h: np.sqrt(sum(h.column(c) ** 2 for c in h.columns if c.startswith("grad_norm/"))),
             True),  # a log axis: positive values only
        )
        self.timeline = TimelinePanel()
        self.dock = add_dock(window, "Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=SCRUB_PEN)
        self.line.setToolTip("Drag through the run's past (recorded): the network shows that iteration")
        self.line.hide()
        loss_panel.plot.addItem(self.line, ignoreBounds=True)
        self.ghost_curves: list[list[pg.PlotDataItem]] = []  # per ghost: one curve per target
        self.timeline.scrubbed.connect(lambda k: self.scrub(k, exact=False))
        self.timeline.chosen.connect(lambda k: self.scrub(k, exact=True))
        self.timeline.continue_requested.connect(self.continue_from)
        self.timeline.live_requested.connect(self.live)
        self.line.sigDragged.connect(lambda line: self._line_moved(exact=False))
        self.line.sigPositionChangeFinished.connect(lambda line: self._line_moved(exact=True))
        self._ghosts_shown: list = []

    @property
    def worker(self) -> TrainingWorker:
        """The worker of the moment (Restart training replaces it)."""
        return self._worker()

    # ------------------------------------------------------------------ user → engine
    def scrub(self, iteration: int, exact: bool = True) -> None:
        if not self.session.recording:
            self.session.warn(self.session.recording_problem or "this run is not recorded: nothing to go back to")
            return
        if exact and iteration >= self.session.iteration and not self.session.running:
            self.live()  # the end of the run is the live run
            return
        self.session.scrub_to(iteration)
        self.line.setValue(iteration)
        self.line.show()
        self.worker.send(Scrub(int(iteration), exact))

    def _line_moved(self, exact: bool) -> None:
        k = max(0, min(int(round(self.line.value())), self.session.iteration))
        self.timeline.set_iteration(k)
        self.scrub(k, exact)

    def continue_from(self, iteration: int) -> None:
        if not self.session.recording:
            self.session.warn(self.session.recording_problem or "this run is not recorded: it cannot be rewound")
            return
        self.worker.send(ContinueFrom(int(iteration)))

    def live(self) -> set[str]:
        self.line.hide()
        return self.session.scrub_to(None)

    # ------------------------------------------------------------------ engine → screen
    def refresh(self, changed: set[str]) -> None:
        s = self.session
        if changed & {"history", "reset", "snapshot"}:
            self.timeline.show(s.iteration)
        if "reset" in changed:
            self.line.hide()
        if s.ghosts is not self._ghosts_shown and ("reset" in changed or "history" in changed):
            self._draw_ghosts()

    def _draw_ghosts(self) -> None:
        self._ghosts_shown = self.session.ghosts
        while len(self.ghost_curves) < len(self._ghosts_shown):
            curves = []
            for target, _, _ in self.ghost_targets:
                curve = pg.PlotDataItem(pen=GHOST_PEN)
                curve.setZValue(-5)
                target.addItem(curve)
                curves.append(curve)
            self.ghost_curves.append(curves)
        for k, curves in enumerate(self.ghost_curves):
            ghost = self._ghosts_shown[k] if k < len(self._ghosts_shown) else None
            for curve, (_, values, positive) in zip(curves, self.ghost_targets):
                if ghost is None or not len(ghost):
                    curve.setData([], [])
                else:
                    x, y = ghost.column("iteration"), values(ghost)
                    keep = np.isfinite(y) & (y > 0) if positive else np.isfinite(y)
                    curve.setData(x[keep], y[keep])
