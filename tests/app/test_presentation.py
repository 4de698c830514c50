"""Presentation: zoom (Ctrl+= / Ctrl+- / Ctrl+0), full screen (F11), the light theme, the big readout."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from app_driver import LONG, open_window
from lenet_viz.app.presentation import LIGHT_PLOT_BACKGROUND


@pytest.fixture
def window(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path)
    yield w
    w.close()


def sizes(w) -> dict[str, float]:
    """Point sizes of what a class reads: a widget label, axis numbers, an axis label, a plot title, a map title."""
    axis = w.gradient_panel.grad_plot.getAxis("left")
    return {
        "status": w.status.font().pointSizeF(),
        "ticks": axis.style["tickFont"].pointSizeF(),
        "axis label": float(axis.labelStyle.get("font-size", f"{axis.label.font().pointSizeF()}pt").rstrip("pt")),
        "title": float(w.gradient_panel.grad_plot.titleLabel.opts["size"].rstrip("pt")),
        "map title": float(w.feature_panel.views["conv1"].title.opts["size"].rstrip("pt")),
    }


def test_zoom_in_out_and_back_scales_every_font_exactly(qtbot, window):
    w = window
    before = sizes(w)
    qtbot.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert w.presentation.zoom == 1.3
    bigger = sizes(w)
    for name, size in before.items():
        assert bigger[name] == pytest.approx(size * 1.3, rel=0.02), name
    qtbot.keyClick(w, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert w.presentation.zoom == 1.15 and sizes(w)["ticks"] == pytest.approx(before["ticks"] * 1.15, rel=0.02)
    qtbot.keyClick(w, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert sizes(w) == pytest.approx(before)
    assert w.settings.value("zoom") in (1.0, "1.0", "1")


def test_the_light_theme_turns_widgets_and_plots_light_and_is_remembered(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    original = QApplication.palette().color(QPalette.ColorRole.Base).name()  # tests run on Qt's own palette
    w = open_window(qtbot, tmp_path)
    w.presentation.actions["light"].trigger()
    assert w.presentation.theme == "light"
    assert w.palette().color(QPalette.ColorRole.Window).lightness() > 200
    for view in (w.loss_panel.view, w.gradient_panel.view, w.feature_panel.graphics, w.filter_panel.graphics):
        assert view.backgroundBrush().color().name() == LIGHT_PLOT_BACKGROUND
    assert w.loss_panel.plot.getAxis("left").textPen().color().lightness() < 100  # dark numbers on white
    w.close()
    assert QApplication.palette().color(QPalette.ColorRole.Base).name() == original  # given back on close
    again = open_window(qtbot, tmp_path)
    assert again.presentation.theme == "light" and again.presentation.actions["light"].isChecked()
    assert again.loss_panel.view.backgroundBrush().color().name() == LIGHT_PLOT_BACKGROUND
    again.presentation.actions["light"].trigger()  # back to the app's own look
    assert again.palette().color(QPalette.ColorRole.Base).name() == original
    assert again.loss_panel.view.backgroundBrush().color().name() != LIGHT_PLOT_BACKGROUND
    again.close()


def test_f11_toggles_full_screen(qtbot, window):
    w = window
    qtbot.keyClick(w, Qt.Key.Key_F11)
    assert w.windowState() & Qt.WindowState.WindowFullScreen and w.presentation.actions["full_screen"].isChecked()
    qtbot.keyClick(w, Qt.Key.Key_F11)
    assert not w.windowState() & Qt.WindowState.WindowFullScreen


def test_the_big_readout_shows_iteration_loss_accuracy_and_lr(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, eval_every=2)
    for _ in range(2):
        qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == 2 and len(w.history.evals) == 1, timeout=LONG)
    w.refresh()
    values = w.presentation.readout.values
    loss = float(w.history.column("loss")[-1])
    assert "<b>2</b>" in values["iteration"].text()
    assert f"<b>{loss:.4g}</b>" in values["loss"].text()
    assert f"<b>{100 * w.history.evals[-1][1]:.1f} %</b>" in values["held-out"].text()
    assert "<b>0.01</b>" in values["lr"].text()
    assert w.presentation.readout.isVisibleTo(w)
    w.close()
