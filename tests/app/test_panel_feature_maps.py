"""FeatureMapPanel on real engine output: scikit-learn's digits through a briefly trained LeNet."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter

from lenet_viz.app.panels.common import NO_LABEL, UNLABELLED_COLOR
from lenet_viz.app.panels.feature_maps import LABEL_COLOR, MOSAICS, RIGHT_COLOR, ROWS, WRONG_COLOR, FeatureMapPanel
from lenet_viz.data import load_dataset
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.trainer import Trainer

GRIDS = {key: grid for key, _, grid in MOSAICS}


@pytest.fixture(scope="module")
def snapshot():
    """One snapshot for the module (Snapshot is frozen; tests vary it with dataclasses.replace)."""
    t = Trainer(TrainConfig(dataset="digits", eval_every=0), dataset=load_dataset("digits", None, seed=0))
    for _ in range(5):
        t.step()
    t.set_probe(7)
    return t.snapshot()


@pytest.fixture
def panel(qtbot):
    p = FeatureMapPanel()
    qtbot.addWidget(p)
    return p


def test_every_mosaic_cell_is_its_feature_map(panel, snapshot) -> None:
    panel.show(snapshot)
    np.testing.assert_array_equal(panel.mosaic_items["input"].image, snapshot.probe_image)
    for name in ("conv1", "pool1", "conv2", "pool2"):
        image, maps, grid = panel.mosaic_items[name].image, snapshot.activations[name], GRIDS[name]
        assert image.shape == grid.shape and image.dtype == np.float32 and image.flags.c_contiguous
        for k in range(len(maps)):
            np.testing.assert_array_equal(grid.cell(image, k), maps[k], err_msg=f"{name} cell {k}")
    assert panel.mosaic_items["conv1"].image.shape == (57, 86)  # 2x3 grid of 28x28 with 1-px separators
    assert panel.mosaic_items["conv2"].image.shape == (43, 43)  # 4x4 grid of 10x10


def test_levels_are_each_layers_own_range(panel, snapshot) -> None:
    panel.show(snapshot)
    for name in ("conv1", "pool1", "conv2", "pool2"):
        a = snapshot.activations[name]
        lo, hi = panel.mosaic_items[name].getLevels()
        assert (lo, hi) == pytest.approx((a.min(), a.max()))


def test_the_maps_and_bars_are_drawn_pixel_sharp(panel, snapshot) -> None:
    panel.show(snapshot)
    assert not panel.graphics.renderHints() & QPainter.RenderHint.Antialiasing  # a cheaper repaint, every frame
    assert panel.graphics.renderHints() & QPainter.RenderHint.TextAntialiasing  # the numbers stay smooth


def test_bars_show_fc1_fc2_and_probabilities(panel, snapshot) -> None:
    panel.show(snapshot)
    for name in ("fc1", "fc2", "probabilities"):
        np.testing.assert_allclose(panel.bars[name].opts["height"], snapshot.activations[name])
    assert len(panel.bars["fc1"].opts["height"]) == 120 and len(panel.bars["fc2"].opts["height"]) == 84


def test_probe_label_names_label_and_prediction_in_green_when_right(panel, snapshot) -> None:
    right = dataclasses.replace(snapshot, prediction=snapshot.probe_label)
    panel.show(right)
    p = right.activations["probabilities"][right.prediction]
    text = panel.probe_label.text()
    assert text == f"probe #7 · label {right.probe_label} · predicted {right.prediction} ({100 * p:.1f}%)"
    assert RIGHT_COLOR in panel.probe_label.styleSheet()
    assert panel.bars["probabilities"].opts["brushes"][right.prediction] == RIGHT_COLOR


def test_wrong_prediction_is_red_and_the_label_bar_differs(panel, snapshot) -> None:
    wrong_class = (snapshot.probe_label + 1) % 10
    wrong = dataclasses.replace(snapshot, prediction=wrong_class, iteration=snapshot.iteration + 1)
    panel.show(wrong)
    assert f"predicted {wrong_class}" in panel.probe_label.text()
    assert WRONG_COLOR in panel.probe_label.styleSheet()
    brushes = panel.bars["probabilities"].opts["brushes"]
    assert brushes[wrong_class] == WRONG_COLOR and brushes[snapshot.probe_label] == LABEL_COLOR


def test_a_drawn_probe_says_it_has_no_label_and_marks_no_label_bar(panel, snapshot) -> None:
    drawn = dataclasses.replace(snapshot, probe_label=None, probe_source="drawing", iteration=snapshot.iteration + 2)
    panel.show(drawn)
    assert panel.probe_label.text().startswith(f"{NO_LABEL} · predicted {drawn.prediction} (")
    assert UNLABELLED_COLOR in panel.probe_label.styleSheet()
    brushes = panel.bars["probabilities"].opts["brushes"]
    assert brushes[drawn.prediction] == UNLABELLED_COLOR and LABEL_COLOR not in brushes


@pytest.mark.parametrize("request_name", ["previous", "next", "random"])
def test_probe_buttons_emit_their_request(qtbot, panel, request_name) -> None:
    with qtbot.waitSignal(panel.probe_requested, timeout=1000) as blocker:
        qtbot.mouseClick(panel.probe_buttons[request_name], Qt.MouseButton.LeftButton)
    assert blocker.args == [request_name]


def test_highlight_filter_frames_conv1_map_4(panel) -> None:
    assert not panel.highlight_rect.isVisible()
    panel.highlight_filter(4)
    assert panel.highlight_rect.isVisible()
    assert panel.highlight_rect.rect() == QRectF(29, 29, 28, 28)  # row 1, column 1 of the 2x3 grid
    panel.highlight_filter(None)
    assert not panel.highlight_rect.isVisible()
    panel.highlight_filter(6)  # there is no conv1 map 6
    assert not panel.highlight_rect.isVisible()


def test_nan_and_inf_activations_draw_with_finite_levels(panel, snapshot) -> None:
    acts = {k: v.copy() for k, v in snapshot.activations.items()}
    acts["conv1"][0] = np.nan
    acts["conv1"][1, 0, 0] = np.inf
    acts["pool2"][:] = np.nan
    acts["fc1"][3] = np.nan
    acts["probabilities"][:] = np.nan
    panel.show(dataclasses.replace(snapshot, activations=acts))
    for name in ("conv1", "pool2"):
        assert np.isfinite(panel.mosaic_items[name].getLevels()).all()
    lo, hi = panel.mosaic_items["conv1"].getLevels()
    assert GRIDS["conv1"].cell(panel.mosaic_items["conv1"].image, 1)[0, 0] == hi  # Inf clipped to the top level
    assert panel.bars["fc1"].opts["height"][3] == 0
    assert panel.probe_label.text().endswith("(NaN)")  # the probability is unknown, and says so


def test_a_snapshot_showing_the_same_thing_is_skipped(panel, snapshot) -> None:
    panel.show(snapshot)
    first = panel.mosaic_items["conv1"].image
    same_frame = dataclasses.replace(snapshot)  # another object, same iteration/phase/probe/weights
    panel.show(same_frame)
    assert panel.mosaic_items["conv1"].image is first
    panel.show(dataclasses.replace(snapshot, probe_index=8))
    assert panel.mosaic_items["conv1"].image is not first


def test_maps_read_in_network_order_over_three_rows(panel) -> None:
    """input + conv1 on top, the pools and conv2 below, the bars last: the maps get the space."""
    panel.resize(640, 720)
    panel.show()
    rows = {key: r for r, keys in enumerate(ROWS) for key in keys}
    assert sorted(rows) == sorted(GRIDS)
    tops = {key: view.view.sceneBoundingRect().top() for key, view in panel.views.items()}
    assert tops["input"] == pytest.approx(tops["conv1"], abs=1)
    assert tops["pool1"] == pytest.approx(tops["conv2"], abs=1) == pytest.approx(tops["pool2"], abs=1)
    assert tops["conv1"] < tops["pool1"]
    bars_top = min(bar.mapRectToScene(bar.boundingRect()).top() for bar in panel.bars.values())
    assert bars_top > tops["pool2"]
    conv1 = panel.views["conv1"].view.sceneBoundingRect()
    assert conv1.width() > 0.4 * 640  # conv1 takes a real share of the width, not a fifth of one row


@pytest.mark.parametrize("width", [640, 470, 420])
def test_the_scene_fits_the_view_at_the_narrowest_centre(panel, width) -> None:
    """At 1280 px the centre is ~470 px: titles step down in size rather than push maps off the right."""
    panel.resize(width, 640)
    panel.show()
    assert panel.graphics.ci.geometry().width() <= panel.graphics.viewport().width() + 1
    for view in panel.views.values():
        assert view.view.sceneBoundingRect().right() <= panel.graphics.viewport().width() + 1


def test_per_map_scale_shows_every_map_from_its_own_min_to_max(panel, snapshot) -> None:
    """No map may look blank only because another map of its layer is strong."""
    from lenet_viz.app.panels.feature_maps import COLORBAR_LABELS

    panel.show(snapshot)
    panel.set_scale("per map")
    acts = snapshot.activations["conv2"]
    grid = panel.views["conv2"].grid
    image = panel.mosaic_items["conv2"].image
    assert list(panel.mosaic_items["conv2"].levels) == [0.0, 1.0]
    for k in range(grid.n):
        cell, a = grid.cell(image, k), acts[k]
        if a.max() > a.min():
            np.testing.assert_allclose(cell, (a - a.min()) / (a.max() - a.min()), atol=1e-6)
            assert cell.min() == 0 and cell.max() == pytest.approx(1)
    assert panel.colorbar.axis.labelText in COLORBAR_LABELS["per map"]
    panel.set_scale("per layer")
    lo, hi = panel.mosaic_items["conv2"].levels
    assert (lo, hi) == (pytest.approx(float(acts.min())), pytest.approx(float(acts.max())))
    assert panel.scale_box.currentText() == "per layer"


def test_map_numbers_and_the_hover_readout(panel, snapshot) -> None:
    panel.show(snapshot)
    assert [t.text() for t in panel.map_tags["conv2"]] == [str(k) for k in range(16)]
    x, y, _, _ = panel.views["conv2"].grid.rect(5)
    assert (panel.map_tags["conv2"][5].pos().x(), panel.map_tags["conv2"][5].pos().y()) == (x, y)  # its cell's corner
    x, y, _, _ = panel.views["conv2"].grid.rect(7)
    k, row, col, value = panel.value_at("conv2", x + 3.5, y + 2.5)
    assert (k, row, col) == (7, 2, 3) and value == pytest.approx(float(snapshot.activations["conv2"][7, 2, 3]))


def test_dead_channels_are_crossed_out_on_their_maps(panel, snapshot) -> None:
    """The health check's dead channels (ReLU output 0 for the whole batch) are marked where the learner looks."""
    from dataclasses import replace

    dead = {"conv1": np.array([False, True, False, False, True, False]), "conv2": np.zeros(16, dtype=bool)}
    panel.show(replace(snapshot, iteration=snapshot.iteration + 1, dead_units=dead))
    marks = panel.views["conv1"].dead_marks
    assert [m.isVisible() for m in marks] == [False, True, False, False, True, False]
    assert marks[1].rect().getRect() == panel.views["conv1"].grid.rect(1)
    assert not any(m.isVisible() for m in panel.views["conv2"].dead_marks)
    panel.show(replace(snapshot, iteration=snapshot.iteration + 2, dead_units={}))  # alive again: the marks go
    assert not any(m.isVisible() for m in marks)


