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

    def _style(self, item: QGraphicsPathItem, brush: str | None) -> None:
        item.setPen(self._pen)
        item.setBrush(pg.mkBrush(brush) if brush is not None else Qt.BrushStyle.NoBrush)

    def setOpts(self, height: np.ndarray | None = None, brushes: list[str] | None = None) -> None:  # noqa: N802 - BarGraphItem's name
        if height is not None:
            self.opts["height"] = np.asarray(height, dtype=np.float32)
        if brushes is not None:
            self.opts["brushes"] = list(brushes)
        x, heights = self.opts["x"], self.opts["height"]
        colours = np.array(self.opts["brushes"] or [self._brush] * len(x), dtype=object)
        paths = {c: bar_path(x[colours == c], heights[colours == c], self.opts["width"])
                 for c in {self._brush, *colours.tolist(), *self._others}}
        self.setPath(paths.pop(self._brush))
        for colour, path in paths.items():
            item = self._others.get(colour)
            if item is None:
                item = self._others[colour] = QGraphicsPathItem(self)
                self._style(item, colour)
            item.setPath(path)


def bar_path(x: np.ndarray, heights: np.ndarray, width: float) -> QPainterPath:
    """Closed rectangles from 0 to each height, one subpath a bar, built in one call (no loop in Python)."""
    if len(x) == 0:
        return QPainterPath()
    half = width / 2
    xs = np.stack([x - half, x - half, x + half, x + half, x - half], axis=1).ravel().astype(np.float64)
    zero = np.zeros_like(heights, dtype=np.float64)
    ys = np.stack([zero, heights, heights, zero, zero], axis=1).ravel()
    connect = np.ones(len(xs), dtype=np.int32)
    connect[4::5] = 0  # each bar its own closed outline
    return pg.arrayToQPath(xs, ys, connect=connect)
