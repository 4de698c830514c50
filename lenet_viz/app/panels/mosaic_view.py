"""One titled mosaic image in a ViewBox: the building block the feature maps and the filter inspector share."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem

from .common import first_that_fits
from .mosaic import Grid, clamp_infinities

SEPARATOR_COLOR = "#505050"  # drawn under the mosaic; the NaN separators let it through
HIGHLIGHT_COLOR = "#ff9f1c"
DEAD_COLOR = "#e6194b"  # a channel whose ReLU output was zero for the whole batch
TITLE_HEIGHT = 24
TITLE_POINT_SIZES = (11, 10, 9, 8)  # largest first; a title's width is its cell's minimum, so narrow panels step down
VIEW_PADDING = 0.02


def largest_fitting_size(lines: list[tuple[list[float], float]], spacing: float) -> int:
    """The largest of TITLE_POINT_SIZES at which every line of titles, (widths at the largest size,
    room), fits side by side `spacing` px apart; the smallest when none does."""
    def fits(pt: int) -> bool:
        scale = pt / TITLE_POINT_SIZES[0]
        return all(sum(widths) * scale + spacing * (len(widths) - 1) + 2 <= room for widths, room in lines)

    return first_that_fits(TITLE_POINT_SIZES, fits)


def lookup_table(colormap: str | pg.ColorMap | None) -> np.ndarray:
    """256 RGBA colours, low to high; None: grey, as a digit looks."""
    if colormap is None:
        grey = np.arange(256, dtype=np.uint8)
        return np.stack([grey, grey, grey, np.full(256, 255, np.uint8)], axis=1)
    cmap = pg.colormap.get(colormap) if isinstance(colormap, str) else colormap
    return np.ascontiguousarray(cmap.getLookupTable(nPts=256, alpha=True), dtype=np.uint8)


def colorize(image: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """(h, w) floats -> (h, w, 4) RGBA bytes: levels[0] the first colour, levels[1] the last, NaN transparent."""
    lo, hi = float(levels[0]), float(levels[1])
    span = hi - lo if hi > lo else 1.0
    with np.errstate(invalid="ignore"):
        index = np.clip((image - lo) * (255.0 / span), 0, 255)
    nan = np.isnan(index)
    rgba = lut[np.where(nan, 0, index).astype(np.uint8)]
    rgba[nan] = 0
    return rgba


class MosaicImage(QGraphicsPixmapItem):
    """A float image drawn through a colour map, with ImageItem's few calls the panels use
    (`setImage`, `image`, `levels`, `clear`).

    Qt draws a pixmap item in C++; pyqtgraph's ImageItem ran Python for its bounds and its paint
    on every frame, ~0.5 ms per image (the feature maps show five, 30 times a second).  Pixel (r, c)
    covers x c..c+1, y r..r+1, as in an ImageItem with row-major order; nearest neighbour scaling,
    so each value is a crisp square."""

    def __init__(self, colormap: str | pg.ColorMap | None = None) -> None:
        super().__init__()
        self.image: np.ndarray | None = None
        self._levels = (0.0, 1.0)
        self._lut = lookup_table(colormap)
        self._rgba: np.ndarray | None = None  # the bytes under the pixmap, kept while Qt reads them

    def setImage(self, image: np.ndarray, levels: tuple[float, float], autoLevels: bool = False) -> None:  # noqa: N802, N803 - ImageItem's names
        if autoLevels:
            raise ValueError("MosaicImage takes its levels from the caller")
        self.image = image
        self._levels = (float(levels[0]), float(levels[1]))
        self._rgba = colorize(image, self._levels, self._lut)
        h, w = image.shape
        qimage = QImage(self._rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        self.setPixmap(QPixmap.fromImage(qimage))

    def getLevels(self) -> tuple[float, float]:  # noqa: N802 - ImageItem's name
        return self._levels

    @property
    def levels(self) -> tuple[float, float]:
        """The values drawn as the first and the last colour."""
        return self._levels

    def clear(self) -> None:
        self.image = self._rgba = None
        self.setPixmap(QPixmap())


class MosaicView:
    """A titled ViewBox holding one mosaic image: aspect locked, row 0 at the top, fixed range, no mouse.

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
        self.item = MosaicImage(colormap)
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
