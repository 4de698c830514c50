"""The whole window against a real worker thread: drawn at launch, stepping, pausing, closing."""

from __future__ import annotations

import re
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QMainWindow

from lenet_viz.app.docks import DeferredPanel, add_dock
from lenet_viz.app.main_window import STATUS_HZ, MainWindow
from lenet_viz.app.panels.autograd import WAITING
from lenet_viz.app.panels.filters import FILTERS
from lenet_viz.training import Phase, TrainConfig


def make_window(qtbot, tmp_path, **config) -> MainWindow:
    config = {"dataset": "digits", "threads": 1, "eval_every": 0, **config}
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(**config), settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.info is not None and w.parameter_panel.table.rowCount() == 11, timeout=30000)
    return w


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    yield w
    w.close()
    assert not w.worker.isRunning()


def iteration_shown(w: MainWindow) -> int:
    return w.session.iteration


def conv1_cells(w: MainWindow) -> np.ndarray:
    image = w.filter_panel.image_item.image
    return np.stack([FILTERS.cell(image, k) for k in range(FILTERS.n)])


def test_launch_shows_the_untrained_network(window):
    w, trainer = window, window.worker.trainer
    assert iteration_shown(w) == 0 and not w.worker.running
    np.testing.assert_allclose(conv1_cells(w), trainer.model.conv1.weight.detach().numpy()[:, 0], rtol=1e-6)
    table = w.parameter_panel.table
    assert table.rowCount() == 11 and table.item(10, 2).text() == "61,706"
    assert table.item(0, 4).text() == "None"  # no backward yet
    probe = trainer.dataset.test_images[trainer.probe_index, 0].numpy()
    np.testing.assert_allclose(w.feature_panel.mosaic_items["input"].image, probe, rtol=1e-6)
    assert "digits" in w.status.text() and "iteration 0" in w.status.text()


def test_step_iteration_advances_exactly_one_and_redraws_every_panel(qtbot, window):
    w = window
    before = conv1_cells(w).copy()
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: iteration_shown(w) == 1, timeout=10000)
    qtbot.waitUntil(lambda: w.parameter_panel.table.item(0, 4).text() != "None", timeout=5000)
    trainer = w.worker.trainer
    assert trainer.iteration == 1 and not w.worker.running
    x, y = w.loss_panel.loss_curve.getData()
    assert list(x) == [1] and y[0] == pytest.approx(trainer.last_stats.loss)
    after = conv1_cells(w)
    np.testing.assert_allclose(after, trainer.model.conv1.weight.detach().numpy()[:, 0], rtol=1e-6)
    assert not np.array_equal(after, before)
    gx, _ = w.gradient_panel.grad_curves["conv1"].getData()
    assert list(gx) == [1]
    # The tree of next_functions sits behind View at launch: the engine leaves it out of the snapshots
    # (and the panel says nothing false meanwhile); shown, it arrives.
    assert w.autograd_panel.tree.topLevelItem(0).text(0) == WAITING
    w.docks["autograd"].show()
    w.docks["autograd"].raise_()
    qtbot.waitUntil(lambda: w.autograd_panel.tree.topLevelItem(0).text(0).startswith("NllLossBackward0"), timeout=5000)
    qtbot.keyClick(w, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: iteration_shown(w) == 2, timeout=10000)
    assert len(w.history) == 2


def test_step_phase_walks_the_five_phases(qtbot, window):
    w = window
    seen = []
    for expected in Phase:
        qtbot.keyClick(w, Qt.Key.Key_P)
        qtbot.waitUntil(lambda: w.snapshot.last_phase is expected and w.phase_strip.done is expected, timeout=10000)
        seen.append(w.phase_strip.done)
        assert w.phase_strip.labels[expected].property("state") == "done"
        assert w.phase_strip.labels[expected.next()].property("state") == "next"
        if expected is Phase.ZERO_GRAD:
            w.filter_panel.set_mode("gradient")
            assert w.filter_panel.image_item.image is None and w.filter_panel.none_text.isVisible()
            assert w.parameter_panel.table.item(1, 4).text() == "None"
        if expected is Phase.BACKWARD:
            qtbot.waitUntil(lambda: w.parameter_panel.table.item(1, 4).text() != "None", timeout=5000)
            grad = w.worker.trainer.model.conv1.weight.grad.numpy()[:, 0]
            np.testing.assert_allclose(conv1_cells(w), grad, rtol=1e-6)
    assert seen == list(Phase)
    qtbot.waitUntil(lambda: iteration_shown(w) == 1, timeout=5000)
    assert "Just ran update" in w.phase_strip.story.text()


