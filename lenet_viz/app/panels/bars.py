"""Bar charts drawn by Qt's own path items, for bars redrawn every frame (the feature maps' fc1, fc2 and P(digit))."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem


class Bars(QGraphicsPathItem):
    """n bars at x = 0..n-1 as Qt path items, one per colour, with BarGraphItem's `opts` and `setOpts`
    (height, brushes) that the panel and its tests use.

    Qt draws a path item in C++; pyqtgraph's BarGraphItem ran Python for its bounds (twice a bar plot
    a frame, with pixel vectors) and replayed a picture: ~1.5 ms a frame for the three bar plots."""

    def __init__(self, n: int, brush: str | None, pen=None, width: float = 0.8) -> None:  # noqa: ANN001 - a QPen or None
        super().__init__()
        self.opts: dict = {"x": np.arange(n), "height": np.zeros(n, dtype=np.float32), "brushes": None, "width": width}
        self._brush = brush
        self._pen = pg.mkPen(pen) if pen is not None else pg.mkPen(None)
        self._style(self, brush)
        self._others: dict[str, QGraphicsPathItem] = {}  # bars in another colour (the prediction, the label)
        self._made: tuple[tuple, dict[str, Outline]] | None = None  # (colours, their outlines): see _outlines

    def _style(self, item: QGraphicsPathItem, brush: str | None) -> None:
        item.setPen(self._pen)
        item.setBrush(pg.mkBrush(brush) if brush is not None else Qt.BrushStyle.NoBrush)

    def setOpts(self, height: np.ndarray | None = None, brushes: list[str] | None = None) -> None:  # noqa: N802 - BarGraphItem's name
        if height is not None:
            self.opts["height"] = np.asarray(height, dtype=np.float32)
        if brushes is not None:
            self.opts["brushes"] = list(brushes)
        heights = self.opts["height"]
        outlines = self._outlines()
        self.setPath(outlines[self._brush].path(heights))
        for colour, outline in outlines.items():
            if colour == self._brush:
                continue
            item = self._others.get(colour)
            if item is None:
                item = self._others[colour] = QGraphicsPathItem(self)
                self._style(item, colour)
            item.setPath(outline.path(heights))

    def _outlines(self) -> dict[str, Outline]:
        """Each colour's bars (every colour drawn so far: one no longer used gets none), kept while the
        colours stay the same: a frame then only writes the heights (fc1's 120 bars: 0.23 -> 0.15 ms)."""
        key = (tuple(self.opts["brushes"] or ()), tuple(self._others))
        if self._made is None or self._made[0] != key:
            x, width = self.opts["x"], self.opts["width"]
            colours = np.array(self.opts["brushes"] or [self._brush] * len(x), dtype=object)
            outlines = {c: Outline(x[colours == c], width) for c in {self._brush, *colours.tolist(), *self._others}}
            self._made = (key, outlines)
        return self._made[1]


class Outline:
    """Closed rectangles from 0 to each bar's height, one subpath a bar: the x coordinates and the
    subpath breaks are made once, and `path(heights)` fills in the heights (no loop in Python)."""

    def __init__(self, x: np.ndarray, width: float) -> None:
        half = width / 2
        self.index = np.asarray(x, dtype=np.intp)  # bar k stands at x = k
        self.xs = np.stack([x - half, x - half, x + half, x + half, x - half], axis=1).ravel().astype(np.float64)
        self.connect = np.ones(len(self.xs), dtype=np.int32)
        self.connect[4::5] = 0  # each bar its own closed outline
        self._ys = np.zeros((len(x), 5), dtype=np.float64)

    def path(self, heights: np.ndarray) -> QPainterPath:
        if not len(self.index):
            return QPainterPath()
        self._ys[:, 1] = self._ys[:, 2] = heights[self.index]
        return pg.arrayToQPath(self.xs, self._ys.ravel(), connect=self.connect)
