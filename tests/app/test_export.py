"""File ▸ Export (every panel as PNG and SVG, the window as PNG, every iteration's metrics as CSV)
and View ▸ Reset layout, through the real window; the files are read back."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app_driver import LONG, ask, open_window
from lenet_viz.headless import csv_header


@pytest.fixture
def window(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path)
    for _ in range(3):
        qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == 3, timeout=LONG)
    w.refresh()
    yield w
    w.close()


def test_every_panel_exports_as_png_and_svg(window, tmp_path):
    w = window
    assert set(w.exports.panels) == {"Feature maps", "Loss & accuracy", "Gradients", "conv1 filters", "Parameters",
                                     "Autograd chain", "Settings", "Your digit", "Saliency", "Confusion", "Code",
                                     "Graph", "Formula", "Manual vs optim", "Bug lab", "Health", "Distributions",
                                     "Timeline", "Runs"}
    for title, widget in w.exports.panels.items():
        png = w.exports.export_panel(widget, tmp_path / f"{title}.png")
        image = QImage(str(png))
        assert not image.isNull() and image.width() >= widget.width() - 1, title
        svg = w.exports.export_panel(widget, tmp_path / f"{title}.svg")
        root = ET.parse(svg).getroot()
        assert root.tag.endswith("svg"), title
    loss_svg = (tmp_path / "Loss & accuracy.svg").read_text()
    assert "iteration" in loss_svg and "<path" in loss_svg  # vector text and curves from pyqtgraph's exporter
    assert list(tmp_path.glob(".*.tmp*")) == []  # no temporary left behind


def test_the_window_exports_as_png(window, tmp_path):
    path = window.exports.export_window(tmp_path / "all.png")
    image = QImage(str(path))
    assert (image.width(), image.height()) == (window.width(), window.height())


def test_an_export_that_cannot_be_written_goes_to_the_banner(window, tmp_path):
    w = window
    assert w.exports.export_panel(w.loss_panel, tmp_path / "missing" / "loss.png") is None
    assert w.banner.isVisibleTo(w) and f"cannot export {tmp_path / 'missing' / 'loss.png'}" in w.banner.text.text()
    assert not (tmp_path / "missing").exists()


def test_metrics_csv_has_every_iteration_even_when_the_history_is_decimated(qtbot, window, tmp_path):
    from lenet_viz.training import MetricHistory

    w = window
    ask(qtbot, w.worker, lambda t: setattr(t, "history", MetricHistory(capacity=8)))
    for _ in range(17):
        qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == 20, timeout=LONG)
    kept = ask(qtbot, w.worker, lambda t: len(t.history))
    assert kept < 20  # the engine's own history averaged pairs
    losses = ask(qtbot, w.worker, lambda t: t.last_stats.loss)
    path = tmp_path / "metrics.csv"
    w.exports.export_metrics(path)
    qtbot.waitUntil(lambda: path.exists() and w.notice.text().startswith("Exported"), timeout=LONG)
    rows = list(csv.reader(path.open()))
    assert rows[0][:7] == ["iteration", "epoch", "loss", "accuracy", "eval_accuracy", "lr", "samples_seen"]
    assert len(rows[0]) == len(csv_header(ask(qtbot, w.worker, lambda t: t.last_stats)))
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 21))
    assert float(rows[-1][2]) == pytest.approx(losses)
    assert w.notice.text() == f"Exported 20 iterations (iterations 1–20) to {path}"


def test_metrics_export_to_a_missing_folder_says_so(qtbot, window, tmp_path):
    w = window
    target = tmp_path / "nope" / "m.csv"
    w.exports.export_metrics(target)
    qtbot.waitUntil(lambda: "cannot export metrics" in w.banner.text.text(), timeout=LONG)
    assert str(target) in w.banner.text.text() and not target.parent.exists()


def test_a_reset_starts_a_new_metrics_file(qtbot, window, tmp_path):
    w = window
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: w.session.iteration == 0 and len(w.history) == 0, timeout=LONG)
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == 1, timeout=LONG)
    path = tmp_path / "after-reset.csv"
    w.exports.export_metrics(path)
    qtbot.waitUntil(path.exists, timeout=LONG)
    assert [r[0] for r in csv.reader(path.open())][1:] == ["1"]


def test_reset_layout_brings_every_dock_back(qtbot, window):
    w = window
    w.docks["loss"].hide()
    w.docks["filters"].setFloating(True)
    w.removeDockWidget(w.docks["gradients"])
    w.reset_layout()
    for name, dock in w.docks.items():
        if name == "autograd":  # the tree of next_functions stays behind View, as on a first launch (the graph shows it all)
            assert dock.isHidden()
            continue
        assert dock.isVisibleTo(w) or not dock.isHidden(), name
        assert not dock.isFloating(), name
    assert w.dockWidgetArea(w.docks["loss"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert w.dockWidgetArea(w.docks["gradients"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert w.dockWidgetArea(w.docks["filters"]) == Qt.DockWidgetArea.RightDockWidgetArea
