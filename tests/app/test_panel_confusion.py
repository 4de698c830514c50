"""ConfusionPanel and SaliencyPanel on real engine output: counts, pairs, clicks, gallery, the saliency map."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from lenet_viz.app.panels.common import NO_LABEL
from lenet_viz.app.panels.confusion import COUNTING, EMPTY, EMPTY_RGB, RECOUNTING, ConfusionPanel
from lenet_viz.app.panels.saliency import PREDICTED, SaliencyPanel
from lenet_viz.data import load_dataset, preprocess_drawing
from lenet_viz.training import TrainConfig, Trainer
from lenet_viz.training.confusion import most_confused


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    t = Trainer(TrainConfig(dataset="digits", eval_every=0, lr=0.05, seed=3), dataset=load_dataset("digits"))
    for _ in range(15):
        t.step()
    return t


@pytest.fixture(scope="module")
def matrix(trainer) -> np.ndarray:
    return trainer.confusion_matrix()


@pytest.fixture
def confusion(qtbot, matrix, trainer) -> ConfusionPanel:
    p = ConfusionPanel()
    qtbot.addWidget(p)
    p.resize(900, 560)
    p.show()
    qtbot.waitExposed(p)
    p.show(matrix, trainer.iteration)
    return p


def cell_point(panel: ConfusionPanel, true: int, predicted: int) -> QPoint:
    """Where cell (true, predicted) is on the matrix's viewport, in its pixels."""
    scene = panel.plot.vb.mapViewToScene(QPointF(predicted + 0.5, true + 0.5))
    return panel.graphics.mapFromScene(scene)


def test_counts_status_and_pairs_are_the_matrix(confusion, matrix) -> None:
    shown = [[confusion.count_items[t][p].text() for p in range(10)] for t in range(10)]
    assert shown == [[str(n) if n else "" for n in row] for row in matrix.tolist()]
    right = int(np.trace(matrix))
    assert confusion.status.text() == f"after iteration 15 · {right} of 360 held-out images right ({100 * right / 360:.1f}%)"
    pairs = [confusion.pairs.item(k).text() for k in range(confusion.pairs.count())]
    want = most_confused(matrix, 5)
    assert pairs == [f"{t} → {p}   {n} image{'s' if n != 1 else ''}" for t, p, n in want]


def test_clicking_a_cell_asks_for_its_examples(confusion, qtbot, matrix) -> None:
    t, p, _ = most_confused(matrix, 1)[0]
    with qtbot.waitSignal(confusion.cell_requested) as asked:
        QTest.mouseClick(confusion.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         cell_point(confusion, t, p))
    assert asked.args == [t, p]
    assert confusion.selection.isVisible() and confusion.selection.rect().topLeft() == QPointF(p, t)
    with qtbot.waitSignal(confusion.cell_requested) as asked:
        QTest.mouseClick(confusion.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         cell_point(confusion, 2, 2))
    assert asked.args == [2, 2]  # the diagonal too: the ones it gets right


def test_clicking_a_pair_asks_for_its_examples(confusion, qtbot, matrix) -> None:
    t, p, _ = most_confused(matrix, 2)[1]
    item = confusion.pairs.item(1)
    with qtbot.waitSignal(confusion.cell_requested) as asked:
        QTest.mouseClick(confusion.pairs.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         confusion.pairs.visualItemRect(item).center())
    assert asked.args == [t, p]


def test_gallery_tiles_name_label_prediction_confidence_and_a_click_probes(confusion, qtbot, trainer, matrix) -> None:
    t, p, n = most_confused(matrix, 1)[0]
    g = trainer.gallery(t, p)
    confusion.show_gallery(g)
    visible = [tile for tile in confusion.tiles if tile.isVisible()]
    assert len(visible) == min(n, len(confusion.tiles)) == len(g.indices)
    for tile, index, conf in zip(visible, g.indices, g.confidences):
        assert tile.text() == f"{t} → {p} · {100 * conf:.0f}%\n#{index}"
    assert confusion.gallery_title.text().startswith(f"<b>true {t} → predicted {p}</b>: {n} wrong")
    with qtbot.waitSignal(confusion.probe_requested) as asked:
        QTest.mouseClick(visible[-1], Qt.MouseButton.LeftButton)
    assert asked.args == [int(g.indices[-1])]


def test_refresh_button_asks_for_a_new_matrix(confusion, qtbot) -> None:
    with qtbot.waitSignal(confusion.refresh_requested):
        QTest.mouseClick(confusion.refresh_button, Qt.MouseButton.LeftButton)


