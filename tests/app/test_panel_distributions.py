"""DistributionPanel: heatmaps (iteration x value) of real histograms, fixed log levels, hover readout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF

from lenet_viz.app.panels.distributions import HOVER_HINT, DistributionPanel
from lenet_viz.training import TrainConfig, Trainer
from lenet_viz.training.distributions import DistributionHistory
from lenet_viz.training.types import LAYERS


def gather(iterations: int, every: int, batch_size: int) -> DistributionHistory:
    """Histograms of a real run, gathered from StepStats as the app's GUI process would."""
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(dataset="random", eval_every=0, histogram_every=every, batch_size=batch_size))
    gathered = DistributionHistory()
    for _ in range(iterations):
        if (sample := trainer.step().histograms) is not None:
            gathered.append(sample)
    return gathered


@pytest.fixture(scope="module")
def history() -> DistributionHistory:
    return gather(12, 2, 16)  # iterations 1, 2, 4, ..., 12


def point(x: float, y: float) -> QPointF:
    return QPointF(float(x), float(y))


@pytest.fixture
def panel(make_panel, qtbot) -> DistributionPanel:
    p = make_panel(DistributionPanel, (1200, 320))
    p.show()
    qtbot.waitExposed(p)
    return p


def test_heatmaps_are_log_counts_with_fixed_levels_on_the_edges(panel, history):
    panel.show(history)
    for layer in LAYERS:
        d = history.distribution("weight", layer)
        image = panel.images[layer]
        assert image.image.shape == (d.counts.shape[1], 7)  # value bins x columns
        np.testing.assert_allclose(image.image, np.log10(1 + d.counts.T), rtol=1e-6)
        total = d.counts.sum(1).max()  # every column histograms the same number of values
        assert image.levels == pytest.approx([0.0, np.log10(1 + total)])
        rect = image.mapRectToParent(image.boundingRect())
        assert rect.bottom() == pytest.approx(d.edges[-1]) and rect.top() == pytest.approx(d.edges[0])
        assert rect.left() < 1 < 12 < rect.right()


def test_choosing_a_kind_draws_its_heatmaps(panel, history, qtbot):
    panel.show(history)
    with qtbot.waitSignal(panel.kind_changed) as changed:
        panel.buttons.buttons()[1].click()  # "Gradients"
    assert changed.args == ["grad"] and panel.kind == "grad"
    d = history.distribution("grad", "fc1")
    np.testing.assert_allclose(panel.images["fc1"].image, np.log10(1 + d.counts.T), rtol=1e-6)
    assert panel.plots["conv1"].getAxis("left").labelText == "|gradient|, log scale"
    panel.set_kind("activation")
    assert panel.buttons.buttons()[2].isChecked()
    d = history.distribution("activation", "conv2")
    np.testing.assert_allclose(panel.images["conv2"].image, np.log10(1 + d.counts.T), rtol=1e-6)


def test_hover_says_iteration_value_range_and_count(panel, history):
    panel.show(history)
    d = history.distribution("weight", "fc2")
    column, b = 3, int(np.argmax(d.counts[3]))  # the fullest bin of iteration 6
    x, y = d.iterations[column], (d.edges[b] + d.edges[b + 1]) / 2
    panel.hover(panel.plots["fc2"].vb.mapViewToScene(point(x, y)))
    lo, hi = d.value_range(b)
    assert panel.readout.text() == f"fc2 weights: iteration 6 · value {lo:.3g} to {hi:.3g} · count {d.counts[column, b]:.4g}"
    panel.set_kind("grad")
    g = history.distribution("grad", "conv1")
    panel.hover(panel.plots["conv1"].vb.mapViewToScene(point(g.iterations[0], g.edges[0] + 1e-3)))
    assert panel.readout.text().startswith("conv1 gradients: iteration 1 · |value| 1e-10 to ")
    assert "(and beyond)" in panel.readout.text()  # the end bin also holds what is below the edges
    panel.hover(panel.plots["conv1"].vb.mapViewToScene(point(500, 0)))
    assert panel.readout.text() == HOVER_HINT


def test_clear_and_empty_history(panel, history):
    panel.show(history)
    panel.clear()
    assert all(image.image is None for image in panel.images.values())
    panel.show(DistributionHistory())
    assert all(image.image is None for image in panel.images.values())


def test_the_mouse_drives_the_readout(panel, history, qtbot):
    panel.show(history)
    d = history.distribution("weight", "conv2")
    scene = panel.plots["conv2"].vb.mapViewToScene(point(d.iterations[-1], (d.edges[0] + d.edges[-1]) / 2))
    qtbot.mouseMove(panel.graphics.viewport(), panel.graphics.mapFromScene(scene))
    qtbot.waitUntil(lambda: panel.readout.text().startswith("conv2 weights: iteration 12 · value "))


@pytest.mark.parametrize(("width", "per_row"), [(400, 3), (560, 3), (620, 5), (800, 5)])
def test_the_heatmaps_wrap_into_rows_that_fit_the_panel(qtbot, width, per_row):
    """Found in a screenshot: in one row the five heatmaps needed ~600 px; in the 400-px dock of a
    1280-px screen fc2 and fc3 were off to the right.  Narrow, they wrap three and two."""
    from PySide6.QtWidgets import QApplication

    panel = DistributionPanel()
    qtbot.addWidget(panel)
    panel.resize(width, 600)
    panel.show()
    qtbot.waitExposed(panel)
    QApplication.processEvents()
    assert panel.per_row == per_row
    view = panel.graphics
    for k, (layer, plot) in enumerate(panel.plots.items()):
        rect = view.mapFromScene(plot.mapRectToScene(plot.boundingRect())).boundingRect()
        assert 0 <= rect.left() and rect.right() <= view.viewport().width() + 1, layer
        assert plot.getAxis("left").labelText == ("weight value" if k % per_row == 0 else "")
    assert panel.minimumSizeHint().width() <= width


def test_iteration_numbers_never_run_into_each_other_in_a_narrow_dock(qtbot):
    """A 1280x800 screen's left column (~320 px) holds two heatmaps a row, each ~100 px wide: with
    pyqtgraph's spacing a run of 417 iterations read "0 100200300" under them."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    longer = gather(420, 60, 4)
    panel = DistributionPanel()
    qtbot.addWidget(panel)
    panel.resize(311, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(longer)
    QApplication.processEvents()
    assert panel.per_row == 2
    for layer, plot in panel.plots.items():
        axis = plot.getAxis("bottom")
        lo, hi = axis.range
        size = axis.geometry().width()
        assert hi >= 400 and size < 160
        metrics = QFontMetrics(axis.style["tickFont"] or axis.font())
        labelled = [(spacing, values) for spacing, values in axis.tickValues(lo, hi, size)
                    if any(axis.tickStrings(values, axis.scale, spacing))]
        assert len(labelled) == 1, layer  # one level of numbers: no minor labels squeezed between
        spacing, values = labelled[0]
        texts = axis.tickStrings(values, axis.scale, spacing)
        assert len([v for v in values if lo <= v <= hi]) >= 2, layer
        widest = max(metrics.horizontalAdvance(t) for t in texts)
        assert spacing * size / (hi - lo) >= widest + 4, (layer, texts)
