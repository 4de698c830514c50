"""Gradient norms and update/weight ratios per layer: is each layer learning, and how fast?

Also home of the plotting bits the history panels share: one layer palette (so every panel
colours conv1 ... fc3 the same way), masked fast curves, a legend row, a readable log axis,
and `HistoryPlotPanel`, the redraw-only-on-change base of this panel and LossPanel.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from ...model import LAYERS
from ...training.history import MetricHistory

#: One colour per layer, bright enough for pyqtgraph's black background; shared by all panels.
LAYER_COLORS: dict[str, str] = {
    "conv1": "#4fc3f7",  # light blue
    "conv2": "#ffb74d",  # orange
    "fc1": "#81c784",  # green
    "fc2": "#f06292",  # pink
    "fc3": "#b39ddb",  # lavender
}

#: Axis numbers and legends: readable from the back of a room, small enough for a 1280-wide screen.
TICK_POINT_SIZE = 10
LEGEND_TEXT_SIZE = "10pt"

#: The classic rule of thumb: each step should change a layer's weights by about 1/1000.
HEALTHY_RATIO = 1e-3


def finite_xy(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the points a plot can draw: finite (and > 0 for log axes).

    A diverged run writes NaN/Inf; a log axis cannot place 0.  Dropping them keeps autorange
    finite, and the copy keeps the plot from seeing the history's buffer change under it.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return x[keep], y[keep]


def fast_curve(owner: pg.PlotItem | pg.ViewBox, pen, name: str | None = None, **opts) -> pg.PlotDataItem:  # noqa: ANN001
    """A curve set up for long, often-redrawn data: clipped to the view, peak-downsampled.

    Order matters: PlotItem.addItem() imposes the plot's own downsampling and clipping on the
    item, so the plot is configured too (also keeps its context menu truthful), and the curve
    is configured after it is added.  Data given to it is already finite (see `finite_xy`),
    so the per-frame finite check is skipped.
    """
    if isinstance(owner, pg.PlotItem):
        owner.setClipToView(True)
        owner.setDownsampling(auto=True, mode="peak")
    # Peak mode keeps each pixel column's min and max, so one bin per pixel loses nothing visible.
    curve = pg.PlotDataItem(pen=pen, name=name, skipFiniteCheck=True, autoDownsampleFactor=1.0, **opts)
    owner.addItem(curve)
    curve.setClipToView(True)
    curve.setDownsampling(auto=True, method="peak")
    return curve


def readable_axes(plot: pg.PlotItem) -> None:
    """Larger tick numbers than pyqtgraph's default (about 8 pt), once, at creation."""
    font = QFont()
    font.setPointSize(TICK_POINT_SIZE)
    for name in ("left", "bottom", "right"):
        plot.getAxis(name).setTickFont(font)


def cache_axes(plot: pg.PlotItem) -> None:
    """Keep each axis, grid lines included, as a pixmap that is redrawn only when the axis changes.

    With a grid, an axis spans the whole plot, so every curve update re-played its tick labels
    and lines: ~40 % of a gradient-panel frame.  Device-coordinate caching draws the same pixels.
    """
    for name in ("left", "bottom", "right"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def layer_pen(layer: str, width: float = 1.0) -> pg.QtGui.QPen:
    return pg.mkPen(LAYER_COLORS[layer], width=width)


def legend_row(view: pg.GraphicsLayoutWidget, row: int, entries: dict[str, pg.PlotDataItem]) -> pg.LegendItem:
    """A legend in its own layout row, below the plots, so it never hides a curve; one line, until
    `fit_legend` reflows it to a narrow panel.  Clicking an entry hides or shows its curve (pyqtgraph's legend does that).
    """
    legend = pg.LegendItem(colCount=len(entries), labelTextSize=LEGEND_TEXT_SIZE, frame=False)
    view.addItem(legend, row=row, col=0)
    view.ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignHCenter)
    for name, curve in entries.items():
        legend.addItem(curve, name)
        color = pg.mkColor(curve.opts["pen"].color())
        color.setAlpha(255)  # faint curves still get a readable label
        legend.getLabel(curve).setText(name, color=color)
    return legend


def fit_legend(legend: pg.LegendItem, width: float) -> None:
    """As many entries a line as fit in `width` pixels (all on one line in a wide dock, two or three
    lines in a narrow one) instead of clipping the last ones.  Called on resize, never per frame."""
    spacing = legend.layout.horizontalSpacing() + 12  # sample-label gap, and a little air per column
    # The text's own width: a label's geometry stretches to its column once the legend has reflowed.
    widths = [sample.boundingRect().width() + label.itemRect().width() + spacing for sample, label in legend.items]
    columns = len(widths)
    while columns > 1 and sum(max(widths[c::columns]) for c in range(columns)) > width:
        columns -= 1
    rows = math.ceil(len(widths) / max(columns, 1))
    legend.setColumnCount(max(math.ceil(len(widths) / rows), 1))  # 2 + 2, not 3 + 1