def test_a_recount_is_said_and_a_cleared_panel_keeps_no_trace_of_the_old_matrix(confusion, trainer, matrix) -> None:
    before = confusion.status.text()
    confusion.counting()
    confusion.counting()  # said once
    assert confusion.status.text() == before + RECOUNTING
    assert confusion.count_items[0][0].text() == str(matrix[0, 0])  # the last matrix stays while it is recounted
    t, p, _ = most_confused(matrix, 1)[0]
    confusion.show_gallery(trainer.gallery(t, p))
    confusion.clear(counting=True)  # a new run while the dock is watched
    assert confusion.status.text() == COUNTING
    assert all(item.text() == "" for row in confusion.count_items for item in row)
    assert confusion.pairs.count() == 0 and not any(tile.isVisible() for tile in confusion.tiles)
    assert (confusion.image.image == EMPTY_RGB.astype(np.uint8)).all() and not confusion.selection.isVisible()
    confusion.clear()
    assert confusion.status.text() == EMPTY
    confusion.counting()
    assert confusion.status.text() == COUNTING
    confusion.show(matrix, 16)
    assert confusion.status.text().startswith("after iteration 16 · ")


# ------------------------------------------------------------------ saliency
@pytest.fixture
def saliency_panel(qtbot) -> SaliencyPanel:
    p = SaliencyPanel()
    qtbot.addWidget(p)
    p.resize(560, 380)
    return p


def test_saliency_panel_shows_the_engines_map_over_the_drawn_input(saliency_panel, trainer) -> None:
    canvas = np.zeros((100, 100), dtype=np.float32)
    canvas[10:90, 45:55] = 1.0
    trainer.set_probe(preprocess_drawing(canvas))
    trainer.saliency_in_snapshot = True
    try:
        snap = trainer.snapshot()
    finally:
        trainer.saliency_in_snapshot = False
        trainer.set_probe(0)
    saliency_panel.show(snap)
    np.testing.assert_array_equal(saliency_panel.map_item.image, snap.saliency)
    rgb = saliency_panel.overlay_item.image
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    hottest = np.unravel_index(np.argmax(snap.saliency), snap.saliency.shape)
    np.testing.assert_array_equal(rgb[hottest], saliency_panel._lut[-1])  # opaque top colour at the peak
    assert saliency_panel.caption.text().endswith(NO_LABEL)
    assert saliency_panel.title.text.startswith(f"saliency of logit {snap.prediction} (predicted)")


def test_saliency_class_picker_asks_for_a_digit_or_the_prediction(saliency_panel, qtbot) -> None:
    assert saliency_panel.picker.currentText() == PREDICTED and saliency_panel.target() is None
    with qtbot.waitSignal(saliency_panel.target_changed) as asked:
        saliency_panel.picker.setCurrentIndex(4)
    assert asked.args == [3]
    with qtbot.waitSignal(saliency_panel.target_changed) as asked:
        saliency_panel.picker.setCurrentIndex(0)
    assert asked.args == [None]


def test_saliency_panel_without_a_map_says_so(saliency_panel, trainer) -> None:
    snap = trainer.snapshot()
    saliency_panel.show(snap)
    assert saliency_panel.caption.text().endswith("no saliency map in this frame")
    assert f"label {snap.probe_label}" in saliency_panel.caption.text()


@pytest.mark.parametrize("width", [320, 420, 560, 1000])  # the left column of a 1280-px screen: ~320
def test_the_panel_fits_the_width_of_its_dock(qtbot, width):
    """Found in screenshots: beside the matrix, the list and the gallery made the panel ~660 px wide; in
    its first-launch dock (~400-480 px) the last rows and the list were cut off.  Narrow, they go under
    it, the gallery with as many tiles a row as fit; wide, beside it."""
    from PySide6.QtWidgets import QBoxLayout, QScrollArea

    from lenet_viz.app.panels.confusion import GALLERY_COLUMNS

    area = QScrollArea()  # what a dock holds (add_dock's scroll=True)
    area.setWidgetResizable(True)
    panel = ConfusionPanel()
    area.setWidget(panel)
    qtbot.addWidget(area)
    area.resize(width, 500)
    area.show()
    qtbot.waitExposed(area)
    QApplication.processEvents()
    beside = panel.body.direction() == QBoxLayout.Direction.LeftToRight
    assert beside == (width >= panel.side_by_side_width)
    assert panel.width() <= area.viewport().width() and not area.horizontalScrollBar().isVisible()
    if beside:
        assert panel.columns == GALLERY_COLUMNS
    else:
        assert 1 <= panel.columns <= GALLERY_COLUMNS
        assert panel.gallery_scroll.minimumWidth() <= area.viewport().width()
    visible_rows = {panel._grid.getItemPosition(panel._grid.indexOf(tile))[0] for tile in panel.tiles[:panel.columns]}
    assert visible_rows == {0}  # the first row holds `columns` tiles
    # Every count inside its cell, the largest class's too (found at a 1280-px screen: "1111" ran into "4").
    matrix = np.full((10, 10), 7, dtype=np.int64)
    np.fill_diagonal(matrix, 1135)
    panel.show(matrix, iteration=250)
    QApplication.processEvents()
    cell = min(panel.plot.vb.width(), panel.plot.vb.height()) / 10.2
    widest = max(item.boundingRect().width() for row in panel.count_items for item in row)
    assert widest <= cell, (widest, cell)
