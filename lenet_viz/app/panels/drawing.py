"""Draw your own digit: a canvas, Clear / Undo, and the 32x32 image the network is fed beside it.

The canvas emits the *preprocessed* image (MNIST's geometry, `lenet_viz.data.drawing`, numpy
only: this process never loads torch) when a stroke ends, and at most every THROTTLE_MS while
the pen moves, so the probe follows the pen live without flooding the engine.  The preview
on the right is what the engine sends back (`show(snapshot)`), not a local guess: it is
exactly what the feature maps and the saliency were computed from.

A pen tablet works as a mouse: Qt turns the tablet events this widget ignores into mouse events.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ...data.drawing import preprocess_drawing
from ...training.types import Snapshot
from .common import NO_LABEL, QUIET_COLOR, to_grey_levels, verdict_color, verdict_text
from .steady_label import SteadyLabel

INK_SIDE = 280  # the canvas's own pixels (10x MNIST's 28): ample for the 20-px box, cheap to preprocess
PEN_WIDTH = 22  # a digit drawn ~200 px tall shrinks to 20 px with ~2-px strokes, as MNIST's pens were
THROTTLE_MS = 80  # while drawing: at most ~12 probes a second reach the engine
CANVAS_MIN = 220  # on-screen side: big enough to draw with a mouse on a projector
FIELD_COLOR = "#f2a900"  # the 28x28 field inside the 32x32 input, dashed

Stroke = tuple[tuple[float, float], ...]
Item = Stroke | QImage  # a pen stroke, or an opened picture


class InkCanvas(QWidget):
    """White ink on black, like MNIST, in INK_SIDE x INK_SIDE pixels drawn square in the widget."""

    stroke_moved = Signal()  # the ink changed and the pen is still down
    stroke_ended = Signal()  # the pen was lifted (or the ink changed at once: Clear, Undo, an opened image)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(CANVAS_MIN, CANVAS_MIN)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse or a pen")
        self._committed = QImage(INK_SIDE, INK_SIDE, QImage.Format.Format_Grayscale8)  # every finished item
        self._image = self._committed  # what is shown and sent: the committed items and the stroke being drawn
        self._items: tuple[Item, ...] = ()
        self._undo: list[tuple[Item, ...]] = []
        self._stroke: list[tuple[float, float]] | None = None
        self._render()

    # ----------------------------------------------------------------- state
    @property
    def is_empty(self) -> bool:
        return not self._items and self._stroke is None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    def ink(self) -> np.ndarray:
        """(INK_SIDE, INK_SIDE) float32 in [0, 1], ink high: what preprocess_drawing takes."""
        bits = np.frombuffer(self._image.constBits(), dtype=np.uint8)
        rows = bits.reshape(INK_SIDE, self._image.bytesPerLine())[:, :INK_SIDE]
        return rows.astype(np.float32) / 255.0

    def clear(self) -> None:
        if self._items:
            self._commit(())

    def undo(self) -> None:
        if self._undo:
            self._items = self._undo.pop()
            self._render()
            self.stroke_ended.emit()

    def set_picture(self, ink: np.ndarray) -> None:
        """Replace the drawing with an opened image's ink (2-D, ink high, [0, 1]), fitted into the canvas."""
        grey = np.ascontiguousarray(np.clip(np.nan_to_num(ink), 0.0, 1.0) * 255.0, dtype=np.uint8)
        h, w = grey.shape
        picture = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()  # copy: grey dies here
        self._commit((picture,))

    def _commit(self, items: tuple[Item, ...]) -> None:
        self._undo.append(self._items)
        self._items = items
        self._render()
        self.stroke_ended.emit()

    # -------------------------------------------------------------- drawing
    def _pen(self) -> QPen:
        pen = QPen(QColor("white"), PEN_WIDTH)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _render(self, items: tuple[Item, ...] | None = None) -> None:
        """Paint `items` over the committed image, or with None every item from scratch (Undo, Clear, an
        opened picture); the shown image starts again from the committed one."""
        if items is None:
            self._committed.fill(0)
        painter = QPainter(self._committed)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for item in self._items if items is None else items:
            if isinstance(item, QImage):
                self._draw_picture(painter, item)
            else:
                self._draw_stroke(painter, item)
        painter.end()
        self._image = self._committed.copy()
        self.update()

    def _draw_stroke(self, painter: QPainter, points: Stroke) -> None:
        painter.setPen(self._pen())
        if len(points) == 1:
            painter.drawPoint(QPointF(*points[0]))
        else:
            painter.drawPolyline([QPointF(x, y) for x, y in points])

    @staticmethod
    def _draw_picture(painter: QPainter, picture: QImage) -> None:
        scale = 0.9 * INK_SIDE / max(picture.width(), picture.height())  # a margin, as a drawn digit has
        w, h = picture.width() * scale, picture.height() * scale
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF((INK_SIDE - w) / 2, (INK_SIDE - h) / 2, w, h), picture)

    def _square(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_ink(self, event: QMouseEvent) -> tuple[float, float]:
        square = self._square()
        pos = event.position()
        scale = INK_SIDE / square.width()
        return (pos.x() - square.x()) * scale, (pos.y() - square.y()) * scale

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._stroke = [self._to_ink(event)]
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_stroke(painter, tuple(self._stroke))
        painter.end()
        self.update()
        self.stroke_moved.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._stroke is None:
            return super().mouseMoveEvent(event)
        point = self._to_ink(event)
        painter = QPainter(self._image)  # only the new segment: drawing stays cheap however long the stroke
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._draw_stroke(painter, (self._stroke[-1], point))
        painter.end()
        self._stroke.append(point)
        self.update()
        self.stroke_moved.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._stroke is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(event)
        stroke, self._stroke = tuple(self._stroke), None
        self._undo.append(self._items)
        self._items = (*self._items, stroke)
        # Over the strokes before it, as one polyline: the same pixels Undo will redraw (segments overlap at
        # their joins).  Only the new stroke: redrawing them all cost ~0.5 ms per earlier stroke on each release
        # (30 strokes: 17.8 ms, now 2.9 with the probe sent).
        self._render((stroke,))
        self.stroke_ended.emit()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        square = self._square()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(square, self._image)
        painter.setPen(QPen(QColor("#4a4f58"), 1))
        painter.drawRect(square.adjusted(0, 0, -1, -1))
        if self.is_empty:
            painter.setPen(QColor(QUIET_COLOR))
            painter.drawText(square, Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.end()


class DrawingPanel(QWidget):
    """The canvas, its buttons, and the 32x32 input the engine made of it."""

    #: (1, 32, 32) float32 in [0, 1], ready for Trainer.set_probe; None when the canvas became empty.
    drawing_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = InkCanvas()
        self.clear_button = QPushButton("Clear")
        self.undo_button = QPushButton("Undo")
        self.clear_button.setToolTip("Wipe the canvas")
        self.undo_button.setToolTip("Take back the last stroke (or the last Clear)")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.caption = SteadyLabel("draw a digit: it becomes the probe")
        self.caption.setWordWrap(True)
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.caption.setFont(font)
        self._build_preview()
        left = QVBoxLayout()
        left.addWidget(self.canvas, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        left.addLayout(buttons)
        right = QVBoxLayout()
        right.addWidget(self.preview_title)
        right.addWidget(self.preview_widget, 1)
        right.addWidget(self.caption.holder)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.addLayout(left, 3)
        row.addLayout(right, 2)
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self._emit)
        self.canvas.stroke_moved.connect(self._moved)
        self.canvas.stroke_ended.connect(self._ended)
        self._sync_buttons()

    def _build_preview(self) -> None:
        self.preview_widget = pg.GraphicsLayoutWidget()
        self.preview_widget.setMinimumSize(140, 160)
        # Its size hint (a view's: 640 x 480) is no height to ask for: with the word-wrapped labels beside it
        # the panel asked its scrolling dock for ~570 px and scrolled even where the canvas fitted.
        self.preview_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        # A Qt label above the view, not a pyqtgraph one in it: a LabelItem never wraps, and its one line made the
        # view's scene wider than a narrow dock (the preview was cut off on the right at 1280 and 1920 px).
        self.preview_title = QLabel("as the network sees it · 32×32")
        self.preview_title.setWordWrap(True)
        self.preview_title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.preview_view = self.preview_widget.ci.addViewBox(
            row=0, col=0, lockAspect=True, enableMouse=False, enableMenu=False, invertY=True
        )
        self.preview = pg.ImageItem(np.zeros((32, 32), dtype=np.float32), axisOrder="row-major")
        self.preview_view.addItem(self.preview)
        field = QGraphicsRectItem(QRectF(2, 2, 28, 28))  # MNIST's 28x28 field; the 2-px rim is LeNet-5's padding
        field.setPen(pg.mkPen(FIELD_COLOR, width=1, style=Qt.PenStyle.DashLine, cosmetic=True))
        self.preview_view.addItem(field)
        self.preview_view.setRange(xRange=(0, 32), yRange=(0, 32), padding=0.02)
        self.preview_view.disableAutoRange()

    # ---------------------------------------------------------------- output
    def _moved(self) -> None:
        self._sync_buttons()
        if not self._throttle.isActive():
            self._throttle.start()

    def _ended(self) -> None:
        self._throttle.stop()
        self._sync_buttons()
        self._emit()

    def _emit(self) -> None:
        self.drawing_changed.emit(None if self.canvas.is_empty else self.probe_image())

    def _sync_buttons(self) -> None:
        self.clear_button.setEnabled(not self.canvas.is_empty)
        self.undo_button.setEnabled(self.canvas.can_undo)

    def probe_image(self) -> np.ndarray:
        """The canvas as the engine's probe: (1, 32, 32) float32 in [0, 1], MNIST's geometry."""
        return preprocess_drawing(self.canvas.ink())

    def load_ink(self, ink: np.ndarray) -> None:
        """Put an opened image (`lenet_viz.data.load_image`'s 2-D ink array) on the canvas; Undo takes it back."""
        self.canvas.set_picture(ink)

    # ----------------------------------------------------------------- input
    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Show the probe the engine is using: the drawing as fed to the network, or which held-out image
        replaced it.  No argument: QWidget.show()."""
        if snapshot is None:
            super().show()
            return
        image = snapshot.probe_image
        self.preview.setImage(image, levels=to_grey_levels(image), autoLevels=False)
        probs = snapshot.activations["probabilities"]
        verdict = verdict_text(snapshot.prediction, float(probs[snapshot.prediction]), snapshot.probe_label)
        if snapshot.probe_source == "drawing":
            self.caption.setText(verdict)
        else:  # a held-out image is the probe now: say so, so the preview is not taken for the drawing
            self.caption.setText(f"held-out #{snapshot.probe_index} is the probe · {verdict}")
        style = f"color: {verdict_color(snapshot.prediction, snapshot.probe_label)}"
        if self.caption.styleSheet() != style:  # restyling re-polishes the label: only when the verdict flips
            self.caption.setStyleSheet(style)


__all__ = ["DrawingPanel", "InkCanvas", "NO_LABEL", "INK_SIDE", "PEN_WIDTH", "THROTTLE_MS"]