def test_pause_really_holds(qtbot, window):
    w = window
    with qtbot.waitSignal(w.worker.stateChanged, timeout=5000):
        qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: iteration_shown(w) >= 3, timeout=20000)
    with qtbot.waitSignal(w.worker.stateChanged, timeout=5000) as paused:
        qtbot.keyClick(w, Qt.Key.Key_Space)
    assert paused.args == [False]
    w.refresh()
    held = w.worker.trainer.iteration
    qtbot.wait(400)  # time passes; nothing may train
    w.refresh()
    assert w.worker.trainer.iteration == held == iteration_shown(w) == len(w.history)


def test_invalid_hyperparameters_are_refused_with_a_reason(qtbot, window):
    w = window
    w.form.lr.setText("-0.5")
    with qtbot.assertNotEmitted(w.form.config_applied):
        assert w.form.apply() is False
    assert w.form.error.isVisibleTo(w.form) and "lr" in w.form.error.text()
    w.form.lr.setText("0.05")
    with qtbot.waitSignal(w.form.config_applied):
        assert w.form.apply() is True
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: iteration_shown(w) == 1, timeout=10000)
    assert w.worker.trainer.last_stats.lr == 0.05


def test_reset_goes_back_to_iteration_zero(qtbot, window):
    w = window
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: iteration_shown(w) == 2, timeout=10000)
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: iteration_shown(w) == 0 and len(w.history) == 0, timeout=10000)
    assert w.loss_panel.loss_curve.getData()[0] is None or len(w.loss_panel.loss_curve.getData()[0]) == 0


def test_clicking_a_filter_highlights_its_feature_map(window):
    w = window
    w.filter_panel.filter_clicked.emit(4)
    assert w.feature_panel.highlight_rect.isVisible()


