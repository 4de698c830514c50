"""The main window: lays out the panels and fans the session's changes out to them.

It never trains and never touches the trainer: the user's keys become the worker's commands;
a display timer (plus `snapshotReady` right after a step) drains the worker's events into the
Qt-free `Session`, which owns what the screen says; the window then redraws what changed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QPushButton, QVBoxLayout, QWidget

from ..training import LossKind, MetricHistory, Snapshot, TrainConfig
from .checkpoint_actions import CheckpointActions
from .controls import HyperparameterForm, PhaseStrip
from .panels.autograd import AutogradPanel
from .panels.feature_maps import FeatureMapPanel
from .panels.filters import FilterInspector
from .panels.gradients import GradientPanel
from .panels.loss import LossPanel
from .panels.parameters import ParameterTable
from .data_actions import DataActions
from .export import ExportActions
from .presentation import Presentation
from .session import Session
from .worker import TrainingWorker

log = logging.getLogger(__name__)

#: Frames per second while training: the display timer and the worker's snapshot schedule.  A bit
#: above 30, so timer jitter and snapshots that wait for an iteration's end still leave >= 30 fps.
DISPLAY_HZ = 32
CLOSE_WAIT_MS = 5000  # a step ends in milliseconds; only loading data (a slow disk, MNIST) takes longer
#: While training runs, the loss and gradient plots redraw at most this often each, on alternate
#: frames.  One plot frame costs 10-20 ms of GUI time (setData on up to 16k points a curve, axes,
#: grid, antialiased paths; see `python -m lenet_viz.bench`): both at 30 Hz saturated the GUI
#: thread, starved its timers and, through the GIL, cut training to a third.  Paused or stepping,
#: they draw at once.  The feature maps and filters keep the full DISPLAY_HZ.
PLOT_HZ = 5
#: Running, the status line changes at most this often: 30 Hz numbers cannot be read, and each new
#: text re-laid out the status bar and the main window (~20 ms of GUI time a second).
STATUS_HZ = 4
#: Train in a child process, so painting never takes the GIL from training (see worker.py).
#: The app tests switch it off for most windows: a thread starts faster and shows `worker.trainer`.
TRAIN_IN_PROCESS = True
SETTINGS = ("lenet-viz", "lenet-viz")


class Banner(QWidget):
    """A dismissable message across the top: errors and divergence, never a modal dialog."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        close.clicked.connect(self.dismissed)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.text, 1)
        row.addWidget(close)
        self.hide()

    def say(self, text: str) -> None:
        self.text.setText(text)
        self.setVisible(True)


