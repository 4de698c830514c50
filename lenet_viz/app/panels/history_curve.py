"""`HistoryCurve`: a pyqtgraph curve that stays cheap for the GUI thread at 16k points, redrawn every frame.

Measured on the 2-core target (600×420 panel, 15k points, antialiased, 3 new points a frame),
what pyqtgraph's PlotDataItem spent per frame and what replaced it:
- log mapping, peak downsampling and clip-to-view on every setData and view change, per curve
  → `peak_points` once per setData, on the drawn points only (log10 after the reduction);
- autorange re-reading every curve's bounds every frame, and the axes (tick labels and grid
  lines) redrawn every frame as the x range crept → bounds of all the data, snapped outwards
  (`snapped_bounds`), announced to the view only when they change;
- stroking every curve whole every frame → the part of a curve that no longer changes is one
  cached child item (`body`, redrawn only when the view moves); only the last few pixels'
  worth (the `tail`) is stroked per frame.

Built from pyqtgraph's public API only (a private attribute pins a version and breaks silently on
upgrade): a PlotDataItem subclass overriding documented methods, drawing with two PlotCurveItem
children of its own.  Tested with pyqtgraph 0.13.7 and 0.14.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsItem

from .history_plot import extent, peak_points, snapped_bounds

#: Bins for a view that has no width yet (hidden dock): redone on the first resize.
UNSIZED_BINS = 1024
#: Autorange bounds snap outwards to a grid of 1-2x this many pixels (x, y), so a growing curve moves
#: the axes and restrokes the cached curves every few dozen frames, not every frame.  x grows every
#: frame, so it gets the coarser grid; y (a new extreme) seldom, and a plot is only ~150 px high.
RANGE_STEP_PX = (8, 2)
#: Drawn points stroked every frame: the tail is cut back to TAIL_MIN once it outgrows TAIL_MAX.
TAIL_MIN, TAIL_MAX = 8, 64
#: PlotItem context-menu transforms and steps: with one of these on, pyqtgraph's own pipeline draws the curve.
TRANSFORMS = ("fftMode", "derivativeMode", "phasemapMode", "subtractMeanMode", "stepMode")
#: Styles the strokes do not draw: with one of these set, pyqtgraph's own pipeline draws the curve.
FOREIGN_STYLES = ("symbol", "shadowPen", "fillLevel")


def follows_data(view: pg.ViewBox) -> bool:
    """Whether the x range auto-ranges, itself or through the view it is x-linked to: then it is
    about to show all the data (the newest points included), so nothing is clipped."""
    linked = view.linkedView(pg.ViewBox.XAxis)
    return bool(view.autoRangeEnabled()[0] or (linked is not None and linked.autoRangeEnabled()[0]))


class Stroke(pg.PlotCurveItem):
    """A line of a HistoryCurve.  The view reads the bounds of the HistoryCurve alone (a child is
    not one of its items), and only that item tells it when they change: a stroke's new points
    every frame would have it re-read every curve's bounds every frame."""

    def informViewBoundsChanged(self) -> None:  # noqa: N802 - pyqtgraph's name
        return None


class CachedStroke(Stroke):
    """A Stroke drawn once into a device-pixel cache, clipped to its own bounds.

    Rendering into an item cache sets no clip, and without one Qt 6.11 strokes a translucent
    antialiased path ~15x slower (measured: 30-45 ms instead of 2 ms for a 1000-point faint curve).
    """

    def __init__(self, **opts) -> None:  # noqa: ANN003
        super().__init__(**opts)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def paint(self, p: QPainter, opt, widget) -> None:  # noqa: ANN001
        p.setClipRect(self.boundingRect(), Qt.ClipOperation.IntersectClip)
        super().paint(p, opt, widget)


def widened(lo: float | None, hi: float | None) -> tuple[float, float] | tuple[None, None]:
    """(lo, hi), or around a single value a range of half its size (1 around 0): pyqtgraph
    centres a zero-width range on the value but keeps the previous range's width."""
    if lo is None or hi is None or hi > lo:
        return lo, hi
    pad = abs(lo) / 2 or 1.0
    return lo - pad, hi + pad


