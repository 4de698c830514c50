"""Issue 12's numbered defects, each driven through the real window and checked on what it shows:
label text, plot ranges, item data.  (Defects 3, 10 and 12's plot parts have panel tests too.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app_driver import LONG, ask, open_window
from lenet_viz.app.main_window import MainWindow
from lenet_viz.app.panels.filters import FILTERS
from lenet_viz.training import LossKind, OptimizerKind, Phase


@pytest.fixture
def window(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path)
    yield w
    w.close()
    assert not w.worker.isRunning()


def at_1280x800(w: MainWindow) -> None:
    """The window as a first launch on a 1280 x 800 screen lays it out (offscreen starts at 800 px), settled and painted."""
    w.resize(1280, 800)
    w.default_layout()
    QApplication.processEvents()
    w.grab()


def steps(qtbot, w: MainWindow, n: int, key=Qt.Key.Key_N) -> None:
    target = w.session.iteration + n
    for _ in range(n):
        qtbot.keyClick(w, key)
    qtbot.waitUntil(lambda: w.session.iteration == target and len(w.history) == target, timeout=LONG)
    w.refresh()
    w.grab()  # paint: autorange is applied when the plots are drawn


def reset(qtbot, w: MainWindow) -> None:
    run = w.session.run
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: w.session.run > run and w.session.iteration == 0 and len(w.history) == 0, timeout=LONG)
    w.refresh()
    w.grab()


def x_range(plot) -> list[float]:
    return plot.vb.viewRange()[0]


# 1 ------------------------------------------------------------------ notices and a mistyped --data-dir
def test_a_data_dir_without_mnist_says_so_in_the_banner_and_the_notice(qtbot, tmp_path):
    typo = tmp_path / "mnsit"
    w = open_window(qtbot, tmp_path, dataset="auto", data_dir=str(typo))
    w.refresh()
    assert w.banner.isVisibleTo(w)
    text = w.banner.text.text()
    assert f"no MNIST files in {typo}" in text and "--data-dir" in text and "digits" in text
    assert f"no MNIST files in {typo}" in w.notice.text() and w.notice.isVisibleTo(w)
    w.close()


def test_no_banner_when_auto_falls_back_from_the_default_folder(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_VIZ_DATA_DIR", str(tmp_path / "none"))
    w = open_window(qtbot, tmp_path, dataset="auto")
    w.refresh()
    assert not w.banner.isVisibleTo(w) and "using" in w.notice.text()
    w.close()


def test_the_save_notice_is_visible(qtbot, window, tmp_path):
    w = window
    steps(qtbot, w, 2)
    path = tmp_path / "two.pt"
    future = w.save_checkpoint_to(path)
    qtbot.waitUntil(future.done, timeout=LONG)
    w.refresh()
    assert w.notice.isVisibleTo(w) and w.notice.text() == f"Saved iteration 2 to {path}"
    assert w.notice.width() >= w.notice.fontMetrics().horizontalAdvance(w.notice.text()) * 0.5


# 2 ------------------------------------------------------------------ a damaged MNIST file
# (test_bad_input.py::test_a_window_whose_data_is_corrupt_says_which_file_and_closes_cleanly)


# 3 ------------------------------------------------------------------ plot ranges after Reset
def test_reset_gives_the_plots_fresh_ranges_and_the_first_point_shows(qtbot, window):
    w = window
    steps(qtbot, w, 1)
    assert w.loss_panel.loss_curve.dot.isVisible()  # a line through one point draws nothing: a dot does
    x0, x1 = x_range(w.loss_panel.plot)
    assert x0 < 1 < x1 and x1 - x0 <= 2
    steps(qtbot, w, 40)
    assert x_range(w.loss_panel.plot)[1] >= 40
    reset(qtbot, w)
    assert x_range(w.loss_panel.plot) == [0, 1] and x_range(w.gradient_panel.grad_plot) == [0, 1]
    steps(qtbot, w, 1)
    loss = float(w.history.column("loss")[0])
    for plot, (x0, x1), _ in (
        (w.loss_panel.plot, *w.loss_panel.plot.vb.viewRange()),
        (w.gradient_panel.grad_plot, *w.gradient_panel.grad_plot.vb.viewRange()),
    ):
        assert x0 < 1 < x1 and x1 - x0 <= 2, (plot, x0, x1)  # not the old run's width around the point
    y0, y1 = w.loss_panel.plot.vb.viewRange()[1]
    assert y0 < loss < y1
    assert w.loss_panel.loss_curve.dot.isVisible()
    steps(qtbot, w, 1)
    assert not w.loss_panel.loss_curve.dot.isVisible()


# 4 ------------------------------------------------------------------ the story follows the state
def test_the_story_after_reset_running_and_paused(qtbot, window):
    w = window
    steps(qtbot, w, 2)
    qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.session.running, timeout=LONG)
    w.refresh()
    assert w.phase_strip.story.text().startswith("Training:")
    reset(qtbot, w)  # R while running
    qtbot.waitUntil(lambda: not w.session.running, timeout=LONG)
    w.refresh()
    assert w.phase_strip.story.text().startswith("Paused at iteration 0: the untrained network")
    qtbot.keyClick(w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: w.session.phase_done is Phase.ZERO_GRAD, timeout=LONG)
    reset(qtbot, w)  # R while paused mid-iteration
    assert w.phase_strip.story.text().startswith("Paused at iteration 0: the untrained network")
    assert "weights moved" not in w.phase_strip.story.text()


def test_opening_a_checkpoint_names_its_iteration(qtbot, window, tmp_path):
    w = window
    steps(qtbot, w, 3)
    path = tmp_path / "three.pt"
    qtbot.waitUntil(w.save_checkpoint_to(path).done, timeout=LONG)
    reset(qtbot, w)
    qtbot.waitUntil(w.open_checkpoint_from(path).done, timeout=LONG)
    qtbot.waitUntil(lambda: w.session.iteration == 3, timeout=LONG)
    w.refresh()
    assert w.phase_strip.story.text().startswith(f"Paused at iteration 3, as saved in {path}")


# 5 ------------------------------------------------------------------ Space after Apply
def test_space_after_apply_runs_instead_of_typing(qtbot, window):
    w = window
    w.activateWindow()
    dock = w.docks["hyperparameters"]
    dock.raise_()
    w.form.lr.setFocus()
    w.form.lr.setText("0.02")
    qtbot.keyClick(w.form.lr, Qt.Key.Key_Return)  # Enter applies
    focused = QApplication.focusWidget()
    assert focused is not w.form.lr
    QTest.keyClick(focused or w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.session.running, timeout=LONG)
    assert w.form.lr.text() == "0.02"
    w.worker.pause()


# 6 ------------------------------------------------------------------ values cut
def test_large_bias_values_fit_their_cells(qtbot, window):
    from lenet_viz.app.panels.filters import format_number

    assert format_number(1105.8) == "1106" and format_number(-12.3456) == "-12.35" and format_number(123456.0) == "1.2e5"
    w = window
    at_1280x800(w)
    table = w.filter_panel.bias_table
    table.item(0, 0).setText(format_number(-1105.8))
    for c in range(FILTERS.n):
        text = table.item(0, c).text()
        assert table.fontMetrics().horizontalAdvance(text) <= table.columnWidth(c), text


def test_at_1280x800_every_norm_is_whole_and_the_total_row_visible(qtbot, window):
    w = window
    at_1280x800(w)
    steps(qtbot, w, 1)
    qtbot.waitUntil(lambda: w.parameter_panel.table.item(0, 4).text() != "None", timeout=LONG)
    table = w.parameter_panel.table
    metrics = table.fontMetrics()
    for r in range(table.rowCount()):
        for c in (3, 4):
            text = table.item(r, c).text()
            assert metrics.horizontalAdvance(text) + 6 <= table.columnWidth(c), (r, c, text)
    last = table.rowCount() - 1
    assert table.item(last, 0).text() == "total"
    assert table.rowViewportPosition(last) + table.rowHeight(last) <= table.viewport().height()


# 7 ------------------------------------------------------------------ the hover readout
def test_the_hover_readout_follows_the_picture(qtbot, window):
    w = window
    inspector = w.filter_panel
    x, y, _, _ = FILTERS.rect(3)
    inspector.graphics.scene().sigMouseMoved.emit(inspector.mosaic.view.mapViewToScene(QPointF(x + 0.5, y + 0.5)))
    before = inspector.value_label.text()
    steps(qtbot, w, 2)
    weight = ask(qtbot, w.worker, lambda t: float(t.model.conv1.weight.detach()[3, 0, 0, 0]))
    assert inspector.value_label.text() == f"filter 3, row 0, col 0: weight = {weight:.6g}" != before
    reset(qtbot, w)
    weight = ask(qtbot, w.worker, lambda t: float(t.model.conv1.weight.detach()[3, 0, 0, 0]))
    assert inspector.value_label.text() == f"filter 3, row 0, col 0: weight = {weight:.6g}"


# 8 ------------------------------------------------------------------ a remembered speed limit
def test_a_remembered_speed_limit_is_shown(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("speedLimit", 3.0)
    settings.sync()
    w = open_window(qtbot, tmp_path)
    w.refresh()
    assert "(limit 3)" in w.status.text()
    w.form.speed.setValue(0)
    w.form.apply()
    w.refresh()
    assert "limit" not in w.status.text()
    w.close()


# 9 ------------------------------------------------------------------ the layout holds still
def test_run_and_pause_do_not_move_the_panels(qtbot, window):
    w = window
    w.refresh()
    y = w.feature_panel.mapTo(w, w.feature_panel.rect().topLeft()).y()
    qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.session.running, timeout=LONG)
    w.refresh()
    QApplication.processEvents()
    assert w.feature_panel.mapTo(w, w.feature_panel.rect().topLeft()).y() == y
    qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not w.session.running, timeout=LONG)
    w.refresh()
    QApplication.processEvents()
    assert w.feature_panel.mapTo(w, w.feature_panel.rect().topLeft()).y() == y


# 10 ----------------------------------------------------------------- real loss values on the axis
def test_the_loss_axis_shows_real_values(qtbot, window):
    from test_panel_loss import stats

    from lenet_viz.training.history import MetricHistory

    h = MetricHistory()
    for i in range(1, 30):
        h.append(stats(i, 0.001 * (1 + i / 30)))
    w = window
    w.loss_panel.show(h)
    axis = w.loss_panel.plot.getAxis("left")
    w.loss_panel.plot.vb.autoRange()
    assert axis.autoSIPrefixScale == 1.0 and "×" not in axis.labelString() and "x0" not in axis.labelString()
    texts = tick_texts(axis)
    assert any(t.startswith("0.00") for t in texts), texts


def tick_texts(axis) -> list[str]:
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _, _, text in specs[2]]


# 11 ----------------------------------------------------------------- MSE: outputs beside the target
def test_mse_mode_shows_the_ten_outputs_and_the_target(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits", loss=LossKind.MSE)
    steps(qtbot, w, 1)
    snap = w.snapshot
    panel = w.feature_panel
    heights = panel.bars["probabilities"].opts["height"]
    np.testing.assert_allclose(heights, snap.activations["output"], rtol=1e-6)
    target = np.zeros(10)
    target[snap.probe_label] = 1
    np.testing.assert_array_equal(panel.target_bars.opts["height"], target)
    assert panel.target_bars.isVisible()
    text = panel.probe_label.text()
    assert "%" not in text and f"largest output {snap.prediction}" in text and "target" in text
    w.close()


# 12 ----------------------------------------------------------------- labels that overlap or cover
def test_log_axis_labels_never_overlap(qtbot, window):
    w = window
    at_1280x800(w)
    steps(qtbot, w, 30)
    for plot in (w.gradient_panel.grad_plot, w.gradient_panel.ratio_plot):
        image = QImage(10, 10, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        specs = plot.getAxis("left").generateDrawSpecs(painter)[2]
        rects = [rect for rect, _, text in specs if text]
        painter.end()
        rects.sort(key=lambda r: r.top())
        assert rects
        for a, b in zip(rects, rects[1:], strict=False):
            assert a.bottom() <= b.top() + 1, (a, b)


def test_the_healthy_tag_is_in_the_legend_not_over_the_curves(window):
    panel = window.gradient_panel
    assert getattr(panel.healthy_line, "label", None) is None
    assert panel.legend.getLabel(panel.healthy_sample).text == "0.001 healthy"
    panel.healthy_sample.hide()  # a click on its legend entry
    assert not panel.healthy_line.isVisible()


def test_filter_numbers_cover_no_weight(qtbot, window):
    inspector = window.filter_panel
    window.docks["filters"].raise_()
    QApplication.processEvents()
    cells = [inspector.mosaic.view.mapViewToScene(
        __import__("PySide6.QtCore", fromlist=["QRectF"]).QRectF(*FILTERS.rect(k))).boundingRect() for k in range(FILTERS.n)]
    for k, tag in enumerate(inspector.tags):
        assert tag.textItem.toPlainText() == f"filter {k}"
        box = tag.sceneBoundingRect()
        assert not any(box.intersects(c.adjusted(0.5, 0.5, -0.5, -0.5)) for c in cells), k
        assert inspector.mosaic.view.sceneBoundingRect().contains(box), k  # and not clipped


# 13 ----------------------------------------------------------------- no traceback; Adam's momentum
def test_opening_a_non_checkpoint_logs_no_traceback(qtbot, window, tmp_path, caplog):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a checkpoint")
    with caplog.at_level(logging.DEBUG):
        future = window.open_checkpoint_from(bad)
        qtbot.waitUntil(future.done, timeout=LONG)
        window.refresh()
    assert f"cannot open checkpoint {bad}" in window.banner.text.text()
    assert not [r for r in caplog.records if r.exc_info]


def test_adam_says_it_ignores_momentum(window):
    form = window.form
    form.optimizer.setCurrentIndex(form.optimizer.findData(OptimizerKind.ADAM))
    assert form.momentum_note.isVisibleTo(form)
    assert "Adam ignores momentum" in form.momentum_note.text()
    form.optimizer.setCurrentIndex(form.optimizer.findData(OptimizerKind.SGD))
    assert not form.momentum_note.isVisibleTo(form)


# 14 ----------------------------------------------------------------- the autograd graph after zero_grad
def test_after_zero_grad_the_autograd_view_says_the_graph_is_the_last_ones(qtbot, window):
    w = window
    w.docks["autograd"].show()  # behind View at launch: while hidden, the engine leaves the tree out
    w.docks["autograd"].raise_()
    qtbot.waitUntil(lambda: w.step_tools.shown["tree"], timeout=LONG)
    steps(qtbot, w, 1)
    assert "still" not in w.autograd_panel.caption.text()
    qtbot.keyClick(w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: w.snapshot.last_phase is Phase.ZERO_GRAD, timeout=LONG)
    w.refresh()
    assert "still iteration 1's graph" in w.autograd_panel.caption.text()
    qtbot.keyClick(w, Qt.Key.Key_P)
    qtbot.keyClick(w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: w.snapshot.last_phase is Phase.LOSS, timeout=LONG)
    w.refresh()
    assert "still" not in w.autograd_panel.caption.text()


# after LOSS, and markers ------------------------------------------------------------------------
def test_after_the_loss_phase_the_story_shows_the_batch_loss(qtbot, window):
    w = window
    for _ in range(3):
        qtbot.keyClick(w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: w.snapshot.last_phase is Phase.LOSS, timeout=LONG)
    w.refresh()
    loss = ask(qtbot, w.worker, lambda t: float(t.snapshot().loss))
    assert f"this batch: loss = {loss:.4g}" in w.phase_strip.story.text()


def test_markers_where_settings_changed_reset_and_divergence(qtbot, window):
    w = window
    steps(qtbot, w, 2)
    w.form.lr.setText("5")
    w.form.apply()
    steps(qtbot, w, 1)
    lines = [line for line in w.loss_panel.plot.items if getattr(line, "what", None) and line.isVisible()]
    assert [(line.value(), line.toolTip()) for line in lines][-1] == (2, "iteration 2: settings changed: lr 0.01 → 5")
    grad_lines = [line for line in w.gradient_panel.grad_plot.items if getattr(line, "what", None) and line.isVisible()]
    assert [line.value() for line in grad_lines] == [line.value() for line in lines]
    reset(qtbot, w)
    lines = [line for line in w.loss_panel.plot.items if getattr(line, "what", None) and line.isVisible()]
    assert [(line.value(), line.what) for line in lines] == [(0, "reset: weights re-initialized from the seed")]


def test_a_divergence_is_marked_where_it_happened():
    from lenet_viz.app.session import Session
    from lenet_viz.training.messages import Diverged

    s = Session()
    changed = s.apply([Diverged(0, 9, float("nan"))], 0.0)
    assert "markers" in changed and s.markers == [(9, "diverged: the loss became nan; the update was skipped")]


# The "Your digit" dock, found cut off in screenshots of the real window ------------------------
@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_your_digit_fits_its_dock_canvas_preview_and_caption(qtbot, window, size):
    """In its first-launch dock the whole panel shows without scrolling: the canvas, Clear / Undo, the
    32x32 preview (its view as wide as the widget, not cut off on the right) and the caption."""
    w = window
    w.resize(*size)
    w.default_layout()
    w.docks["drawing"].raise_()
    QApplication.processEvents()
    w.grab()
    panel = w.probe_tools.drawing
    area = w.docks["drawing"].widget()
    assert panel.height() <= area.viewport().height() and panel.width() <= area.viewport().width()
    assert not area.verticalScrollBar().isVisible() and not area.horizontalScrollBar().isVisible()
    preview = panel.preview_widget
    assert preview.ci.boundingRect().width() <= preview.viewport().width() + 1  # the view's layout fits its widget
    for part in (panel.canvas, panel.undo_button, panel.preview_title, panel.caption):
        bottom = part.mapTo(panel, part.rect().bottomLeft()).y()
        assert part.isVisible() and bottom <= area.viewport().height(), part


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_formula_fits_its_dock_width_and_its_lines_never_cover_the_maps(qtbot, window, size):
    """Found in screenshots: four map titles in one row made the formula 700 px wide (one and a half maps
    showed in its ~400 px dock, no equation), then the wrapped equation was laid over the maps.  Now two
    by two, each title within its map's column, and the dock scrolls down to the equation's last line."""
    w = window
    w.resize(*size)
    w.default_layout()
    w.actions_by_name["step"].trigger()
    qtbot.waitUntil(lambda: w.session.iteration == 1, timeout=LONG)
    w.docks["formula"].raise_()
    formula = w.step_tools.formula
    formula.spins[1].setValue(2)  # ask for cell (0, 2, 0), as a click on the filter inspector does
    qtbot.waitUntil(lambda: "∂L/∂w[0,0,2,0]" in formula.equation.text(), timeout=LONG)
    QApplication.processEvents()
    w.grab()
    area = w.docks["formula"].widget()
    assert not area.horizontalScrollBar().isVisible() and formula.width() <= area.viewport().width()
    graphics = formula.graphics
    assert graphics.ci.boundingRect().width() <= graphics.viewport().width() + 1  # the maps' layout fits the view
    for m in (formula.input_map, formula.upstream_map, formula.product_map, formula.batch_map):
        assert m.title.item.boundingRect().width() <= m.title.boundingRect().width() + 1, m.title.text
    # Below the maps, not over them, every line shown, once the layout has settled (the formula opened at
    # cell (0, 0, 0) first, then changed: the dock and the panel re-lay out over a few event-loop turns).
    qtbot.waitUntil(lambda: formula.equation.geometry().top() >= graphics.geometry().bottom()
                    and formula.equation.height() >= formula.equation.heightForWidth(formula.equation.width()), timeout=LONG)
