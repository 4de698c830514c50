"""DrawingPanel driven by real mouse events: ink, the preprocessed probe it sends, Clear / Undo, the preview."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from lenet_viz.app.panels.common import NO_LABEL
from lenet_viz.app.panels.drawing import INK_SIDE, DrawingPanel
from lenet_viz.data import load_dataset, preprocess_drawing
from lenet_viz.training import TrainConfig, Trainer

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


@pytest.fixture
def panel(qtbot):
    p = DrawingPanel()
    qtbot.addWidget(p)
    p.resize(640, 380)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    t = Trainer(TrainConfig(dataset="digits", eval_every=0), dataset=load_dataset("digits"))
    for _ in range(3):
        t.step()
    return t


def widget_point(panel: DrawingPanel, x: float, y: float) -> QPoint:
    """The canvas's on-screen point for ink pixel (x, y)."""
    c = panel.canvas
    side = min(c.width(), c.height())
    left, top = (c.width() - side) / 2, (c.height() - side) / 2
    return QPoint(round(left + x * side / INK_SIDE), round(top + y * side / INK_SIDE))


def press(panel: DrawingPanel, x: float, y: float) -> None:
    QTest.mousePress(panel.canvas, LEFT, NONE, widget_point(panel, x, y))


def move(panel: DrawingPanel, x: float, y: float) -> None:
    QTest.mouseMove(panel.canvas, widget_point(panel, x, y))


def release(panel: DrawingPanel, x: float, y: float) -> None:
    QTest.mouseRelease(panel.canvas, LEFT, NONE, widget_point(panel, x, y))


