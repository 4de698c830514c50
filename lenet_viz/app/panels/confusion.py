"""Where the network errs: the held-out confusion matrix, the most-confused pairs, and a gallery.

Rows are true labels, columns predictions.  The diagonal (right answers) is green by the row's
accuracy; the errors are coloured against the largest error, so a dozen 4 -> 9 mistakes stand
out next to a diagonal of a thousand.  Click a cell or a pair: `cell_requested(true, predicted)`,
answered with `show_gallery(Trainer.gallery(...))`.  Click an example: `probe_requested(index)`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QImage, QPixmap, QTransform
from PySide6.QtWidgets import (
    QBoxLayout, QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem, QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
    QScrollArea, QToolButton, QVBoxLayout, QWidget,
)

from ...training.confusion import CLASSES, GALLERY_LIMIT, Gallery, most_confused
from .common import QUIET_COLOR, RIGHT_COLOR, WRONG_COLOR, first_that_fits

ERROR_CMAP = "inferno"
EMPTY_RGB = np.array([0x1B, 0x1D, 0x22], dtype=np.float64)  # a cell nobody landed in: the panel's own background
PAIRS = 5
MATRIX_MIN = 260  # the matrix's smallest side in px (a 1280-px screen's left column): ~22-px cells, counts at 6 pt
COUNT_POINT_SIZES = (10, 9, 8, 7, 6)  # the counts' sizes, largest first (see _fit_counts)
THUMB = 80  # gallery thumbnails: 32 px images at 2.5x, readable from the back row
GALLERY_COLUMNS = 3
SELECTED_COLOR = "#f2a900"
DARK_TEXT, LIGHT_TEXT = QColor("#111111"), QColor("#f0f0f0")  # a count on a bright cell, on a dark one
EMPTY = "no confusion matrix yet: press Refresh"
#: A count is on its way (Refresh, the dock opened, a new run while watched): paused it comes at once.
COUNTING = "counting every held-out image… (while training runs, in a tenth of its time)"
RECOUNTING = " · recounting…"
GALLERY_HINT = "click a cell to see its images, an image to probe it"


def empty_rgb() -> np.ndarray:
    """(10, 10, 3) uint8: every cell empty, before any count."""
    return np.broadcast_to(EMPTY_RGB.astype(np.uint8), (CLASSES, CLASSES, 3)).copy()


def matrix_rgb(matrix: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(10, 10, 3) uint8 colours: diagonal green by row accuracy, errors by count against the largest error."""
    counts = np.asarray(matrix, dtype=np.float64)
    rgb = np.empty((*counts.shape, 3), dtype=np.float64)
    rgb[:] = EMPTY_RGB
    off = ~np.eye(len(counts), dtype=bool)
    worst = counts[off].max(initial=0.0)
    errors = off & (counts > 0)
    if worst > 0:
        rgb[errors] = lut[(64 + 191 * counts[errors] / worst).astype(np.intp)]  # the faintest error still shows
    rows = counts.sum(axis=1)
    accuracy = np.divide(np.diag(counts), rows, out=np.zeros(len(counts)), where=rows > 0)
    green = np.array([0x3C, 0x96, 0x40], dtype=np.float64)
    diag = np.arange(len(counts))
    rgb[diag, diag] = EMPTY_RGB + (green - EMPTY_RGB) * (0.25 + 0.75 * accuracy[:, None])
    return rgb.astype(np.uint8)


class CountLabel(QGraphicsSimpleTextItem):
    """A cell's count, centred on its position and a fixed size on screen.  Qt's own C++ text item:
    pyqtgraph's TextItem costs ~0.5 ms each to make (100 of them: a tenth of a second at launch) and
    runs Python for its bounds and paint on every frame."""

    def __init__(self, font: QFont) -> None:
        super().__init__()
        self.setFont(font)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._centre()

    def setFont(self, font: QFont) -> None:  # noqa: N802 - Qt's name
        super().setFont(font)
        self._centre()

    def _centre(self) -> None:
        box = self.boundingRect()
        self.setTransform(QTransform.fromTranslate(-box.width() / 2, -box.height() / 2))


def thumbnail(image: np.ndarray) -> QPixmap:
    """A 32x32 intensity image (0 black, 1 white) as a crisp THUMB-px pixmap."""
    grey = np.ascontiguousarray(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255, dtype=np.uint8)
    qimage = QImage(grey.data, grey.shape[1], grey.shape[0], grey.shape[1], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(qimage.copy()).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)


