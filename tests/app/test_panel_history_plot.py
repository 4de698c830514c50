"""The pieces the history panels share: drawable points, contiguous columns, cached readable axes."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView

from lenet_viz.app.panels.gradients import GradientPanel
from lenet_viz.app.panels.history_plot import TICK_POINT_SIZE, HistoryAxis, LogAxis, column_copy, finite_xy
from lenet_viz.app.panels.loss import LossPanel
from lenet_viz.training.history import MetricHistory
from lenet_viz.training.types import StepStats


def test_finite_xy_drops_what_cannot_be_drawn_and_passes_clean_arrays_through():
    x = np.arange(1.0, 7.0)
    y = np.array([0.5, 0.0, math.nan, 0.25, math.inf, -1.0])
    np.testing.assert_array_equal(finite_xy(x, y)[1], [0.5, 0.0, 0.25, -1.0])
    px, py = finite_xy(x, y, positive=True)
    np.testing.assert_array_equal(px, [1, 4])
    np.testing.assert_array_equal(py, [0.5, 0.25])
    clean = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    cx, cy = finite_xy(x, clean, positive=True)
    assert cx is x and cy is clean  # the caller's own copies: no second copy per frame


def test_column_copy_is_a_contiguous_copy_of_the_column():
    h = MetricHistory()
    for i in range(1, 6):
        h.append(StepStats(iteration=i, epoch=0, loss=1.0 / i, accuracy=0.5, grad_norms={"conv1.weight": 0.1},
                           weight_norms={"conv1.weight": 1.0}, update_ratios={"conv1": 1e-3}, lr=0.01, samples_seen=i))
    col = column_copy(h, "loss")
    np.testing.assert_array_equal(col, h.column("loss"))
    assert col.flags.c_contiguous and col.flags.writeable and not np.shares_memory(col, h.column("loss"))


def test_history_plots_have_cached_readable_axes_and_repaint_whole(make_panel):
    loss, grads = make_panel(LossPanel), make_panel(GradientPanel)
    shown = [(loss.plot, ("left", "bottom", "right")), (grads.grad_plot, ("left", "bottom")),
             (grads.ratio_plot, ("left", "bottom"))]
    for plot, names in shown:
        for name in names:
            axis = plot.getAxis(name)
            assert isinstance(axis, HistoryAxis) and axis.isVisibleTo(plot)
            assert axis.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
            assert axis.style["tickFont"].pointSize() == TICK_POINT_SIZE
    for plot in (grads.grad_plot, grads.ratio_plot):  # no stray right-hand axis beside the log plots
        assert not plot.getAxis("right").isVisibleTo(plot) and not plot.getAxis("top").isVisibleTo(plot)
    assert isinstance(grads.grad_plot.getAxis("left"), LogAxis) and not isinstance(loss.plot.getAxis("left"), LogAxis)
    for panel in (loss, grads):
        assert panel.view.viewportUpdateMode() == QGraphicsView.ViewportUpdateMode.FullViewportUpdate