class LogAxis(pg.AxisItem):
    """A log axis whose labels never pile up.

    Over less than a few decades pyqtgraph puts every 1..9 tick on one level, and the first
    level is always labelled, so "0.02 0.03 ... 0.09" overlap.  Here whole decades form the
    first level and the rest a second one, which pyqtgraph drops when crowded.
    """

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: ANN001, N802, N803 - pyqtgraph's names
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if ticks and ticks[0][0] is None:
            decades = [v for v in ticks[0][1] if abs(v - round(v)) < 1e-9]
            ticks = [(1.0, decades), (None, [v for v in ticks[0][1] if v not in decades])]
        return ticks


class HistoryPlotPanel(QWidget):
    """Base of the panels drawn from a MetricHistory: one GraphicsLayoutWidget (`view`),
    redrawn by `draw(history)` only when the history changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._key: tuple | None = None
        self.legend: pg.LegendItem | None = None  # set by subclasses; reflowed to the panel's width

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        if self.legend is not None and self.legend.items:
            fit_legend(self.legend, event.size().width() - 16)
        super().resizeEvent(event)

    def show(self, history: MetricHistory | None = None) -> None:  # type: ignore[override]
        """Redraw from `history`; cheap when it has not changed.  `show()` alone shows the widget."""
        if history is None:
            super().show()
            return
        # `version` alone is not enough: MetricHistory.clear() restarts it.
        key = (id(history), history.version, len(history), history.stride, len(history.evals))
        if key != self._key:
            self._key = key
            self.draw(history)

    def clear(self) -> None:
        """Forget everything shown (training was reset)."""
        self._key = None
        self.draw(MetricHistory(capacity=2))

    def draw(self, history: MetricHistory) -> None:
        raise NotImplementedError


class GradientPanel(HistoryPlotPanel):
    """Top: per-layer gradient norm.  Bottom: per-layer ||update|| / ||weights||.  Both log-y, shared x."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grad_plot: pg.PlotItem = self.view.addPlot(
            row=0, col=0, title="Gradient norm per layer", axisItems={"left": LogAxis("left")}
        )
        self.ratio_plot: pg.PlotItem = self.view.addPlot(
            row=1, col=0, title="Update / weight ratio per layer", axisItems={"left": LogAxis("left")}
        )
        self.ratio_plot.setXLink(self.grad_plot)
        self.ratio_plot.setLabel("bottom", "iteration")  # the x axis is shared: label it once
        # Plain words: a rotated "‖∇‖" is unreadable at axis size and missing from some fonts.
        for plot, ylabel in ((self.grad_plot, "gradient norm"), (self.ratio_plot, "update / weight")):
            readable_axes(plot)
            cache_axes(plot)
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
        self.grad_curves: dict[str, pg.PlotDataItem] = {
            layer: fast_curve(self.grad_plot, layer_pen(layer), name=layer) for layer in LAYERS
        }
        self.ratio_curves: dict[str, pg.PlotDataItem] = {
            layer: fast_curve(self.ratio_plot, layer_pen(layer), name=layer) for layer in LAYERS
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
            label=f"{HEALTHY_RATIO:g} healthy",
            labelOpts={"position": 0.98, "color": "#dddddd", "fill": (0, 0, 0, 170), "anchors": [(1, 0), (1, 0)]},
        )
        self.ratio_plot.addItem(self.healthy_line, ignoreBounds=True)  # its bounds would say y=0, i.e. 1
        # An invisible twin at HEALTHY_RATIO that autorange does see, so the reference stays in view.
        self.healthy_anchor = fast_curve(self.ratio_plot, pg.mkPen(0, 0, 0, 0))

    def draw(self, history: MetricHistory) -> None:
        if not len(history):
            for curve in (*self.grad_curves.values(), *self.ratio_curves.values(), self.healthy_anchor):
                curve.setData([], [])
            return
        x = history.column("iteration")
        self.healthy_anchor.setData([x[0], x[-1]], [HEALTHY_RATIO, HEALTHY_RATIO])
        for layer in LAYERS:
            w, b = history.column(f"grad/{layer}.weight"), history.column(f"grad/{layer}.bias")
            self.grad_curves[layer].setData(*finite_xy(x, np.hypot(w, b), positive=True))
            self.ratio_curves[layer].setData(*finite_xy(x, history.column(f"ratio/{layer}"), positive=True))