def plain_lines(opts: dict) -> bool:
    """Whether a PlotDataItem with these options draws plain lines, untransformed: what the strokes draw."""
    return not any(opts.get(k) for k in TRANSFORMS) and all(opts.get(k) is None for k in FOREIGN_STYLES)


def _emptied(stroke: Stroke | None) -> None:
    if stroke is not None and stroke.getData()[0] is not None and len(stroke.getData()[0]):
        stroke.setData([], [])


class HistoryCurve(pg.PlotDataItem):
    """A PlotDataItem for long, often-replaced, finite data with ascending x (see `finite_xy`).

    `getOriginalDataset()`/`xData`/`yData` are the data as given; `getData()` is what is drawn:
    that data mapped to the plot's log mode and, when longer than twice the view's width in
    pixels, reduced by `peak_points` over the visible x range.  Pass `peaks=False` for a smooth
    curve: a point a run draws the same line with half the vertices to stroke.

    Plain lines are drawn by `body` and `tail`; with symbols, a fill, a shadow, steps or a
    context-menu transform (FFT ...), PlotDataItem's own children and pipeline draw instead.
    """

    def __init__(self, pen, name: str | None = None, peaks: bool = True, **opts) -> None:  # noqa: ANN001
        self.peaks = peaks
        # Data given by the per-frame setData, which skips PlotDataItem.setData; None when
        # PlotDataItem holds the data (it was given another way, or its own pipeline draws).
        self._given: tuple[np.ndarray, np.ndarray] | None = None
        self._shown: tuple[np.ndarray, np.ndarray] | None = None  # everything drawn: body, then tail
        self._bins: tuple[int, int, int] | None = None  # (run length, lo, hi) of what is drawn
        self._bounds: tuple[tuple, tuple] | None = None  # of all the data, in view coordinates
        self._informed: tuple | None = None  # what the view was last told its autorange would read
        self._stroke_style: tuple | None = None  # (pen, antialias) the strokes draw with
        # Whether the strokes draw (`plain_lines`): an option changes only with an updateItems() call after it.
        self._native = True
        self.tail: Stroke | None = None  # created once PlotDataItem is
        self.body: CachedStroke | None = None
        self.dot: pg.ScatterPlotItem | None = None  # a lone point: a line through one point draws nothing
        super().__init__(pen=pen, name=name, skipFiniteCheck=True, connect="all", **opts)
        self.tail = Stroke(connect="all", skipFiniteCheck=True)
        self.body = CachedStroke(connect="all", skipFiniteCheck=True)  # added last: drawn over the tail
        for stroke in (self.tail, self.body):
            stroke.setParentItem(self)
        self.dot = pg.ScatterPlotItem(size=7, pen=None)
        self.dot.setParentItem(self)
        self.updateItems(styleUpdate=True)

    @property
    def xData(self) -> np.ndarray | None:  # noqa: N802 - pyqtgraph's name
        return self.getOriginalDataset()[0]

    @property
    def yData(self) -> np.ndarray | None:  # noqa: N802
        return self.getOriginalDataset()[1]

    def setData(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        """setData(x, y) with new numbers only (two 1-D arrays), the per-frame case, skips
        PlotDataItem.setData: it re-parses its arguments and walks every option each time (~0.03 ms
        a curve, ten curves a frame).  Anything else (styles, keywords, lists, empty data) takes that way."""
        if not kwargs and len(args) == 2 and self.tail is not None and self._native:
            x, y = args
            if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == y.ndim == 1 and len(x) == len(y) > 0:
                self._given = (x, y)
                self._draw()
                self.informViewBoundsChanged()
                self.sigPlotChanged.emit(self)
                return
        self._given = None
        super().setData(*args, **kwargs)

    def getOriginalDataset(self) -> tuple[None, None] | tuple[np.ndarray, np.ndarray]:  # noqa: N802
        return self._given if self._given is not None else super().getOriginalDataset()

    def getData(self) -> tuple[None, None] | tuple[np.ndarray, np.ndarray]:  # noqa: N802
        if not self._native:
            return super().getData()
        return (None, None) if self._shown is None else self._shown

    def clear(self) -> None:
        self._given = None
        super().clear()
        self.updateItems(styleUpdate=False)

    def updateItems(self, styleUpdate: bool = True) -> None:  # noqa: N803 - pyqtgraph's names
        """Draw with the strokes, or hand over to PlotDataItem (given the latest data first).
        PlotDataItem calls this after every change of data or options (its documented role)."""
        self._native = plain_lines(self.opts)
        if not self._native:
            if self._given is not None:
                x, y = self._given
                self._given = None
                super().setData(x, y)  # which comes back here, PlotDataItem now holding the data
                return
            self._forget()
            super().updateItems(styleUpdate)
            return
        if self.tail is None:  # inside PlotDataItem.__init__: __init__ draws once the strokes exist
            return
        self.curve.hide()  # PlotDataItem's own line and symbols: shown by its pipeline only
        self.scatter.hide()
        pen, antialias = self.opts["pen"], self.opts["antialias"]
        old = self._stroke_style
        if old is None or old[0] is not pen or old[1] != antialias:  # setPen() ...: the strokes follow
            self._stroke_style = (pen, antialias)
            for stroke in (self.tail, self.body):
                stroke.setData(pen=pen, antialias=antialias)  # and no points: the body is cut anew below
        self._draw()

    def _forget(self) -> None:
        """The strokes draw nothing."""
        self._shown = self._bins = None
        _emptied(self.body)
        _emptied(self.tail)
        if self.dot is not None:
            self.dot.hide()

    def _draw(self) -> None:
        """What is drawn, from the data and the view; only the tail is stroked anew while points are appended."""
        self._bounds = None
        x, y = self.getOriginalDataset()
        if x is None or y is None or not len(x):
            self._forget()
            return
        self._shown = self._display(x, y)
        self.tail.setData(*self._split_tail(*self._shown))
        lone = len(self._shown[0]) == 1
        if lone:
            color = pg.mkColor(self.opts["pen"].color())
            color.setAlpha(255)  # a faint curve's lone point must still be seen
            self.dot.setData(*self._shown, brush=pg.mkBrush(color))
        self.dot.setVisible(lone)

    def _window(self, x: np.ndarray) -> tuple[int, int, int]:
        """(run length, first, end) of the points to draw, for the view as it is now."""
        view = self.getViewBox()
        lo, hi, bins = 0, len(x), UNSIZED_BINS
        if view is not None:
            if view.width() >= 16:
                bins = int(view.width())
            if not follows_data(view):  # zoomed in by the user: draw what is in view, one point beyond
                x0, x1 = view.viewRange()[0]
                lo = max(int(np.searchsorted(x, x0)) - 1, 0)
                hi = min(int(np.searchsorted(x, x1, side="right")) + 1, len(x))
        return (hi - lo) // bins, lo, hi

    def _display(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ds, lo, hi = self._bins = self._window(x)
        if ds < 2:
            px, py = x[lo:hi], y[lo:hi]
        elif self.peaks:
            px, py = peak_points(x, y, lo, hi, (hi - lo) // ds)
        else:  # the first point, the last of each run, and the very last
            keep = np.unique(np.r_[lo, np.arange(lo + ds - 1, hi, ds), hi - 1])
            px, py = x[keep], y[keep]
        logx, logy = self.opts["logMode"]
        if logx or logy:  # only what is drawn is mapped; 0 and below have no place on a log axis
            with np.errstate(divide="ignore", invalid="ignore"):
                px, py = (np.log10(px) if logx else px), (np.log10(py) if logy else py)
            keep = np.isfinite(px) & np.isfinite(py)
            if not keep.all():
                px, py = px[keep], py[keep]
        return px, py

    def _split_tail(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep the body if it is still the start of what is drawn (true while points are only
        appended); otherwise cut a new one.  Returns the tail, which overlaps the body by one point."""
        bx, by = self.body.getData()
        start = 0 if bx is None else len(bx) - 1
        if not (0 < start < len(x) <= start + TAIL_MAX and np.array_equal(x[: start + 1], bx)
                and np.array_equal(y[: start + 1], by)):
            start = len(x) - TAIL_MIN if len(x) > TAIL_MAX else 0
            start -= start % 2  # a run's min and max stay together
            if start:
                self.body.setData(x[: start + 1], y[: start + 1])
            else:
                _emptied(self.body)
        return x[start:], y[start:]

    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):  # noqa: ANN001, ANN201, N803
        """Bounds of all the data, not only the drawn part, so autorange still sees everything
        while clipped to a zoom; snapped (see `snapped_bounds`); computed once per change."""
        if not self._native:
            return super().dataBounds(ax, frac, orthoRange)
        if self._shown is None:
            return None, None
        if frac != 1.0 or orthoRange is not None:  # a percentile or visible-only autorange (context menu)
            parts = [b for b in (s.dataBounds(ax, frac, orthoRange) for s in (self.body, self.tail)) if b[0] is not None]
            return (min(b[0] for b in parts), max(b[1] for b in parts)) if parts else (None, None)
        if self._bounds is None:
            ds, lo, hi = self._bins
            x, y = self.getOriginalDataset()
            if (self.peaks or ds < 2) and (lo, hi) == (0, len(x)):
                # Everything is drawn, extremes included (and already in log10): read the few drawn points.
                xs, ys = extent(self._shown[0]), extent(self._shown[1])
            else:
                logx, logy = self.opts["logMode"]
                xs, ys = extent(x, logx), extent(y, logy)
            view = self.getViewBox()
            width, height = (view.width(), view.height()) if view is not None else (0.0, 0.0)
            xs, ys = widened(*xs), widened(*ys)  # one point: a range around it, not the old run's width
            self._bounds = (snapped_bounds(*xs, width, RANGE_STEP_PX[0]), snapped_bounds(*ys, height, RANGE_STEP_PX[1]))
        return self._bounds[ax]

    def pixelPadding(self) -> float:  # noqa: N802
        return self.tail.pixelPadding() if self.tail is not None and self._native else super().pixelPadding()

    def informViewBoundsChanged(self) -> None:  # noqa: N802
        """Tell the view only when what its autorange reads changed: with snapped bounds, every
        few dozen frames instead of every frame for every curve."""
        key = (self.isVisible(), self._native, self.dataBounds(0), self.dataBounds(1))
        if key != self._informed:
            self._informed = key
            super().informViewBoundsChanged()

    def viewRangeChanged(self, vb=None, ranges=None, changed=None) -> None:  # noqa: ANN001
        """Recompute only if the visible window or the pixel width changed what is drawn: while
        the plot follows the data, a scrolling x range changes nothing here."""
        if not self._native:
            super().viewRangeChanged(vb, ranges, changed)
        elif self._bins is not None and self._window(self.getOriginalDataset()[0]) != self._bins:
            self._draw()

    def viewTransformChanged(self) -> None:  # noqa: N802 - a resize changes the pixel width, hence the runs
        super().viewTransformChanged()
        self.viewRangeChanged()


def history_curve(owner: pg.PlotItem | pg.ViewBox, pen, name: str | None = None, **opts) -> HistoryCurve:  # noqa: ANN001
    """A HistoryCurve added to `owner`.  The plot's context menu is set to what the curve does
    (peak downsampling, clipped to the view); pyqtgraph applies it only where it draws (symbols, FFT ...)."""
    if isinstance(owner, pg.PlotItem):
        owner.setClipToView(True)
        owner.setDownsampling(auto=True, mode="peak")
    curve = HistoryCurve(pen=pen, name=name, **opts)
    owner.addItem(curve)
    return curve
