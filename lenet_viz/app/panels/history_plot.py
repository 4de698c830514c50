"""What the panels drawn from a MetricHistory (loss, gradients) share: `HistoryPlotPanel`, the
redraw-only-on-change base; the points a curve may be given (`finite_xy`, `column_copy`) and
what of them it draws (`peak_points`, `snapped_bounds`, `extent`); the axes (cached, readable,
log without pile-ups) and the legend row.  The curves are in `history_curve`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QVBoxLayout, QWidget

from ...training.history import MetricHistory

#: Axis numbers and legends: readable from the back of a room, small enough for a 1280-wide screen.
TICK_POINT_SIZE = 10
LEGEND_TEXT_SIZE = "10pt"


def finite_xy(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The points a plot can draw: finite (and > 0 for log axes).

    A diverged run writes NaN/Inf; a log axis cannot place 0.  Dropping them keeps autorange
    finite.  Pass arrays of your own, contiguous (`column_copy`): they come back as they are
    when every point is drawable, and a plot must not see the history's buffer change under it.
    """
    keep = np.isfinite(y)
    if positive:
        keep &= y > 0
    keep &= np.isfinite(x)
    return (x, y) if keep.all() else (x[keep], y[keep])


def column_copy(history: MetricHistory, name: str) -> np.ndarray:
    """A contiguous copy of a history column: its view strides across every column of the
    buffer, which makes each numpy pass over it about 4x slower than over a copy."""
    return np.array(history.column(name))


