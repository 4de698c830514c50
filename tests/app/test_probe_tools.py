"""Your own digit in the real window: drawn with the mouse or opened from a file, it becomes the probe
while the network trains; the saliency and the confusion matrix come from the engine (issue #14)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app_driver import LONG, ask, open_window
from lenet_viz.app.panels.common import NO_LABEL
from lenet_viz.data import load_image, preprocess_drawing
from test_panel_confusion import cell_point
from test_panel_drawing import stroke

SEVEN = [(60, 60), (220, 60), (120, 240)]  # ink pixels of the canvas: a 7


def dock_panel(w, name):
    dock = w.docks[name]
    dock.show()
    dock.raise_()
    return dock.widget().widget()  # the panel inside its scroll area


def test_a_digit_drawn_with_the_mouse_is_the_probe_and_has_no_label(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    panel = dock_panel(w, "drawing")
    qtbot.waitExposed(panel)
    stroke(panel, SEVEN)
    qtbot.waitUntil(lambda: w.snapshot.probe_label is None, timeout=LONG)
    snap = w.snapshot
    assert snap.probe_source == "drawing"
    want = preprocess_drawing(panel.canvas.ink())[0]
    got = ask(qtbot, w.worker, lambda t: t._probe_image.cpu().numpy()[0])  # what the engine keeps: the raw drawing
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert NO_LABEL in panel.caption.text()
    # training goes on with the drawing as the probe, and a reset keeps it
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.snapshot.iteration == 1, timeout=LONG)
    assert w.snapshot.probe_label is None
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: w.session.run == 2 and w.snapshot.iteration == 0, timeout=LONG)
    assert w.snapshot.probe_source == "drawing" and w.snapshot.probe_label is None


def test_an_opened_image_becomes_the_probe_and_a_bad_one_changes_nothing(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    before = w.snapshot.probe_index
    assert not w.probe_tools.open_image(bad)
    w.refresh()
    assert w.banner.isVisible() and str(bad) in w.banner.text.text() and "\n" not in w.banner.text.text()
    assert w.snapshot.probe_label is not None and w.snapshot.probe_index == before  # nothing changed
    picture = np.full((120, 90), 255, np.uint8)  # a dark 1 on white paper, as a phone photo would be
    picture[15:105, 40:52] = 0
    path = tmp_path / "one.png"
    Image.fromarray(picture).save(path)
    assert w.probe_tools.open_image(path)
    qtbot.waitUntil(lambda: w.snapshot.probe_label is None, timeout=LONG)
    np.testing.assert_allclose(w.probe_tools.drawing.canvas.ink().max(), load_image(path).max())


def test_saliency_arrives_while_its_dock_is_shown(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    w.docks["parameters"].raise_()  # the saliency tab behind it: nobody looks, nothing is computed
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.snapshot.iteration == 1, timeout=LONG)
    assert not w.probe_tools.shown["saliency"] and w.snapshot.saliency is None
    panel = dock_panel(w, "saliency")
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: w.snapshot.saliency is not None, timeout=LONG)
    sal = w.snapshot.saliency
    assert sal.shape == (32, 32) and (sal >= 0).all() and sal.max() > 0
    want = ask(qtbot, w.worker, lambda t: t.saliency(None))
    np.testing.assert_allclose(sal, want, rtol=1e-6, atol=1e-9)
    assert w.snapshot.saliency_target == w.snapshot.prediction


def test_the_confusion_matrix_covers_the_held_out_set_and_a_click_probes_an_example(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    for _ in range(5):
        qtbot.keyClick(w, Qt.Key.Key_N)
    panel = dock_panel(w, "confusion")
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: w.session.confusion is not None and w.session.confusion[1] == 5, timeout=LONG)
    matrix, _ = w.session.confusion
    assert matrix.shape == (10, 10) and matrix.sum() == w.session.info.num_test == 360
    want = ask(qtbot, w.worker, lambda t: t.confusion_matrix())
    np.testing.assert_array_equal(matrix, want)
    assert f"of {360:,} held-out images right" in panel.status.text()
    true, predicted = np.unravel_index(np.argmax(matrix - np.diag(np.diag(matrix)) if (matrix - np.diag(np.diag(matrix))).any() else matrix), matrix.shape)
    QTest.mouseClick(panel.graphics.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     cell_point(panel, int(true), int(predicted)))
    qtbot.waitUntil(lambda: w.session.gallery is not None, timeout=LONG)
    g = w.session.gallery
    assert (g.true, g.predicted) == (true, predicted) and len(g.indices) == min(g.total, len(panel.tiles))
    tile = [t for t in panel.tiles if t.isVisible()][0]
    QTest.mouseClick(tile, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.snapshot.probe_index == int(g.indices[0]) and w.snapshot.probe_label is not None, timeout=LONG)
    assert w.snapshot.probe_label == true


def test_a_reset_clears_the_confusion_matrix_until_the_new_weights_are_counted(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    for _ in range(3):
        qtbot.keyClick(w, Qt.Key.Key_N)
    panel = dock_panel(w, "confusion")
    qtbot.waitUntil(lambda: w.session.confusion is not None and w.session.confusion[1] == 3, timeout=LONG)
    assert panel.status.text().startswith("after iteration 3 · ")
    cleared, clear = [], panel.clear
    panel.clear = lambda counting=False: (cleared.append(counting), clear(counting))
    qtbot.keyClick(w, Qt.Key.Key_R)  # Reset: new weights from the seed, iteration 0
    qtbot.waitUntil(lambda: w.session.confusion is not None and w.session.confusion[1] == 0, timeout=LONG)
    want = ask(qtbot, w.worker, lambda t: t.confusion_matrix())
    np.testing.assert_array_equal(w.session.confusion[0], want)
    assert cleared == [True]  # the old matrix went at once, and the panel said a count was coming
    assert panel.status.text().startswith("after iteration 0 · ")