def test_close_while_running_is_clean(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.worker.play()
    qtbot.waitUntil(lambda: iteration_shown(w) >= 2, timeout=20000)
    w.close()
    assert not w.worker.isRunning()


def test_close_mid_phase_is_clean(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.worker.step_phase()
    w.worker.step_phase()
    w.close()
    assert not w.worker.isRunning()


def test_layout_and_settings_persist(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    w.filter_panel.set_mode("gradient")
    w.form.speed.setValue(12.5)
    w.docks["autograd"].hide()
    w.close()
    again = make_window(qtbot, tmp_path)
    assert again.filter_panel.mode == "gradient" and again.form.speed.value() == 12.5
    assert again.docks["autograd"].isHidden()
    again.close()


def test_real_process_runs_then_quits_cleanly():
    script = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        from lenet_viz.training import TrainConfig
        from lenet_viz.app import main_window
        app = QApplication([])
        def later():
            w = [t for t in app.topLevelWidgets() if isinstance(t, main_window.MainWindow)][0]
            w.worker.play()
            QTimer.singleShot(1500, w.close)
        QTimer.singleShot(3000, later)
        sys.exit(main_window.run_app(TrainConfig(dataset="digits", threads=1)))
        """
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": "/tmp/lenet-viz-test-config"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "QThread: Destroyed" not in done.stderr and "Traceback" not in done.stderr


STAGED = textwrap.dedent(
    """
    import json, sys, time
    from PySide6.QtCore import QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication
    from lenet_viz.training import TrainConfig
    from lenet_viz.app import main_window
    app = QApplication([])
    main_window.style_application(app)
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    w = main_window.MainWindow(TrainConfig(dataset="digits", threads=1, eval_every=0), settings=settings,
                               process=False, staged=True)
    calls, first = [], {}
    w.when_built(lambda: calls.append(("built", w.built)))

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and not first:
                first.update(pyqtgraph="pyqtgraph" in sys.modules, built=w.built, loading=w.loading.text(),
                             run=w.actions_by_name["run"].isEnabled(), docks=hasattr(w, "docks"),
                             status=w.status.text(), title=w.windowTitle())
            return False

    spy = FirstPaint()
    w.installEventFilter(spy)
    w.show()
    deadline = time.monotonic() + 60
    while not w.built and time.monotonic() < deadline:
        app.processEvents()
    after = dict(built=w.built, calls=calls, run=w.actions_by_name["run"].isEnabled(),
                 centre=w.centralWidget().layout().indexOf(w.feature_panel), docks=len(w.docks),
                 restart=w.actions_by_name["restart"].isEnabled())
    w.close()
    print("STAGED", json.dumps({"first": first, "after": after}))
    """
)


def test_a_staged_window_is_drawn_before_the_plots_are_imported_then_made_whole(tmp_path):
    """run_app's window (staged): its first paint shows the frame (title, phase strip, toolbar off, status,
    "Loading the plots…") before pyqtgraph is even imported (~0.7 s of a ~2 s launch); then the rest is made,
    the network takes the placeholder's place, the controls come on and `when_built` callbacks run."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", STAGED, str(tmp_path / "s.ini")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("STAGED "))
    r = json.loads(line.split(" ", 1)[1])
    assert r["first"] == {"pyqtgraph": False, "built": False, "loading": "Loading the plots…", "run": False,
                          "docks": False, "status": "starting: loading the data and building LeNet…",
                          "title": "lenet-viz — watching LeNet learn"}
    a = r["after"]
    assert a["built"] and a["calls"] == [["built", True]] and a["run"] and not a["restart"]
    assert a["centre"] == 2 and a["docks"] >= 17  # under the banner and the phase strip, where the placeholder was


def test_a_staged_window_closed_before_it_is_whole_closes_quietly(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(dataset="digits", threads=1), settings=settings, staged=True)
    qtbot.addWidget(w)
    ran = []
    w.when_built(lambda: ran.append(1))
    assert not w.built and not hasattr(w, "worker") and w.close()
    assert ran == [] and settings.value("geometry") is None  # nothing to save yet; no worker to stop


def test_first_launch_fits_the_screen_and_splits_plots_network_inspector(window):
    """No saved layout: at most 1600 × 960 and never larger than the screen; plots | network | inspector."""
    room = window.screen().availableGeometry()
    assert window.width() <= min(1600, room.width()) and window.height() <= min(960, room.height())
    left, right = window.docks["loss"].geometry(), window.docks["filters"].geometry()
    centre = window.centralWidget().geometry()
    assert left.right() < centre.left() and centre.right() < right.left()
    assert window.docks["parameters"].geometry().top() > right.bottom()  # the table under the filters


def test_back_tab_panels_are_made_after_the_window_is_drawn_or_when_first_shown(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(dataset="digits", threads=1, eval_every=0), settings=settings)
    qtbot.addWidget(w)
    deferred = w.findChildren(DeferredPanel)
    assert sorted(d.dock.windowTitle() for d in deferred) == ["Confusion", "Distributions", "Formula"]
    assert not any(d.built for d in deferred)  # launch draws the window without them
    w.show()
    qtbot.waitUntil(lambda: all(d.built for d in deferred), timeout=10000)  # made once it is drawn, unasked
    for name, panel in (("confusion", w.probe_tools.confusion), ("distributions", w.step_tools.distributions),
                        ("formula", w.step_tools.formula)):
        assert w.docks[name].widget().widget() is panel  # in its dock's scroll area, the empty page gone
    w.close()


def test_a_confusion_panel_made_after_its_matrix_came_shows_it(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(dataset="digits", threads=1, eval_every=0), settings=settings)
    qtbot.addWidget(w)
    matrix = np.diag(np.arange(1, 11))
    matrix[4, 9] = 5
    w.session.confusion = (matrix, 7)  # as the engine's ConfusionReady leaves it
    panel = w.probe_tools.confusion  # made now
    assert panel.status.text() == "after iteration 7 · 55 of 60 held-out images right (91.7%)"
    assert panel.count_items[4][9].text() == "5" and panel.pairs.item(0).text() == "4 → 9   5 images"
    w.close()


def test_a_deferred_panel_is_made_once_wired_once_and_before_its_dock_is_seen(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    front = add_dock(window, "front", QLabel("front"), Qt.DockWidgetArea.LeftDockWidgetArea)
    made, wired, seen = [], [], []
    later = DeferredPanel(window, "later", lambda: made.append(QLabel("later")) or made[-1],
                          Qt.DockWidgetArea.LeftDockWidgetArea, wired.append)
    later.dock.visibilityChanged.connect(lambda visible: visible and seen.append(later.built))
    window.tabifyDockWidget(front, later.dock)
    front.raise_()
    window.show()
    qtbot.waitExposed(window)
    assert not later.built and made == []
    later.dock.raise_()
    qtbot.waitUntil(lambda: seen == [True])  # made by the time anyone hears the dock is shown
    assert later.panel is made[0] and later.panel is later.panel and wired == made
    assert later.dock.widget().widget() is made[0]


def _inside_refresh() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "refresh" and frame.f_code.co_filename.endswith("main_window.py"):
            return True
        frame = frame.f_back
    return False


def test_running_a_plot_redraws_between_frames_paused_at_once(qtbot, window):
    w, calls = window, []
    for panel in (w.loss_panel, w.gradient_panel):
        def spy(*args, show=panel.show, name=panel.objectName() or type(panel).__name__):
            if args:  # show(history); show() alone is QWidget.show()
                calls.append((name, _inside_refresh(), w.session.running))
            return show(*args)
        panel.show = spy
    w.worker.play()
    qtbot.waitUntil(lambda: {name for name, inside, _ in calls if not inside} == {"LossPanel", "GradientPanel"}, timeout=30000)
    w.worker.pause()
    qtbot.waitUntil(lambda: not w.session.running, timeout=30000)
    # running, each plot redraws in an event-loop turn of its own, never painted with the frame's panels
    assert not any(inside and running for _, inside, running in calls)
    calls.clear()
    qtbot.keyClick(w, Qt.Key.Key_N)  # a step: both plots at once, in the refresh that shows it
    qtbot.waitUntil(lambda: len(calls) >= 2, timeout=30000)
    assert {name for name, inside, _ in calls if inside} == {"LossPanel", "GradientPanel"}


def test_running_the_status_line_and_readouts_change_at_most_status_hz(qtbot, window):
    """And the timeline under the network names the iteration the readouts name (every frame, it read
    "iteration 369 of 369" under "iteration 361")."""
    w, texts = window, {"status": [], "readout": [], "timeline": []}
    for name, label in (("status", w.status), ("readout", w.presentation.readout.values["iteration"]),
                        ("timeline", w.time_travel.timeline.readout)):
        def spy(text, set_text=label.setText, seen=texts[name]):
            seen.append(text)
            return set_text(text)
        label.setText = spy
    w.worker.play()
    qtbot.waitUntil(lambda: w.session.running and w.session.iteration > 0, timeout=30000)
    for seen in texts.values():
        seen.clear()
    start, first = time.perf_counter(), w.session.iteration
    qtbot.wait(2000)
    seconds, iterations = time.perf_counter() - start, w.session.iteration - first
    w.worker.pause()
    assert iterations > 2 * seconds * STATUS_HZ  # faster than the text may follow: the limit is what is tested
    for name, seen in texts.items():
        assert 2 <= len(seen) <= seconds * STATUS_HZ + 2, (name, len(seen), seconds)  # 30 Hz numbers cannot be read
    said = [re.search(r"<b>([\d,]+)</b>", t).group(1) for t in texts["readout"]]
    assert [re.match(r"iteration ([\d,]+) of", t).group(1) for t in texts["timeline"]][-len(said):] == said
    qtbot.waitUntil(lambda: not w.session.running, timeout=30000)
    qtbot.waitUntil(lambda: f"iteration {w.session.iteration:,}" in w.status.text(), timeout=30000)  # paused: the last one


def test_the_apps_window_exempts_what_launch_made_from_later_collections(tmp_path):
    script = textwrap.dedent(
        """
        import gc, json, sys
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication
        from lenet_viz.training import TrainConfig
        from lenet_viz.app.main_window import MainWindow
        app = QApplication([])
        seen = {}
        def window(freeze):
            settings = QSettings(sys.argv[1] + f"/{freeze}.ini", QSettings.Format.IniFormat)
            w = MainWindow(TrainConfig(dataset="digits", threads=1, eval_every=0), settings=settings, process=False,
                           freeze_launch=freeze)
            seen[f"{freeze} before"] = gc.get_freeze_count()
            w.show()
            def check():
                if w.snapshot is None:
                    return QTimer.singleShot(50, check)
                seen[f"{freeze} after"], seen[f"{freeze} tracked"] = gc.get_freeze_count(), len(gc.get_objects())
                w.close()
                window(True) if not freeze else app.quit()
            check()
        window(False)
        app.exec()
        print(json.dumps(seen))
        """
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    seen = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert seen["False before"] == seen["False after"] == seen["True before"] == 0  # tests' windows: never
    assert seen["True after"] > 100_000 > 10 * seen["True tracked"]  # the app's: launch's objects are left out