def peak_points(x: np.ndarray, y: np.ndarray, lo: int, hi: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Points `lo:hi` of a finite curve, reduced to about `bins` runs of `ds` points, each drawn as
    its minimum (at the run's first x) then its maximum (at its last x).

    With one run per pixel column every spike stays and the curve still starts and ends at the
    data's first and last x.  Runs start at multiples of `ds`, not at `lo`, so while points are
    appended the old runs, hence the pixels, stay put instead of shimmering.
    """
    ds = (hi - lo) // max(bins, 1)
    if ds < 2:
        return x[lo:hi], y[lo:hi]
    starts = np.arange(lo - lo % ds, hi, ds)
    starts[0] = lo
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = hi - 1
    part = y[:hi]
    px, py = np.empty(2 * len(starts)), np.empty(2 * len(starts))
    px[0::2], px[1::2] = x[starts], x[ends]
    py[0::2], py[1::2] = np.minimum.reduceat(part, starts), np.maximum.reduceat(part, starts)
    return px, py


def snapped_bounds(
    lo: float | None, hi: float | None, pixels: float, step_px: float
) -> tuple[float, float] | tuple[None, None]:
    """(lo, hi) widened outwards to the grid of a power-of-two step worth `step_px` to 2 * `step_px`
    of `pixels`: the range then changes when the data outgrows a step, not with every new point."""
    if lo is None or hi is None or not hi > lo or pixels <= 0:
        return lo, hi
    step = 2.0 ** math.ceil(math.log2((hi - lo) * step_px / pixels))
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def extent(v: np.ndarray, log: bool = False) -> tuple[float, float] | tuple[None, None]:
    """(min, max) of `v`, in log10 for a log axis (where values <= 0 have no place)."""
    if log:
        v = v[v > 0]
    if not len(v):
        return None, None
    lo, hi = float(v.min()), float(v.max())
    return (math.log10(lo), math.log10(hi)) if log else (lo, hi)


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


class HistoryAxis(pg.AxisItem):
    """An axis of the history plots: tick numbers larger than pyqtgraph's default (about 8 pt),
    readable from the back of a room; kept as a pixmap, grid lines included, redrawn only when
    the axis changes (with a grid, an axis spans the whole plot, and re-playing it on every curve
    update was ~40 % of a gradient-panel frame), and drawn into that pixmap with a clip
    rectangle: without one, Qt strokes its translucent antialiased grid lines ~2x slower.
    """

    def __init__(self, orientation: str, **kwargs) -> None:  # noqa: ANN003
        super().__init__(orientation, **kwargs)
        font = QFont()
        font.setPointSize(TICK_POINT_SIZE)
        self.setTickFont(font)
        # Real values on every axis: an SI prefix turned "0.1" into "100" under "loss (×0.001)".
        self.enableAutoSIPrefix(False)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def paint(self, p: QPainter, opt, widget) -> None:  # noqa: ANN001
        p.setClipRect(self.boundingRect(), Qt.ClipOperation.IntersectClip)
        super().paint(p, opt, widget)


class LogAxis(HistoryAxis):
    """A log axis whose labels never pile up.

    Over less than a few decades pyqtgraph puts every 1..9 tick on one level, and the first
    level is always labelled, so "0.02 0.03 ... 0.09" overlap.  Here whole decades form the
    first level and the rest a second one.

    Every tick is drawn, but labelled only where a label cannot touch its neighbour's: the 2s
    and 5s of each decade when a decade is tall enough for them, on a short axis only every
    2nd (3rd ...) decade ("0.0009" sat 5 px under "0.001").
    """

    _labelled: frozenset[float] = frozenset()

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: ANN001, N802, N803 - pyqtgraph's names
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        values = sorted({v for _, level in ticks for v in level})
        decades = [v for v in values if abs(v - round(v)) < 1e-9]
        minor = [v for v in values if v not in decades]
        per_decade = size / max(maxVal - minVal, 1e-9)  # pixels
        need = 1.3 * QFontMetrics(self.style["tickFont"] or QFont()).height()  # pixels between two labels
        every = max(1, math.ceil(need / max(per_decade, 1e-9)))  # a short axis labels every 2nd, 3rd ... decade
        labelled = {v for v in decades if round(v) % every == 0}
        if per_decade * math.log10(2) >= need:
            labelled |= {v for v in minor if round(10 ** (v - math.floor(v))) in (2, 5)}
        self._labelled = frozenset(labelled)
        return [(1.0, decades), (None, minor)] if ticks else ticks

    def logTickStrings(self, values, scale, spacing):  # noqa: ANN001, ANN201, N802 - pyqtgraph's names
        strings = super().logTickStrings(values, scale, spacing)
        return [s if v in self._labelled else "" for v, s in zip(values, strings)]


class SpacedAxis(pg.AxisItem):
    """A horizontal axis whose numbers never run into each other: pyqtgraph always labels its first
    level of ticks, so on a ~100-px heatmap "0 100 200 300" read "0 100200300".  The major spacing
    grows (1, 2, 5 x 10^k) until the widest label and a gap fit between two ticks; no minor labels."""

    GAP_PX = 12

    def tickSpacing(self, minVal, maxVal, size):  # noqa: ANN001, ANN201, N802, N803 - pyqtgraph's names
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not levels or span == 0 or size <= 0:
            return levels
        metrics = QFontMetrics(self.style["tickFont"] or QFont())
        lo, hi = sorted((minVal, maxVal))
        major = levels[0][0]
        while True:
            values = np.arange(math.ceil(lo / major), math.floor(hi / major) + 1) * major
            texts = self.tickStrings(list(values), self.scale, major) or [""]
            if major * size / span >= max(metrics.horizontalAdvance(t) for t in texts) + self.GAP_PX:
                return [(major, 0)]
            lead = round(major / 10 ** math.floor(math.log10(major) + 1e-9))
            major *= 2.5 if lead == 2 else 2  # 1 -> 2 -> 5 -> 10


def history_axes(log_y: bool = False, right: bool = False) -> dict[str, HistoryAxis]:
    """The `axisItems` of a history plot (pass to addPlot): left (log or not), bottom, and right only
    if wanted, since pyqtgraph shows every axis it is given."""
    axes = {"left": LogAxis("left") if log_y else HistoryAxis("left"), "bottom": HistoryAxis("bottom")}
    if right:
        axes["right"] = HistoryAxis("right")
    return axes


MARKER_COLOR = "#f2a900"


class MarkerLine(pg.InfiniteLine):
    """A vertical line where something happened; its tooltip (shown on hover) says what."""

    def __init__(self) -> None:
        super().__init__(angle=90, movable=False, pen=pg.mkPen(MARKER_COLOR, width=1.5, style=Qt.PenStyle.DashLine),
                         hoverPen=pg.mkPen(MARKER_COLOR, width=4))
        self.what = ""
        self.setAcceptHoverEvents(True)

    def set_marker(self, iteration: int, what: str) -> None:
        self.what = what
        self.setValue(iteration)
        self.setToolTip(f"iteration {iteration:,}: {what}")
        self.show()


class HistoryPlotPanel(QWidget):
    """Base of the panels drawn from a MetricHistory: one GraphicsLayoutWidget (`view`),
    redrawn by `draw(history)` only when the history changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        # Curves span the plot, so most of it is dirty every frame anyway.  Under pyqtgraph's minimal
        # (multi-rectangle) update region Qt stroked the translucent curves ~10x slower (measured:
        # ~80 ms instead of ~8 ms for a loss-panel frame that changed every curve); one rectangle is fast.
        self.view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._key: tuple | None = None
        self.legend: pg.LegendItem | None = None  # set by subclasses; reflowed to the panel's width
        self._markers: dict[int, list[MarkerLine]] = {}  # per plot, see set_markers

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
        """Forget everything shown (training was reset), ranges included: the next run's first
        points must not land in the old run's 0..5000 × 0..600 (or be centred in its width)."""
        self._key = None
        self.draw(MetricHistory(capacity=2))
        for plot in self.plots():
            plot.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            plot.vb.enableAutoRange()

    def set_markers(self, markers: list[tuple[int, str]]) -> None:
        """A dashed vertical line at each (iteration, what) in every plot: settings changed, a reset,
        a divergence.  Hovering a line says what happened there.  Lines are reused, not re-created."""
        for plot in self.plots():
            pool = self._markers.setdefault(id(plot), [])
            while len(pool) < len(markers):
                line = MarkerLine()
                plot.addItem(line, ignoreBounds=True)
                pool.append(line)
            for line, marker in zip(pool, markers):
                line.set_marker(*marker)
            for line in pool[len(markers):]:
                line.hide()

    def plots(self) -> list[pg.PlotItem]:
        """The PlotItems of this panel (top to bottom)."""
        return [item for item in self.view.ci.items if isinstance(item, pg.PlotItem)]

    def draw(self, history: MetricHistory) -> None:
        raise NotImplementedError