def stroke(panel: DrawingPanel, points: list[tuple[float, float]]) -> None:
    """Press at the first point, move through the others in small steps, release at the last."""
    press(panel, *points[0])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for k in range(1, 11):
            move(panel, x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
    release(panel, *points[-1])


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def test_a_stroke_drawn_with_the_mouse_becomes_ink_and_an_mnist_style_probe(panel, qtbot) -> None:
    with qtbot.waitSignal(panel.drawing_changed) as sent:
        stroke(panel, [(200, 40), (200, 240)])  # a "1", off to the right
    ink = panel.canvas.ink()
    top, bottom, left, right = ink_box(ink > 0.5)
    assert 185 <= left and right <= 215 and top <= 40 < 240 <= bottom  # the pen's width around the path
    assert not ink[:, :150].any()  # nothing where the pen never went
    image = sent.args[0]
    assert image.shape == (1, 32, 32) and image.dtype == np.float32
    np.testing.assert_array_equal(image, preprocess_drawing(ink))
    top, bottom, left, right = ink_box(image[0])
    assert bottom - top + 1 == 20 and right - left + 1 < 6  # a tall thin digit, 20 px high
    assert 13 <= left and right <= 18  # moved to the centre of the field, however far right it was drawn


def test_the_probe_follows_the_pen_while_it_is_still_down(panel, qtbot) -> None:
    press(panel, 100, 60)
    move(panel, 120, 120)
    with qtbot.waitSignal(panel.drawing_changed) as sent:  # the throttle timer, without a release
        move(panel, 140, 180)
    assert sent.args[0] is not None and sent.args[0].any()
    release(panel, 140, 180)


def test_right_button_does_not_draw(panel) -> None:
    QTest.mousePress(panel.canvas, Qt.MouseButton.RightButton, NONE, widget_point(panel, 100, 100))
    QTest.mouseRelease(panel.canvas, Qt.MouseButton.RightButton, NONE, widget_point(panel, 100, 100))
    assert not panel.canvas.ink().any() and panel.canvas.is_empty


def test_undo_takes_back_a_stroke_and_clear_can_be_undone(panel, qtbot) -> None:
    assert not panel.clear_button.isEnabled() and not panel.undo_button.isEnabled()
    stroke(panel, [(60, 60), (220, 60)])
    one = panel.canvas.ink().copy()
    stroke(panel, [(140, 60), (140, 240)])
    two = panel.canvas.ink().copy()
    assert (two >= one).all() and two.sum() > one.sum()
    with qtbot.waitSignal(panel.drawing_changed) as sent:
        panel.undo_button.click()
    np.testing.assert_array_equal(panel.canvas.ink(), one)
    np.testing.assert_array_equal(sent.args[0], preprocess_drawing(one))
    with qtbot.waitSignal(panel.drawing_changed) as sent:
        panel.clear_button.click()
    assert sent.args[0] is None and not panel.canvas.ink().any()  # an empty canvas: no probe to send
    assert not panel.clear_button.isEnabled() and panel.undo_button.isEnabled()
    panel.undo_button.click()
    np.testing.assert_array_equal(panel.canvas.ink(), one)


def test_a_finished_stroke_lands_on_the_strokes_before_it_as_undo_would_redraw_them(panel) -> None:
    """A release paints only the new stroke over the earlier ones: the pixels must be those of drawing every
    item from scratch (what Undo and Clear do), over a picture too, and the stroke in progress never
    reaches the finished image until it ends."""
    ink = np.zeros((40, 40), dtype=np.float32)
    ink[5:35, 18:22] = 0.6
    panel.load_ink(ink)
    stroke(panel, [(40, 40), (240, 60), (200, 230)])
    press(panel, 30, 250)
    move(panel, 60, 250)  # a stroke in progress: shown, not committed
    assert panel.canvas.ink()[250, 45] > 0
    release(panel, 90, 250)
    stroke(panel, [(140, 20), (150, 260)])
    incremental = panel.canvas.ink().copy()
    panel.canvas._render()  # every item again, from an empty canvas
    np.testing.assert_array_equal(panel.canvas.ink(), incremental)
    panel.undo_button.click()
    panel.undo_button.click()
    stroke(panel, [(100, 100), (120, 120)])  # after Undo, a stroke lands on what Undo left
    incremental = panel.canvas.ink().copy()
    panel.canvas._render()
    np.testing.assert_array_equal(panel.canvas.ink(), incremental)


def test_an_opened_image_goes_on_the_canvas(panel, qtbot) -> None:
    ink = np.zeros((50, 30), dtype=np.float32)
    ink[5:45, 12:18] = 1.0
    with qtbot.waitSignal(panel.drawing_changed) as sent:
        panel.load_ink(ink)
    top, bottom, left, right = ink_box(panel.canvas.ink() > 0.5)
    assert bottom - top > 200 and right - left < 50  # fitted to 90 % of the canvas, aspect kept
    assert ink_box(sent.args[0][0])[1] - ink_box(sent.args[0][0])[0] + 1 == 20
    panel.undo_button.click()
    assert not panel.canvas.ink().any()


def test_preview_is_the_engines_image_and_says_there_is_no_label(panel, qtbot, trainer) -> None:
    with qtbot.waitSignal(panel.drawing_changed) as sent:
        stroke(panel, [(80, 60), (200, 60), (120, 240)])  # a 7
    trainer.set_probe(sent.args[0])
    snap = trainer.snapshot()
    panel.show(snap)
    np.testing.assert_array_equal(panel.preview.image, snap.probe_image)  # as fed: standardized
    assert panel.caption.text().endswith(NO_LABEL)
    assert panel.caption.text().startswith(f"predicted {snap.prediction} (")
    trainer.set_probe(7)
    held_out = trainer.snapshot()
    panel.show(held_out)
    assert panel.caption.text().startswith("held-out #7 is the probe")
    assert f"label {held_out.probe_label}" in panel.caption.text()


def test_gui_panels_load_no_torch() -> None:
    """The GUI process never imports torch: the three panels of issue 14 included."""
    code = (
        "import sys, lenet_viz.app.panels.drawing, lenet_viz.app.panels.saliency, lenet_viz.app.panels.confusion;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[]"