def test_a_cached_bar_axis_is_redrawn_when_its_range_changes(panel, snapshot) -> None:
    """The bar plots' axes are cached pixmaps (a frame blits them): a new y range must still redraw them."""
    panel.resize(900, 700)
    panel.show()
    panel.show(snapshot)
    axis = panel.bar_plots["fc1"].getAxis("left")
    view = panel.graphics
    view.grab()
    area = view.mapFromScene(axis.mapRectToScene(axis.boundingRect())).boundingRect()

    def axis_pixels() -> np.ndarray:
        image = view.grab(area).toImage()
        bits = image.constBits()
        return np.frombuffer(bits, dtype=np.uint8, count=image.sizeInBytes()).copy()

    before = axis_pixels()
    acts = dict(snapshot.activations)
    acts["fc1"] = np.asarray(acts["fc1"]) * 40 + 100  # far beyond the range shown: the axis must grow
    panel.show(dataclasses.replace(snapshot, iteration=snapshot.iteration + 1, activations=acts))
    assert panel._bar_tops["fc1"] > 100
    after = axis_pixels()
    assert before.shape == after.shape and not np.array_equal(before, after)  # new tick labels on screen


@pytest.mark.parametrize("scale", ["per layer", "per map"])
def test_colour_bar_title_fits_beside_the_bar_on_a_1280_px_screen(panel, snapshot, qtbot, scale) -> None:
    from lenet_viz.app.panels.feature_maps import COLORBAR_LABELS

    """The rotated title runs along the bar: on a 1280x800 screen (centre dock ~486x470) "each layer: its
    min → max" was longer than the bar and lost its end ("… → ma") above the view."""
    panel.resize(486, 470)
    panel.show()
    panel.show(snapshot)
    panel.set_scale(scale)
    qtbot.wait(50)
    axis = panel.colorbar.axis
    title, bar = axis.label.sceneBoundingRect(), panel.colorbar.sceneBoundingRect()
    assert axis.labelText
    assert axis.labelText in COLORBAR_LABELS[scale]
    assert title.top() >= max(bar.top(), 0) and title.bottom() <= bar.bottom()
    assert title.right() <= panel.graphics.viewport().width() + 4  # the text box's margin may overhang, not the glyphs
    panel.resize(892, 700)  # room again: the whole title
    qtbot.wait(50)
    assert axis.labelText == COLORBAR_LABELS[scale][0]