class ConfusionPanel(QWidget):
    """The matrix with its counts, the most-confused pairs, and the examples of one cell."""

    cell_requested = Signal(int, int)  # (true, predicted): please answer with show_gallery(...)
    probe_requested = Signal(int)  # a held-out index the user wants as the probe
    refresh_requested = Signal()  # recompute the matrix now

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lut = pg.colormap.get(ERROR_CMAP).getLookupTable(nPts=256, alpha=False).astype(np.float64)
        self._matrix: np.ndarray | None = None
        self._indices: list[int] = []
        self.status = QLabel(EMPTY)
        self.status.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Predict every held-out image now and recount")
        self.refresh_button.clicked.connect(self.refresh_requested)
        head = QHBoxLayout()
        head.addWidget(self.status, 1)
        head.addWidget(self.refresh_button)
        self._build_matrix()
        self.pairs = QListWidget()
        self.pairs.setToolTip("The commonest mistakes: click one to see its examples")
        self.pairs.setMaximumHeight(self.pairs.fontMetrics().lineSpacing() * (PAIRS + 1) + 8)
        self.pairs.itemClicked.connect(lambda item: self._request(*item.data(Qt.ItemDataRole.UserRole)))
        self.gallery_title = QLabel(GALLERY_HINT)
        self.gallery_title.setWordWrap(True)
        self._build_gallery()
        right = QVBoxLayout()
        right.addWidget(QLabel("most confused (true → predicted)"))
        right.addWidget(self.pairs)
        right.addWidget(self.gallery_title)
        right.addWidget(self.gallery_scroll, 1)
        self.body = body = QHBoxLayout()
        body.addWidget(self.graphics, 3)
        body.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(head)
        layout.addLayout(body, 1)
        #: Below this width the pairs and the gallery go under the matrix, not beside it.
        self.side_by_side_width = (self.graphics.minimumWidth() + self.gallery_scroll.minimumWidth()
                                   + body.spacing() + 8 + 16)

    # ---------------------------------------------------------------- layout
    def event(self, event: QEvent) -> bool:
        """Follow the width of the scroll area's viewport we are put in (a dock's): that, not our own
        width (never below our minimum), says whether the matrix and the list fit side by side."""
        if event.type() == QEvent.Type.ParentChange and self.parentWidget() is not None:
            self.parentWidget().installEventFilter(self)
        return super().event(event)

    def eventFilter(self, watched, event: QEvent) -> bool:  # noqa: ANN001, N802 - Qt's name
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._fit(event.size().width())
        return False

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        super().resizeEvent(event)
        parent = self.parentWidget()
        self._fit(parent.width() if parent is not None else event.size().width())

    def _fit(self, width: int) -> None:
        """Matrix | list side by side where both fit, else stacked: in its first-launch dock (~400-480 px)
        the side-by-side panel was ~660 px wide, its last rows and the list cut off."""
        beside = width >= self.side_by_side_width
        direction = QBoxLayout.Direction.LeftToRight if beside else QBoxLayout.Direction.TopToBottom
        if self.body.direction() != direction:
            self.body.setDirection(direction)
        # Under the matrix, as many tiles a row as the width holds (one at least): three made the panel
        # ~390 px wide, wider than the dock at 1280 px.
        columns = GALLERY_COLUMNS
        if not beside:
            columns = 1
            while columns < GALLERY_COLUMNS and self._gallery_width(columns + 1) <= width - 8:
                columns += 1
        self._place_tiles(columns)
        self.gallery_scroll.setMinimumWidth(self._gallery_width(columns))

    def _build_matrix(self) -> None:
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(MATRIX_MIN, MATRIX_MIN)
        self.plot = self.graphics.addPlot(enableMenu=False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setRange(xRange=(0, CLASSES), yRange=(0, CLASSES), padding=0.01)
        self.plot.setLabel("left", "true label", **{"font-size": "11pt"})
        self.plot.setLabel("bottom", "predicted", **{"font-size": "11pt"})
        digits = QFont(self.font())
        digits.setPointSize(11)
        digits.setBold(True)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setTicks([[(k + 0.5, str(k)) for k in range(CLASSES)]])
            axis.setTickFont(digits)
        self.image = pg.ImageItem(empty_rgb(), axisOrder="row-major", levels=(0, 255))
        self.plot.addItem(self.image)
        count_font = QFont(self.font())
        count_font.setPointSize(COUNT_POINT_SIZES[0])
        count_font.setBold(True)
        self.count_font = count_font
        self.count_items: list[list[CountLabel]] = []
        for t in range(CLASSES):
            row = []
            for p in range(CLASSES):
                item = CountLabel(count_font)
                item.setPos(p + 0.5, t + 0.5)
                self.plot.addItem(item, ignoreBounds=True)
                row.append(item)
            self.count_items.append(row)
        self.selection = QGraphicsRectItem()
        self.selection.setPen(pg.mkPen(SELECTED_COLOR, width=3, cosmetic=True))
        self.selection.setZValue(10)
        self.selection.hide()
        self.plot.addItem(self.selection)
        self.graphics.scene().sigMouseClicked.connect(self._clicked)
        self.plot.vb.sigResized.connect(self._fit_counts)

    def _fit_counts(self) -> None:
        """The counts' size follows the cells': the largest of COUNT_POINT_SIZES at which four digits fit a
        cell (a class has up to 1,135 held-out images), so counts never spill into the next cell."""
        cell = min(self.plot.vb.width(), self.plot.vb.height()) / (CLASSES * (1 + 2 * 0.01))
        font = QFont(self.count_font)

        def fits(size: int) -> bool:
            font.setPointSize(size)
            return QFontMetrics(font).horizontalAdvance("0000") <= cell - 2  # a pixel clear of each edge

        font.setPointSize(first_that_fits(COUNT_POINT_SIZES, fits))
        if font.pointSize() != self.count_items[0][0].font().pointSize():
            for row in self.count_items:
                for item in row:
                    item.setFont(font)

    def _build_gallery(self) -> None:
        holder = QWidget()
        grid = QGridLayout(holder)
        grid.setContentsMargins(0, 0, 0, 0)
        self.tiles: list[QToolButton] = []
        for k in range(GALLERY_LIMIT):  # created once, hidden until a gallery fills them
            tile = QToolButton()
            self.tiles.append(tile)
            tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            tile.setIconSize(QSize(THUMB, THUMB))
            tile.setAutoRaise(True)
            tile.setIcon(QIcon(QPixmap(THUMB, THUMB)))
            tile.setText("9 → 9 · 100%\n#10000")  # the widest a tile says: its size, fixed, so tiles never overlap
            tile.setFixedSize(tile.sizeHint())
            tile.clicked.connect(lambda _=False, k=k: self.probe_requested.emit(self._indices[k]))
            tile.hide()
        self._grid, self.columns = grid, 0
        self.gallery_scroll = QScrollArea()
        self.gallery_scroll.setWidget(holder)
        self.gallery_scroll.setWidgetResizable(True)
        self._place_tiles(GALLERY_COLUMNS)
        self.gallery_scroll.setMinimumWidth(self._gallery_width(GALLERY_COLUMNS))

    def _gallery_width(self, columns: int) -> int:
        """The gallery's width with `columns` tiles a row, its scroll bar and frame included."""
        bar = self.gallery_scroll.verticalScrollBar().sizeHint().width()
        tiles = columns * self.tiles[0].width() + (columns - 1) * self._grid.horizontalSpacing()
        return tiles + bar + 2 * self.gallery_scroll.frameWidth() + 2

    def _place_tiles(self, columns: int) -> None:
        """Lay the tiles out `columns` to a row (GALLERY_COLUMNS beside the matrix, as many as fit under it)."""
        if columns == self.columns:
            return
        self.columns = columns
        for k, tile in enumerate(self.tiles):
            self._grid.addWidget(tile, *divmod(k, columns))  # re-adding a widget moves it
        for row in range(self._grid.rowCount()):
            self._grid.setRowStretch(row, 0)
        self._grid.setRowStretch(-(-GALLERY_LIMIT // columns), 1)

    # ---------------------------------------------------------------- input
    def show(self, matrix: np.ndarray | None = None, iteration: int | None = None) -> None:  # type: ignore[override]
        """Draw a 10x10 count matrix (rows true, columns predicted).  No argument: QWidget.show()."""
        if matrix is None:
            super().show()
            return
        counts = np.asarray(matrix, dtype=np.int64)
        self._matrix = counts
        rgb = matrix_rgb(counts, self._lut)
        self.image.setImage(rgb, levels=(0, 255), autoLevels=False)
        bright = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) > 150
        for t in range(CLASSES):
            for p in range(CLASSES):
                n = int(counts[t, p])
                item = self.count_items[t][p]
                item.setText(str(n) if n else "")
                item.setBrush(DARK_TEXT if bright[t, p] else LIGHT_TEXT)
        total = int(counts.sum())
        right = int(np.trace(counts))
        when = f"after iteration {iteration:,} · " if iteration is not None else ""
        accuracy = f"{100 * right / total:.1f}%" if total else "n/a"
        self.status.setText(f"{when}{right:,} of {total:,} held-out images right ({accuracy})")
        self.pairs.clear()
        for t, p, n in most_confused(counts, PAIRS):
            item = QListWidgetItem(f"{t} → {p}   {n:,} image{'s' if n != 1 else ''}")
            item.setData(Qt.ItemDataRole.UserRole, (t, p))
            self.pairs.addItem(item)
        if not self.pairs.count():
            self.pairs.addItem("no mistakes" if total else "")

    def counting(self) -> None:
        """A count was asked for: say so until its matrix comes; a matrix on screen stays, marked as being recounted."""
        text = self.status.text()
        if self._matrix is None:
            self.status.setText(COUNTING)
        elif not text.endswith(RECOUNTING):
            self.status.setText(text + RECOUNTING)

    def clear(self, counting: bool = False) -> None:
        """No matrix: the weights it described are gone (a reset, another run).  Empty cells, no pairs, no
        examples; `counting`: a new count is on its way."""
        self._matrix = None
        self._indices = []
        self.image.setImage(empty_rgb(), levels=(0, 255), autoLevels=False)
        for row in self.count_items:
            for item in row:
                item.setText("")
        self.selection.hide()
        self.pairs.clear()
        for tile in self.tiles:
            tile.hide()
        self.gallery_title.setText(GALLERY_HINT)
        self.gallery_title.setStyleSheet("")
        self.status.setText(COUNTING if counting else EMPTY)

    def show_gallery(self, gallery: Gallery) -> None:
        """Fill the tiles with one cell's examples; each tile says true → predicted and the confidence."""
        self._select(gallery.true, gallery.predicted)
        self._indices = [int(i) for i in gallery.indices]
        right = gallery.true == gallery.predicted
        what = "right" if right else "wrong"
        shown = f" · top {len(self._indices)}" if gallery.total > len(self._indices) else ""
        self.gallery_title.setText(
            f"<b>true {gallery.true} → predicted {gallery.predicted}</b>: {gallery.total:,} {what}"
            f"<span style='color:{QUIET_COLOR}'>{shown}</span>"
        )
        self.gallery_title.setToolTip("most confident first; click an image to make it the probe")
        self.gallery_title.setStyleSheet(f"color: {RIGHT_COLOR if right else WRONG_COLOR}")
        for k, tile in enumerate(self.tiles):
            if k >= len(self._indices):
                tile.hide()
                continue
            tile.setIcon(QIcon(thumbnail(gallery.images[k])))
            tile.setText(f"{gallery.true} → {gallery.predicted} · {100 * gallery.confidences[k]:.0f}%\n#{self._indices[k]}")
            tile.setToolTip(
                f"held-out image #{self._indices[k]}: label {gallery.true}, predicted {gallery.predicted} "
                f"with {100 * gallery.confidences[k]:.1f}% confidence (iteration {gallery.iteration:,}); click to probe it"
            )
            tile.show()

    # --------------------------------------------------------------- output
    def _clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton or self._matrix is None:
            return
        point = self.plot.vb.mapSceneToView(event.scenePos())
        cell = self.cell_at(point)
        if cell is not None:
            event.accept()
            self._request(*cell)

    @staticmethod
    def cell_at(point: QPointF) -> tuple[int, int] | None:
        """(true, predicted) of the cell under a point in matrix coordinates; None outside."""
        x, y = point.x(), point.y()
        if not (0 <= x < CLASSES and 0 <= y < CLASSES):
            return None
        return int(y), int(x)

    def _request(self, true: int, predicted: int) -> None:
        self._select(true, predicted)
        self.cell_requested.emit(true, predicted)

    def _select(self, true: int, predicted: int) -> None:
        self.selection.setRect(QRectF(predicted, true, 1, 1))
        self.selection.show()


__all__ = ["ConfusionPanel", "matrix_rgb", "most_confused"]