class MainWindow(QMainWindow):
    def __init__(
        self, config: TrainConfig, *, speed_limit: float | None = None, settings: QSettings | None = None,
        checkpoint: str | Path | None = None, process: bool | None = None,
    ) -> None:
        """`process`: train in a child process (None: TRAIN_IN_PROCESS), else on a thread of this one."""
        super().__init__()
        self.setWindowTitle("lenet-viz — watching LeNet learn")
        self.settings = settings if settings is not None else QSettings(*SETTINGS)
        self.session = Session()
        self.frames: deque[float] = deque(maxlen=60)
        self._plot_due = 0.0  # running: when the next plot may redraw, and which one (see PLOT_HZ)
        self._plot_turn = 0
        self._status_due = 0.0

        self.loss_panel = LossPanel()
        self.gradient_panel = GradientPanel()
        self.feature_panel = FeatureMapPanel()
        self.filter_panel = FilterInspector()
        self.parameter_panel = ParameterTable()
        self.autograd_panel = AutogradPanel()
        self.form = HyperparameterForm(config)
        self.phase_strip = PhaseStrip()
        self.banner = Banner()

        central = QWidget()
        box = QVBoxLayout(central)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.banner)
        box.addWidget(self.phase_strip)
        box.addWidget(self.feature_panel, 1)
        self.setCentralWidget(central)
        self.docks = {
            "loss": self._dock("Loss && accuracy", self.loss_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "gradients": self._dock("Gradients", self.gradient_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "filters": self._dock("conv1 filters", self.filter_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "parameters": self._dock("Parameters", self.parameter_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "autograd": self._dock("Autograd chain", self.autograd_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "hyperparameters": self._dock("Hyperparameters", self.form, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["parameters"], self.docks["autograd"])
        self.tabifyDockWidget(self.docks["autograd"], self.docks["hyperparameters"])
        self.docks["parameters"].raise_()
        self.notice = QLabel("")  # "Saved …", "Opened …", why this dataset: beside the status, never behind it
        self.notice.setObjectName("notice")
        self.status = QLabel("starting: loading the data and building LeNet…")
        self.statusBar().addPermanentWidget(self.notice)
        self.statusBar().addPermanentWidget(self.status, 1)

        process = TRAIN_IN_PROCESS if process is None else process
        self.worker = TrainingWorker(config=config, process=process, snapshot_interval=1 / DISPLAY_HZ, parent=self)
        self.worker.snapshotReady.connect(self.refresh)
        self.worker.ready.connect(self.refresh)
        self.worker.errorOccurred.connect(lambda message: log.error("worker: %s", message))
        self.worker.diverged.connect(lambda *_: self.refresh())
        self.banner.dismissed.connect(self.session.dismiss_banner)
        self.feature_panel.probe_requested.connect(self.worker.set_probe)
        self.filter_panel.filter_clicked.connect(self.feature_panel.highlight_filter)
        self.form.config_applied.connect(self.worker.apply_config)
        self.form.speed_limit_changed.connect(self.worker.set_speed_limit)
        self._build_actions()
        self._initial_state = self.saveState()  # View ▸ Reset layout goes back to it
        self._restore_settings()
        self.presentation.restore()
        if speed_limit is not None:
            self.form.speed.setValue(speed_limit)
        self.worker.set_speed_limit(self.form.speed_limit())
        self.session.set_speed_limit(self.form.speed_limit())  # the status line says it: it may be the last session's
        self.form.speed_limit_changed.connect(self.session.set_speed_limit)
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // DISPLAY_HZ)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.worker.start()
        if checkpoint is not None:  # the worker builds the trainer first, then loads this
            self.open_checkpoint_from(checkpoint)

    # ----------------------------------------------------------------- building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        w = self.worker
        specs = [
            ("run", "Run / Pause", ["Space"], w.toggle, "Train continuously, or pause"),
            ("step", "Step iteration", ["N", "Right"], w.step_iteration, "Finish one whole iteration, then pause"),
            ("phase", "Step phase", ["P", "."], w.step_phase, "Run just the next phase: zero_grad, forward, loss, backward, update"),
            ("reset", "Reset", ["R"], w.reset, "Re-initialize the network from the seed"),
        ]
        self.actions_by_name: dict[str, QAction] = {}
        toolbar = self.addToolBar("Training")
        toolbar.setObjectName("training-toolbar")
        menu = self.menuBar().addMenu("&Training")
        for name, text, keys, slot, tip in specs:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{tip} ({' / '.join(keys)})")
            action.triggered.connect(slot)
            toolbar.addAction(action)
            menu.addAction(action)
            self.actions_by_name[name] = action
        file_menu = self.menuBar().addMenu("&File")
        self.checkpoints = CheckpointActions(self, self.worker, self.settings, lambda: self.session.iteration)
        file_menu.addActions([self.checkpoints.open_action, self.checkpoints.save_action])
        panels = {d.windowTitle().replace("&&", "&"): d.widget() for d in self.docks.values()}
        self.exports = ExportActions(self, {"Feature maps": self.feature_panel, **panels}, self.worker.send,
                                     lambda message: (self.session.report(message), self._show_text(time.perf_counter(), True)), self.menuBar())
        self.data_actions = DataActions(
            self, lambda: self.session.config, self.worker.apply_config,
            lambda text: (self.session.notify(text, time.perf_counter()), self._show_text(time.perf_counter(), True)),
            lambda message: (self.session.report(message), self._show_text(time.perf_counter(), True)))
        file_menu.addSeparator()
        self.actions_by_name.update(open=self.checkpoints.open_action, save=self.checkpoints.save_action)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.actions_by_name["quit"] = quit_action
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addAction("Reset layout", self.reset_layout)
        self.presentation = Presentation(self, self.settings, QApplication.instance().styleSheet())
        self.presentation.add_to(view)

    def save_checkpoint_to(self, path: str | Path) -> Future:
        """File ▸ Save checkpoint… after its dialog; the future gets the `CheckpointSaved` event."""
        return self.checkpoints.save_to(path)

    def open_checkpoint_from(self, path: str | Path) -> Future:
        """File ▸ Open checkpoint… after its dialog: pause and resume that run."""
        return self.checkpoints.open_from(path)

    # ------------------------------------------------------------------ display
    @property
    def snapshot(self) -> Snapshot | None:
        """The snapshot on screen."""
        return self.session.snapshot

    @property
    def history(self) -> MetricHistory:
        return self.session.history

    def refresh(self) -> None:
        """Drain the worker into the session and redraw what changed.  Called by the display timer and after steps."""
        now = time.perf_counter()
        s = self.session
        changed = s.apply(self.worker.drain(), now) | s.set_silence(self.worker.unanswered_s())
        if "reset" in changed:
            self.loss_panel.clear()
            self.gradient_panel.clear()
            self.autograd_panel.clear()
        if "markers" in changed or "reset" in changed:
            self.loss_panel.set_markers(s.markers)
            self.gradient_panel.set_markers(s.markers)
        self._show_plots(s.running and "reset" not in changed)
        if "snapshot" in changed and s.snapshot is not None:
            snap = s.snapshot
            self.feature_panel.set_mse(s.config is not None and s.config.loss is LossKind.MSE)
            self.feature_panel.show(snap)
            self.filter_panel.show(snap)
            self.parameter_panel.show(snap)
            self.autograd_panel.show(snap)
            self.frames.append(now)
        if "config" in changed and s.config is not None:
            self.form.set_config(s.config)
        if ("config" in changed or "reset" in changed) and s.config is not None:
            self.data_actions.show_config(s.config)
        if "running" in changed:
            self.actions_by_name["run"].setText("Pause" if s.running else "Run")
        self._show_text(now, force=bool(changed - {"history", "snapshot"}))

    def _show_plots(self, running: bool) -> None:
        """Both plots now when not running; running, one of them per 1/(2·PLOT_HZ) s, in turn
        (each `show` is a no-op when its history has not changed)."""
        plots = (self.loss_panel, self.gradient_panel)
        now = time.perf_counter()
        if not running:
            for plot in plots:
                plot.show(self.session.history)
        elif now >= self._plot_due:
            plots[self._plot_turn].show(self.session.history)
            self._plot_turn ^= 1
            self._plot_due = now + 0.5 / PLOT_HZ

    def _show_text(self, now: float, force: bool) -> None:
        """The story, banner, notice and status line, as the session words them; running, at most STATUS_HZ."""
        s = self.session
        if s.running and not force and now < self._status_due:
            return
        self._status_due = now + 1 / STATUS_HZ
        self.phase_strip.set_phase(s.phase_done, s.next_phase, running=s.running, story=s.story())
        banner = s.banner()
        if banner is None:
            self.banner.hide()
        elif banner != self.banner.text.text() or self.banner.isHidden():
            self.banner.say(banner)
        self.notice.setText(s.notice(now))
        self.presentation.readout.show_session(s)
        recent = [t for t in self.frames if t > now - 2]
        fps = (len(recent) - 1) / 2 if len(recent) > 1 else 0.0
        self.status.setText(s.status_line(fps))

    # ----------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        s = self.settings
        if (geometry := s.value("geometry")) is not None:
            self.restoreGeometry(geometry)
        else:  # first launch: 1600 × 960, or the whole screen where that is smaller (a 1280 × 800 projector)
            screen = QApplication.primaryScreen()
            room = screen.availableGeometry() if screen is not None else None
            self.resize(min(1600, room.width()) if room else 1600, min(960, room.height()) if room else 960)
        if (state := s.value("windowState")) is not None:
            self.restoreState(state)
        else:
            self.default_layout()
        mode = s.value("filterMode")
        if isinstance(mode, str) and mode in ("weights", "gradient", "last update"):
            self.filter_panel.set_mode(mode)
        speed = s.value("speedLimit")
        if speed is not None:
            try:
                self.form.speed.setValue(float(speed))
            except (TypeError, ValueError):
                pass

    def default_layout(self) -> None:
        """Plots left, network centre, inspector right, in roughly 3 : 4 : 3 (first launch, View ▸ Reset layout)."""
        d, w, h = self.docks, self.width(), self.height()
        right = max(w * 3 // 10, 470)  # the parameter table's five columns at 11 pt, even on 1280 px
        left = max(min(w * 3 // 10, w - right - 480), w // 5)  # the network keeps 480 px where it can
        self.resizeDocks([d["loss"], d["filters"]], [left, right], Qt.Orientation.Horizontal)
        # Left: the gradients dock holds two plots.  Right: the table's 11 rows fit without scrolling.
        self.resizeDocks([d["loss"], d["gradients"]], [h * 45 // 100, h * 55 // 100], Qt.Orientation.Vertical)
        self.resizeDocks([d["filters"], d["parameters"]], [h * 52 // 100, h * 48 // 100], Qt.Orientation.Vertical)

    def reset_layout(self) -> None:
        """View ▸ Reset layout: every dock back in its place, shown, sized as on a first launch."""
        self.restoreState(self._initial_state)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.docks["parameters"].raise_()
        self.default_layout()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("filterMode", self.filter_panel.mode)
        s.setValue("speedLimit", self.form.speed.value())
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Stop the worker at any moment (running, paused, mid-phase) before the window goes."""
        self.timer.stop()
        self._save_settings()
        if not self.worker.shutdown(CLOSE_WAIT_MS):  # still building the trainer: loading data cannot be cut short
            log.warning("closing: waiting for the training thread to finish loading its data")
            self.hide()
            while not self.worker.shutdown(1000):  # destroying a running QThread would abort the process
                pass
        event.accept()


def run_app(
    config: TrainConfig, *, speed_limit: float | None = None, checkpoint: str | Path | None = None, process: bool = True,
) -> int:
    """Open the window (paused at iteration 0, or on `checkpoint`, everything drawn) and run the event loop."""
    app = QApplication.instance() or QApplication([])
    style_application(app)
    window = MainWindow(config, speed_limit=speed_limit, checkpoint=checkpoint, process=process)
    window.show()
    return app.exec()


def style_application(app: QApplication) -> None:
    """The app's look, before any window exists: also what the benchmark applies, since antialiasing
    and the theme change what every frame costs to paint."""
    app.setApplicationName("lenet-viz")
    from .theme import PLOT_BACKGROUND, PLOT_FOREGROUND, apply_theme

    apply_theme(app)  # one dark surface for widgets and plots; tests keep Qt's defaults
    pg.setConfigOptions(antialias=True, background=PLOT_BACKGROUND, foreground=PLOT_FOREGROUND)  # before any plot
    style = resource("style.qss")
    if style is not None:
        app.setStyleSheet(style.read_text())
    icon = resource("lenet-viz.svg")
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))


def resource(name: str) -> Path | None:
    """A file of the app's resources: inside the installed package (lenet_viz.resources), or, running
    from a source tree that was never installed, the repository's resources/ folder."""
    try:
        from importlib.resources import files

        found = Path(str(files("lenet_viz.resources") / name))
    except ModuleNotFoundError:
        found = Path(__file__).resolve().parents[2] / "resources" / name
    return found if found.is_file() else None
