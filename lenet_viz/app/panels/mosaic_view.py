"""One titled mosaic image in a ViewBox: the building block the feature maps and the filter inspector share."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGraphicsRectItem

from .mosaic import Grid, clamp_infinities

SEPARATOR_COLOR = "#505050"  # drawn under the mosaic; the NaN separators let it through
HIGHLIGHT_COLOR = "#ff9f1c"
DEAD_COLOR = "#e6194b"  # a channel whose ReLU output was zero for the whole batch
TITLE_HEIGHT = 24
TITLE_POINT_SIZES = (11, 10, 9, 8)  # largest first; a title's width is its cell's minimum, so narrow panels step down
VIEW_PADDING = 0.02


class MosaicView:
    """A titled ViewBox holding one mosaic ImageItem: aspect locked, row 0 at the top, fixed range, no mouse.

    Also used by the filter inspector.  `frame` is a rectangle (created once) that marks one cell.
    """

    def __init__(self, layout: pg.GraphicsLayout, title: str, grid: Grid, colormap: str | pg.ColorMap | None) -> None:
        self.grid = grid
        layout.setContentsMargins(0, 0, 0, 0)  # Qt's default margins, nested, ate a fifth of the height
        layout.setSpacing(0)
        self.title = layout.addLabel(title, row=0, col=0, size=f"{TITLE_POINT_SIZES[0]}pt")
        self.title.setMaximumHeight(TITLE_HEIGHT)
        self.title.item.document().setDocumentMargin(1)  # Qt's 4-px text margin, on every side, widened each cell
        self.view = layout.addViewBox(row=1, col=0, lockAspect=True, enableMouse=False, enableMenu=False, invertY=True)
        h, w = grid.shape
        under = QGraphicsRectItem(QRectF(0, 0, w, h))
        under.setPen(pg.mkPen(None))
        under.setBrush(pg.mkBrush(SEPARATOR_COLOR))
        under.setZValue(-1)
        self.view.addItem(under)
        self.item = pg.ImageItem(axisOrder="row-major")
        if colormap is not None:
            self.item.setColorMap(pg.colormap.get(colormap) if isinstance(colormap, str) else colormap)
        self.view.addItem(self.item)
        self.frame = QGraphicsRectItem()
        self.frame.setPen(pg.mkPen(HIGHLIGHT_COLOR, width=3, cosmetic=True))
        self.frame.setZValue(10)
        self.frame.hide()
        self.view.addItem(self.frame)
        self.view.setRange(xRange=(0, w), yRange=(0, h), padding=VIEW_PADDING)
        self.view.disableAutoRange()
        self.dead_marks: list[QGraphicsRectItem] = []  # one per cell, made on first use
        self.dead: tuple[int, ...] = ()

    def show(self, maps: np.ndarray, levels: tuple[float, float]) -> None:
        self.item.setImage(clamp_infinities(self.grid.tile(maps), levels), levels=levels, autoLevels=False)

    def mark_dead(self, dead: np.ndarray | None) -> None:
        """Cross out the cells whose channel is dead (its ReLU output zero for every image of the batch)."""
        cells = tuple(int(k) for k in np.flatnonzero(dead)) if dead is not None else ()
        if cells == self.dead:
            return
        self.dead = cells
        while len(self.dead_marks) < self.grid.n:
            x, y, w, h = self.grid.rect(len(self.dead_marks))
            box = QGraphicsRectItem(QRectF(x, y, w, h))
            box.setPen(pg.mkPen(DEAD_COLOR, width=2, style=Qt.PenStyle.DashLine, cosmetic=True))
            box.setZValue(9)
            box.setToolTip("dead: this channel's ReLU output was 0 for every image of the last batch")
            self.view.addItem(box)
            self.dead_marks.append(box)
        for k, box in enumerate(self.dead_marks):
            box.setVisible(k in cells)

    def mark(self, k: int | None) -> None:
        """Frame cell k, or hide the frame for None / an index outside the grid."""
        if k is None or not 0 <= k < self.grid.n:
            self.frame.hide()
            return
        x, y, w, h = self.grid.rect(k)
        self.frame.setRect(QRectF(x, y, w, h))
        self.frame.show()
