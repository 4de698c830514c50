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

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow

from ..training.history import SMOOTHING
from ..training.messages import ContinueFrom, FollowRecording, OpenRecording, Scrub
from ..training.recording import Recording
from ..training.recording_store import RecordingError
from .docks import add_dock
from .panels.gradients import GradientPanel
from .panels.loss import LossPanel
from .panels.run_tree import RunTreePanel
from .panels.timeline import TimelinePanel
from .session import Session
from .worker import TrainingWorker

GHOST_PEN = pg.mkPen((230, 230, 230, 120), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
SCRUB_PEN = pg.mkPen("#ff9f1c", width=2)
TREE_REFRESH_MS = 1500


class TimeTravel(QObject):
    def __init__(self, window: QMainWindow, worker: Callable[[], TrainingWorker], session: Session, loss_panel: LossPanel,
                 gradient_panel: GradientPanel, recorded: bool = True) -> None:
        """`recorded`: the window asked for its runs to be recorded (what the Runs dock says while empty)."""
        super().__init__(window)
        self._worker, self.session, self.loss_panel, self.recorded = worker, session, loss_panel, recorded
        #: Where a ghost is drawn, and what of its history: the smoothed loss, the batch accuracy (%), and the
        #: whole network's gradient norm (all layers combined).
        #: Where a ghost is drawn, and what of its recorded line: the smoothed loss, the batch accuracy (%), and
        #: the whole network's gradient norm (all layers combined; a log axis, so positive values only).
        self.ghost_targets = (
            (loss_panel.plot, lambda m: smoothed(m["loss"]), False),
            (loss_panel.accuracy_view, lambda m: m["accuracy"] * 100, False),
            (gradient_panel.grad_plot, lambda m: np.sqrt(sum(v ** 2 for k, v in m.items() if k.startswith("grad_norms/"))), True),
        )
        self.timeline = TimelinePanel()
        self.dock = add_dock(window, "Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=SCRUB_PEN)
        self.line.setToolTip("Drag through the run's past (recorded): the network shows that iteration")
        self.line.hide()
        loss_panel.plot.addItem(self.line, ignoreBounds=True)
        self.runs = RunTreePanel()
        self.runs.set_recording(recorded)
        self.runs_dock = add_dock(window, "Runs", self.runs, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.runs.visibility_changed.connect(lambda *_: self._draw_ghosts())
        self.ghost_curves: dict[int, list[pg.PlotDataItem]] = {}  # per recorded branch: one curve per target
        self._reader: Recording | None = None
        self._lines: dict[int, tuple[int, dict]] = {}  # branch -> (last iteration read, its metrics)
        self._tree_timer = QTimer(self)  # the writer commits twice a second: the tree follows it
        self._tree_timer.setInterval(TREE_REFRESH_MS)
        self._tree_timer.timeout.connect(self._refresh_tree)
        self.open_action = QAction("Open recording…", window)
        self.open_action.setToolTip("Look at a run recorded here or elsewhere (lenet-viz --record): scrub it, follow it, "
                                    "continue it")
        self.open_action.triggered.connect(self.ask_open)
        self.timeline.scrubbed.connect(lambda k: self.scrub(k, exact=False))
        self.timeline.chosen.connect(lambda k: self.scrub(k, exact=True))
        self.timeline.continue_requested.connect(self.continue_from)
        self.timeline.live_requested.connect(self.live)
        self.line.sigDragged.connect(lambda line: self._line_moved(exact=False))
        self.line.sigPositionChangeFinished.connect(lambda line: self._line_moved(exact=True))

    @property
    def worker(self) -> TrainingWorker:
        """The worker of the moment (Restart training replaces it)."""
        return self._worker()

    # ------------------------------------------------------------------ user → engine
    def scrub(self, iteration: int, exact: bool = True) -> None:
        if not (self.session.recording or self.session.viewing):
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
        if not (self.session.recording or self.session.viewing):
            self.session.warn(self.session.recording_problem or "this run is not recorded: it cannot be rewound")
            return
        self.worker.send(ContinueFrom(int(iteration)))

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.loss_panel.window(), "Open a recording", str(Path.home()),
                                              "lenet-viz recordings (*.lvz);;All files (*)")
        if path:
            self.open_recording(path)

    def open_recording(self, path: str | Path) -> None:
        """Show the run recorded in `path`; while another process writes it, its new iterations follow."""
        self.worker.send(OpenRecording(str(Path(path).expanduser().absolute())))

    def add_exports(self, menu) -> None:  # noqa: ANN001 - a QMenu
        """conv1's filters over the recorded run, as an animated GIF or a PNG strip (Export menu)."""
        menu.addSeparator()
        for kind, text, filters in (("gif", "conv1 filters over the run as GIF…", "GIF (*.gif)"),
                                    ("png", "conv1 filters over the run as PNG strip…", "PNG image (*.png)")):
            action = menu.addAction(text)
            action.triggered.connect(lambda _=False, k=kind, f=filters: self._ask_export(k, f))

    def _ask_export(self, kind: str, filters: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self.loss_panel.window(), "Export", str(Path.home() / f"conv1-filters.{kind}"),
                                              filters)
        if path:
            self.export_filters(path, kind)

    def export_filters(self, path: str | Path, kind: str) -> Path | None:
        """Write conv1's filter evolution from the recording (the live run's branch, or the run being viewed)."""
        source = self.session.viewing or self.session.recording
        if not source:
            self.session.warn(self.session.recording_problem or "this run is not recorded: its filters have no history")
            return None
        from ..training.recording_export import export_filters_gif, export_filters_png  # PIL: not at launch

        export = export_filters_gif if kind == "gif" else export_filters_png
        try:
            with Recording.open(source) as rec:
                export(rec, path, branch=None if self.session.viewing else (self.session.branch or None))
            return Path(path)
        except RecordingError as exc:
            self.session.warn(str(exc))
            return None

    def live(self) -> set[str]:
        self.line.hide()
        return self.session.scrub_to(None)

    # ------------------------------------------------------------------ engine → screen
    def refresh(self, changed: set[str]) -> None:
        s = self.session
        if "reset" in changed:
            self.line.hide()
            self._refresh_tree()
        if changed & {"reset", "text"}:  # "text": a recording started, stopped or failed
            self.runs.set_recording(bool(s.recording or s.viewing or (self.recorded and not s.recording_problem)))
        if (s.recording or s.viewing) and not self._tree_timer.isActive():
            self._tree_timer.start()

    def show_iteration(self) -> None:
        """The timeline follows the run: called with the window's texts (STATUS_HZ while running), so it
        names the same iteration as the readouts above it (every frame, it read 369 under "iteration 361")."""
        self.timeline.show(self.session.iteration)

    def _refresh_tree(self) -> None:
        """Read the recording's branches (the GUI reads the file itself: torch-free, read-only) and redraw the ghosts;
        a recording being viewed is followed: what its writer added since comes as new iterations."""
        if self.session.viewing and not self.session.running:
            self.worker.send(FollowRecording())
        reader = self._open_reader()
        if reader is None:
            return
        try:
            branches = reader.branches()
        except RecordingError:
            return  # nothing committed yet
        self.runs.show(branches, current=self.session.branch)
        self._draw_ghosts(branches)

    def _open_reader(self) -> Recording | None:
        path = self.session.viewing or self.session.recording
        if path and (self._reader is None or str(self._reader.path) != path):
            try:
                self._reader = Recording.open(path)
            except RecordingError:
                return None
            self._lines.clear()
        return self._reader if path else None

    def _draw_ghosts(self, branches: list | None = None) -> None:
        """Every ticked branch but the live one, faintly behind the live curves (an abandoned branch, an earlier run)."""
        reader = self._open_reader()
        if reader is None:
            return
        if branches is None:
            branches = reader.branches()
        shown = self.runs.shown()
        for b in branches:
            curves = self.ghost_curves.get(b.id)
            wanted = b.id in shown and b.id != self.session.branch
            if curves is None:
                if not wanted:
                    continue
                curves = self.ghost_curves[b.id] = [self._ghost_curve(target) for target, _, _ in self.ghost_targets]
            if not wanted:
                for curve in curves:
                    curve.setData([], [])
                continue
            cached = self._lines.get(b.id)
            if cached is None or cached[0] != b.last_iteration:  # read a branch again only when it grew
                self._lines[b.id] = cached = (b.last_iteration, reader.metrics(b.id))
            m = cached[1]
            if not m or not len(m.get("iteration", ())):
                continue
            for curve, (_, values, positive) in zip(curves, self.ghost_targets):
                y = np.asarray(values(m), dtype=np.float64)
                keep = np.isfinite(y) & (y > 0) if positive else np.isfinite(y)
                curve.setData(m["iteration"][keep], y[keep])

    @staticmethod
    def _ghost_curve(target) -> pg.PlotDataItem:  # noqa: ANN001 - a PlotItem or a ViewBox
        curve = pg.PlotDataItem(pen=GHOST_PEN)
        curve.setZValue(-5)
        target.addItem(curve)
        return curve


def smoothed(loss: np.ndarray) -> np.ndarray:
    """The loss smoothed as the engine smooths it (an exponential average skipping NaN/Inf)."""
    out, ema = np.empty_like(loss, dtype=np.float64), None
    for i, value in enumerate(loss):
        if np.isfinite(value):
            ema = value if ema is None else SMOOTHING * ema + (1 - SMOOTHING) * value
        out[i] = np.nan if ema is None else ema
    return out
