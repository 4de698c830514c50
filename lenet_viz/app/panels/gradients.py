"""Gradient norms and update/weight ratios per layer: is each layer learning, and how fast?

Also home of the one layer palette, so every panel colours conv1 ... fc3 the same way.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from .common import LAYER_COLORS  # noqa: F401 - the one table of layer colours
from ...architecture import combine_by_layer
from ...training.types import LAYERS  # not ...model: the GUI process never imports torch
from ...training.history import MetricHistory
from .history_curve import HistoryCurve, history_curve
from .history_plot import (
    HistoryPlotPanel,
    column_copy,
    finite_xy,
    history_axes,
    legend_row,
)

#: One colour per layer, bright enough for pyqtgraph's black background; shared by all panels.

#: The classic rule of thumb: each step should change a layer's weights by about 1/1000.
HEALTHY_RATIO = 1e-3
RATIO_TITLE = "Update / weight ratio per layer"
#: The dashed line is explained in the legend row: a tag on the line covered curves and was clipped.
HEALTHY_TEXT = f"{HEALTHY_RATIO:g} healthy"


def layer_pen(layer: str, width: float = 1.0) -> pg.QtGui.QPen:
    return pg.mkPen(LAYER_COLORS[layer], width=width)


class GradientPanel(HistoryPlotPanel):
    """Top: per-layer gradient norm.  Bottom: per-layer ||update|| / ||weights||.  Both log-y, shared x."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grad_plot: pg.PlotItem = self.view.addPlot(
            row=0, col=0, title="Gradient norm per layer", axisItems=history_axes(log_y=True)
        )
        self.ratio_plot: pg.PlotItem = self.view.addPlot(
            row=1, col=0, title=RATIO_TITLE, axisItems=history_axes(log_y=True)
        )
        self.ratio_plot.setXLink(self.grad_plot)
        self.ratio_plot.setLabel("bottom", "iteration")  # the x axis is shared: label it once
        # Plain words: a rotated "‖∇‖" is unreadable at axis size and missing from some fonts.
        for plot, ylabel in ((self.grad_plot, "gradient norm"), (self.ratio_plot, "update / weight")):
            plot.setLogMode(x=False, y=True)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("left", ylabel)
            plot.getAxis("left").enableAutoSIPrefix(False)  # it would rescale log ticks to "(x0.001)"
            plot.getAxis("left").setWidth(64)  # same width in both plots, so their x axes line up
            # Span at least 1.5 decades: with less, pyqtgraph labels every minor log tick and they overlap.
            plot.setLimits(minYRange=1.5)
        self.grad_plot.setToolTip(
            "L2 norm of each layer's gradient after backward(): sqrt(‖∇weight‖² + ‖∇bias‖²).\n"
            "Vanishing (falling to ~0) or exploding (shooting up) gradients show here first."
        )
        self.ratio_plot.setToolTip(
            "How much one update moves each layer: ‖weights after − before‖ / ‖weights before‖.\n"
            f"Around {HEALTHY_RATIO:g} is the classic healthy rate; far below, the layer barely learns;\n"
            "far above, the learning rate is probably too high."
        )
        self.grad_curves: dict[str, HistoryCurve] = {
            layer: history_curve(self.grad_plot, layer_pen(layer), name=layer) for layer in LAYERS
        }
        self.ratio_curves: dict[str, HistoryCurve] = {
            layer: history_curve(self.ratio_plot, layer_pen(layer), name=layer) for layer in LAYERS
        }
        self.legend = legend_row(self.view, 2, self.grad_curves)
        for layer, curve in self.grad_curves.items():  # one legend entry hides a layer in both plots
            curve.visibleChanged.connect(lambda c=curve, r=self.ratio_curves[layer]: r.setVisible(c.isVisible()))
        # InfiniteLine ignores log mode: its position is in view coordinates, i.e. log10.
        self.healthy_line = pg.InfiniteLine(
            pos=np.log10(HEALTHY_RATIO),
            angle=0,
            movable=False,
            pen=pg.mkPen("#dddddd", width=1.5, style=Qt.PenStyle.DashLine),
        )
        self.ratio_plot.addItem(self.healthy_line, ignoreBounds=True)  # its bounds would say y=0, i.e. 1
        self.healthy_sample = pg.PlotDataItem(pen=self.healthy_line.pen)  # the legend's picture of the line only
        self.legend.addItem(self.healthy_sample, HEALTHY_TEXT)
        self.legend.getLabel(self.healthy_sample).setText(HEALTHY_TEXT, color="#9aa0a8")
        self.healthy_sample.visibleChanged.connect(lambda: self.healthy_line.setVisible(self.healthy_sample.isVisible()))
        # An invisible twin at HEALTHY_RATIO that autorange does see, so the reference stays in view.
        self.healthy_anchor = history_curve(self.ratio_plot, pg.mkPen(0, 0, 0, 0))

    def draw(self, history: MetricHistory) -> None:
        if not len(history):
            for curve in (*self.grad_curves.values(), *self.ratio_curves.values(), self.healthy_anchor):
                curve.setData([], [])
            return
        x = column_copy(history, "iteration")  # shared by every curve: pyqtgraph never writes to it
        if self.healthy_anchor.xData is None or (self.healthy_anchor.xData != x[[0, -1]]).any():
            self.healthy_anchor.setData(x[[0, -1]], [HEALTHY_RATIO, HEALTHY_RATIO])
        for layer in LAYERS:
            params = {f"{layer}.{p}": column_copy(history, f"grad_norm/{layer}.{p}") for p in ("weight", "bias")}
            self.grad_curves[layer].setData(*finite_xy(x, combine_by_layer(params)[layer], positive=True))
            self.ratio_curves[layer].setData(*finite_xy(x, column_copy(history, f"update_ratio/{layer}"), positive=True))
