"""The main window: lays out the panels and fans the session's changes out to them.

It never trains and never touches the trainer: the user's keys become the worker's commands;
a display timer (plus `snapshotReady` right after a step) drains the worker's events into the
Qt-free `Session`, which owns what the screen says; the window then redraws what changed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from ..training import LossKind, MetricHistory, Snapshot, TrainConfig
from .checkpoint_actions import CheckpointActions
from .controls import HyperparameterForm, PhaseStrip
from .panels.steady_label import SteadyLabel
from . import gc_guard
from .docks import add_dock, build_deferred_panels
from .recovery import TrainingRestart, closing_on_sigint, finish_saving_first
from .data_actions import DataActions
from .banner import Banner
from .window_settings import restore_geometry, restore_settings, save_settings
from .theme import configure_plots, resource, style_application  # noqa: F401 - resource: the app's files, asked for here
from .session import Session
from .worker import TrainingWorker

# The plots (pyqtgraph, ~0.7 s to import) and everything drawn with them are imported by `_build`, after
# `run_app`'s window has been drawn once: see MainWindow's `staged`.

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
#: Running, a plot redraws this long after the frame that scheduled it, in an event-loop turn of its
#: own: Qt paints everything changed since the last paint in one go, so a plot redrawn together with
#: the feature maps made that one frame as long as both (the GUI stall p99).  Half a frame.
PLOT_APART_MS = 1000 // DISPLAY_HZ // 2
#: Running, the status line changes at most this often: 30 Hz numbers cannot be read, and each new
#: text re-laid out the status bar and the main window (~20 ms of GUI time a second).
STATUS_HZ = 4
#: Train in a child process, so painting never takes the GIL from training (see worker.py).
#: The app tests switch it off for most windows: a thread starts faster and shows `worker.trainer`.
TRAIN_IN_PROCESS = True
SETTINGS = ("lenet-viz", "lenet-viz")
STARTING = "starting: loading the data and building LeNet…"  # the status line until training reports in


class MainWindow(QMainWindow):
    def __init__(
        self, config: TrainConfig, *, speed_limit: float | None = None, settings: QSettings | None = None,
        checkpoint: str | Path | None = None, process: bool | None = None, record: str | Path | None = None,
        record_budget: int | None = None, freeze_launch: bool = False, staged: bool = False,
    ) -> None:
        """`process`: train in a child process (None: TRAIN_IN_PROCESS), else on a thread of this one.
        `record`: the recording file of this run (time travel); None records nothing.  `freeze_launch`: the
        process's one window (run_app): at its first snapshot, what launch made is exempted from later garbage
        collections (gc_guard.freeze_launch), so a full collection no longer stalls it ~0.1 s once a minute.
        `staged` (run_app): the constructor makes only the window's frame (title, phase strip, toolbar, status
        line, its size) and the rest, the plots first of all, is made once that has been drawn (`built`,
        `when_built`); otherwise everything is made here."""
        super().__init__()
        self.setWindowTitle("lenet-viz — watching LeNet learn")
        self.settings = settings if settings is not None else QSettings(*SETTINGS)
        self.session = Session()
        self.frames: deque[float] = deque(maxlen=60)
        self._plot_due = 0.0  # running: when the next plot may redraw, and which one (see PLOT_HZ)
        self._plot_turn = 0
        self._status_due = 0.0
        self._drawn = False  # painted once: see paintEvent
        self._freeze_launch = freeze_launch  # the app's own window: gc_guard.freeze_launch() at its first snapshot
        self.built = False
        self._closed_early = False  # closed before `_build`: it never runs
        self._when_built: list[Callable[[], None]] = []
        self._make = (config, speed_limit, checkpoint)

        self.phase_strip = PhaseStrip()
        self.banner = Banner()
        self.loading = QLabel("Loading the plots…")  # the network's place until `_build` puts it there
        self.loading.setObjectName("loading")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        central = QWidget()
        self._central = box = QVBoxLayout(central)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.banner)
        box.addWidget(self.phase_strip)
        box.addWidget(self.loading, 1)
        self.setCentralWidget(central)
        self.notice = QLabel("")  # "Saved …", "Opened …", why this dataset: beside the status, never behind it
        self.notice.setObjectName("notice")
        self.status = SteadyLabel(STARTING)  # new text every frame
        self.statusBar().addPermanentWidget(self.notice)
        self.statusBar().addPermanentWidget(self.status.holder, 1)
        self._build_training_actions()
        restore_geometry(self)  # shown at its size from the first paint (restore_settings names what is unreadable)
        self._process = TRAIN_IN_PROCESS if process is None else process
        self._record, self._record_budget, self._starts = record, record_budget, 0
        if not staged:
            self._build()

    def when_built(self, then: Callable[[], None]) -> None:
        """Call `then` once the whole window is made (now, if it is)."""
        if self.built:
            then()
        else:
            self._when_built.append(then)

    def _build(self) -> None:
        """The panels, the docks, the training worker and every action that reaches them (see `staged`)."""
        from .panels.autograd import AutogradPanel
        from .panels.feature_maps import FeatureMapPanel
        from .panels.filters import FilterInspector
        from .panels.gradients import GradientPanel
        from .panels.loss import LossPanel
        from .panels.parameters import ParameterTable
        from .probe_tools import ProbeTools
        from .step_tools import StepTools
        from .time_travel import TimeTravel

        configure_plots()
        config, speed_limit, checkpoint = self._make
        self.loss_panel = LossPanel()
        self.gradient_panel = GradientPanel()
        self.feature_panel = FeatureMapPanel()
        self.filter_panel = FilterInspector()
        self.parameter_panel = ParameterTable()
        self.autograd_panel = AutogradPanel()
        self.form = HyperparameterForm(config)
        self._central.replaceWidget(self.loading, self.feature_panel)
        self.loading.deleteLater()
        self.docks = {
            "loss": add_dock(self, "Loss && accuracy", self.loss_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "gradients": add_dock(self, "Gradients", self.gradient_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
            "filters": add_dock(self, "conv1 filters", self.filter_panel, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True),
            "parameters": add_dock(self, "Parameters", self.parameter_panel, Qt.DockWidgetArea.RightDockWidgetArea, scroll=True),
            "autograd": add_dock(self, "Autograd chain", self.autograd_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "hyperparameters": add_dock(self, "Settings", self.form, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        self.tabifyDockWidget(self.docks["parameters"], self.docks["autograd"])
        self.tabifyDockWidget(self.docks["autograd"], self.docks["hyperparameters"])
        self.docks["parameters"].raise_()

        self.start_worker(config)
        self.banner.dismissed.connect(self.session.dismiss_banner)
        self.feature_panel.probe_requested.connect(lambda which: self.worker.set_probe(which))
        self.filter_panel.filter_clicked.connect(self._select_filter)
        self.form.config_applied.connect(lambda c: self.worker.apply_config(c))
        self.form.speed_limit_changed.connect(lambda limit: self.worker.set_speed_limit(limit))
        current = lambda: self.worker  # noqa: E731 - the worker of the moment: Restart training replaces it
        self.probe_tools = ProbeTools(self, current, self.session)
        self.step_tools = StepTools(self, current, self.session, self.form)
        self.docks.update(self.step_tools.docks)
        self.filter_panel.cell_clicked.connect(self.step_tools.explain)
        self.time_travel = TimeTravel(self, current, self.session, self.loss_panel, self.gradient_panel, recorded=bool(self._record))
        self.docks.update(timeline=self.time_travel.dock, runs=self.time_travel.runs_dock)
        # The side columns reach the bottom: the timeline sits under the network only, so it costs the
        # (tall) side columns no height and the window still fits a 1280 x 800 screen.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.docks.update(self.probe_tools.docks)
        # Every dock one click away at 1280 px, in tab groups of at most four: what explains one step
        # beside the filters; what the user sets beside the table; what a run's health and code look
        # like beside the gradients; where it errs and manual vs optim beside the loss.
        groups = {"filters": ("graph", "drawing"), "hyperparameters": ("formula", "saliency", "lab"),
                  "gradients": ("health", "distributions", "code"), "loss": ("runs", "confusion", "compare")}
        for first, rest in groups.items():
            for name in rest:
                self.tabifyDockWidget(self.docks[first], self.docks[name])
        self.docks["autograd"].hide()  # the tree of next_functions: the graph shows all of it; View ▸ brings it back
        for name in ("filters", "parameters", "gradients", "loss"):
            self.docks[name].raise_()
        self._build_actions()
        self._initial_state = self.saveState()  # View ▸ Reset layout goes back to it
        restore_settings(self)
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
        if checkpoint is not None:  # the worker builds the trainer first, then loads this
            self.open_checkpoint_from(checkpoint)
        for name in ("run", "step", "phase", "reset"):
            self.actions_by_name[name].setEnabled(True)
        self.status.setText(STARTING)  # the plots are here; the training process says when it is
        self.built = True
        waiting, self._when_built = self._when_built, []
        for call in waiting:
            call()

    # ----------------------------------------------------------------- building
    def start_worker(self, config: TrainConfig) -> None:
        """Build, wire and start the training worker: at launch, and again after Restart training."""
        self.worker_config = config
        self._starts += 1
        record = self._record  # after a restart, a new file beside the first: the lost run's recording stays
        if record and self._starts > 1:
            record = Path(record).with_name(f"{Path(record).stem}-restart{self._starts - 1}{Path(record).suffix}")
        self.worker = TrainingWorker(config=config, process=self._process, snapshot_interval=1 / DISPLAY_HZ,
                                     record=str(record) if record else None, record_budget=self._record_budget, parent=self)
        self.worker.snapshotReady.connect(self.refresh)
        self.worker.ready.connect(self.refresh)
        self.worker.errorOccurred.connect(self._on_error)
        self.worker.diverged.connect(lambda *_: self.refresh())
        if hasattr(self, "checkpoints"):
            self.checkpoints.worker = self.worker
        self.worker.start()

    def _select_filter(self, index: int) -> None:
        """A filter clicked in the inspector: the session remembers it, the feature maps mark its map."""
        self.session.select_filter(index)
        self.feature_panel.highlight_filter(self.session.selected_filter)

    def _on_error(self, message: str) -> None:
        log.error("worker: %s", message)
        self.refresh()  # the banner says it now, not at the next frame

    def _build_training_actions(self) -> None:
        """Run, Step, Phase, Reset in the toolbar and the Training menu: in the window's frame, so they are
        there from its first paint (off until `_build` has made the worker they drive)."""
        w = self._to_worker  # the worker of the moment: Restart training replaces it
        specs = [
            ("run", "Run / Pause", ["Space"], w("toggle"), "Train continuously, or pause"),
            ("step", "Step iteration", ["N", "Right"], w("step_iteration"), "Finish one whole iteration, then pause"),
            ("phase", "Step phase", ["P", "."], w("step_phase"), "Run just the next phase: zero_grad, forward, loss, backward, update"),
            ("reset", "Reset", ["R"], w("reset"), "Re-initialize the network from the seed"),
        ]
        self.actions_by_name: dict[str, QAction] = {}
        toolbar = self.addToolBar("Training")
        toolbar.setObjectName("training-toolbar")
        self._training_menu = menu = self.menuBar().addMenu("&Training")
        for name, text, keys, slot, tip in specs:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{tip} ({' / '.join(keys)})")
            action.triggered.connect(slot)
            action.setEnabled(False)
            toolbar.addAction(action)
            menu.addAction(action)
            self.actions_by_name[name] = action

    def _build_actions(self) -> None:
        from .export import ExportActions
        from .presentation import Presentation

        menu = self._training_menu
        self.recovery = TrainingRestart(self, self.banner)
        menu.addSeparator()
        menu.addAction(self.recovery.action)
        self.actions_by_name["restart"] = self.recovery.action
        file_menu = self.menuBar().addMenu("&File")
        self.checkpoints = CheckpointActions(self, self.worker, self.settings, lambda: self.session.iteration)
        file_menu.addActions([self.checkpoints.open_action, self.checkpoints.save_action, self.time_travel.open_action,
                              self.probe_tools.open_image_action])
        panels = {d.windowTitle().replace("&&", "&"): d.widget() for d in self.docks.values()}
        self.exports = ExportActions(self, {"Feature maps": self.feature_panel, **panels}, lambda c: self.worker.send(c),
                                     lambda message: (self.session.report(message), self._show_text(time.perf_counter(), True)), self.menuBar())
        self.time_travel.add_exports(self.exports.menu)
        self.data_actions = DataActions(
            self, lambda: self.session.config, lambda c: self.worker.apply_config(c),
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

    def _to_worker(self, command: str) -> Callable[..., None]:
        return lambda *_: getattr(self.worker, command)()

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
        if not self.built:
            return
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
        if "snapshot" in changed and s.view is not None:
            snap = s.view  # the live run, or the past the user scrubbed to
            self.feature_panel.set_mse(s.config is not None and s.config.loss is LossKind.MSE)
            self.feature_panel.show(snap)
            self.filter_panel.show(snap)
            self.parameter_panel.show(snap)
            self.autograd_panel.show(snap)
            self.frames.append(now)
            if self._freeze_launch:
                self._freeze_launch = False
                gc_guard.freeze_launch()
        self.probe_tools.refresh(changed)
        self.step_tools.refresh(changed)
        self.time_travel.refresh(changed)
        if "config" in changed and s.config is not None:
            self.form.set_config(s.config)
        if ("config" in changed or "reset" in changed) and s.config is not None:
            self.data_actions.show_config(s.config)
        if "running" in changed:
            self.actions_by_name["run"].setText("Pause" if s.running else "Run")
        self._show_text(now, force=bool(changed - {"history", "snapshot"}))

    def _show_plots(self, running: bool) -> None:
        """Both plots now when not running; running, one of them per 1/(2·PLOT_HZ) s, in turn, half a
        frame later (PLOT_APART_MS; each `show` is a no-op when its history has not changed)."""
        plots = (self.loss_panel, self.gradient_panel)
        now = time.perf_counter()
        if not running:
            for plot in plots:
                plot.show(self.session.history)
        elif now >= self._plot_due:
            plot = plots[self._plot_turn]
            self._plot_turn ^= 1
            self._plot_due = now + 0.5 / PLOT_HZ
            QTimer.singleShot(PLOT_APART_MS, self, lambda: plot.show(self.session.history))  # between two frames

    def _show_text(self, now: float, force: bool) -> None:
        """The story, banner, notice and status line, as the session words them; running, at most STATUS_HZ."""
        s = self.session
        if s.running and not force and now < self._status_due:
            return
        self._status_due = now + 1 / STATUS_HZ
        self.phase_strip.set_phase(s.phase_done, s.next_phase, running=s.running, story=s.story())
        banner = s.banner()
        self.recovery.update(s.process_lost)
        if banner is None:
            self.banner.hide()
        elif banner != self.banner.text.text() or self.banner.isHidden():
            self.banner.say(banner)
        self.notice.setText(s.notice(now))
        self.presentation.readout.show_session(s)
        self.time_travel.show_iteration()  # the same iteration as the readouts, at their pace
        recent = [t for t in self.frames if t > now - 2]
        fps = (len(recent) - 1) / 2 if len(recent) > 1 else 0.0
        self.status.setText(s.status_line(fps))

    # ----------------------------------------------------------------- layout
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
        for name, dock in self.docks.items():
            dock.setFloating(False)
            dock.setVisible(name != "autograd")  # the tree stays behind View, as on a first launch
        for name in ("filters", "parameters", "gradients", "loss"):
            self.docks[name].raise_()
        self.default_layout()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if not self._drawn:  # on screen: the rest of the window, then the back tabs' panels, while training starts
            self._drawn = True
            QTimer.singleShot(0, self, self._after_first_paint)

    def _after_first_paint(self) -> None:
        """A staged window's rest: the plotting library in one turn of the event loop (the frame is drawn and
        the status says what is loading), the panels in the next; then the back tabs' panels one a turn."""
        if self.built:
            build_deferred_panels(self)
            return
        self.status.setText("starting: loading the plots, the data and LeNet…")
        QTimer.singleShot(0, self, lambda: (configure_plots(), QTimer.singleShot(0, self, self._build_rest)))

    def _build_rest(self) -> None:
        if not self._closed_early:  # closed meanwhile: nothing more is made
            self._build()
            build_deferred_panels(self)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Stop the worker at any moment (running, paused, mid-phase) before the window goes."""
        if not self.built:  # closed while a staged window was still being made: no worker, nothing to save yet
            self._when_built.clear()
            self._closed_early = True
            event.accept()
            return
        if finish_saving_first(self, self.checkpoints.unsaved()):
            event.ignore()  # closes itself once the save is done; a second close gives up on it
            return
        self.timer.stop()
        save_settings(self)
        if not self.worker.shutdown(CLOSE_WAIT_MS):  # still building the trainer: loading data cannot be cut short
            log.warning("closing: waiting for the training thread to finish loading its data")
            self.hide()
            while not self.worker.shutdown(1000):  # destroying a running QThread would abort the process
                pass
        event.accept()


def run_app(
    config: TrainConfig, *, speed_limit: float | None = None, checkpoint: str | Path | None = None, process: bool = True,
    record: str | Path | bool = True, recording: str | Path | None = None, record_budget: int | None = None,
) -> int:
    """Open the window (paused at iteration 0, or on `checkpoint`, everything drawn) and run the event loop.
    `record`: the run's recording file; True: a new one in the user's recordings folder (the oldest
    pruned past the total budget); False: none.  `recording`: a recorded run to open and look at (followed while
    another process writes it)."""
    app = QApplication.instance() or QApplication([])
    style_application(app)
    if record is True:
        record = default_recording()
    window = MainWindow(config, speed_limit=speed_limit, checkpoint=checkpoint, process=process, record=record or None,
                        record_budget=record_budget, freeze_launch=True, staged=True)
    if recording is not None:
        window.when_built(lambda: window.time_travel.open_recording(recording))
    window.show()
    with closing_on_sigint(window):
        return app.exec()


def default_recording() -> Path | None:
    """A new recording file in the user's data folder; None (the run is not recorded) if it cannot be made."""
    from ..training.recording_library import new_recording_path, prune

    try:
        path = new_recording_path()
        prune(path.parent, keep=path)
        return path
    except OSError as exc:
        log.warning("not recording this run: %s", exc)
        return None
