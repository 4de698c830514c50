"""What one probe image looks like inside LeNet: every layer's activations, one mosaic per layer."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ...training.types import Snapshot
from .mosaic import FrameGate, Grid, clamp_infinities, robust_levels, square_grid

ACTIVATION_CMAP = "viridis"
SEPARATOR_COLOR = "#505050"  # drawn under the mosaic; the NaN separators let it through
HIGHLIGHT_COLOR = "#ff9f1c"
LEGEND_MIN_WIDTH = 820
RIGHT_COLOR, WRONG_COLOR, LABEL_COLOR, BAR_COLOR = "#3cb44b", "#e6194b", "#4c9be8", "#8a8f98"

#: (key, title, grid) of every image shown, left to right.
MOSAICS: tuple[tuple[str, str, Grid], ...] = (
    ("input", "input<br>1×32×32", Grid(1, 32, 32, cols=1, sep=0)),
    ("conv1", "conv1 → ReLU<br>6×28×28", square_grid(6, 28, 28)),
    ("pool1", "max pool<br>6×14×14", square_grid(6, 14, 14)),
    ("conv2", "conv2 → ReLU<br>16×10×10", square_grid(16, 10, 10)),
    ("pool2", "max pool<br>16×5×5", square_grid(16, 5, 5)),
)


class MosaicView:
    """A titled ViewBox holding one mosaic ImageItem: aspect locked, row 0 at the top, fixed range, no mouse.

    Also used by the filter inspector.  `frame` is a rectangle (created once) that marks one cell.
    """

    def __init__(self, layout: pg.GraphicsLayout, title: str, grid: Grid, colormap: str | pg.ColorMap | None) -> None:
        self.grid = grid
        self.title = layout.addLabel(title, row=0, col=0, size="11pt")
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
        self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.03)
        self.view.disableAutoRange()

    def show(self, maps: np.ndarray, levels: tuple[float, float]) -> None:
        self.item.setImage(clamp_infinities(self.grid.tile(maps), levels), levels=levels, autoLevels=False)

    def mark(self, k: int | None) -> None:
        """Frame cell k, or hide the frame for None / an index outside the grid."""
        if k is None or not 0 <= k < self.grid.n:
            self.frame.hide()
            return
        x, y, w, h = self.grid.rect(k)
        self.frame.setRect(QRectF(x, y, w, h))
        self.frame.show()


def swatch(color: str, text: str) -> str:
    return f"<span style='color:{color}'>■</span> {text}"


class FeatureMapPanel(QWidget):
    """The probe image, each conv/pool layer as a mosaic, fc1/fc2 as bars and the class probabilities."""

    probe_requested = Signal(str)  # "previous" | "next" | "random"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        controls = QHBoxLayout()
        self.probe_buttons: dict[str, QPushButton] = {}
        for text, request in (("◀ Previous", "previous"), ("Next ▶", "next"), ("Random", "random")):
            button = self.probe_buttons[request] = QPushButton(text)
            button.clicked.connect(lambda _=False, r=request: self.probe_requested.emit(r))
            controls.addWidget(button)
        self.probe_label = QLabel("no probe yet")
        font = self.probe_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.probe_label.setFont(font)
        controls.addSpacing(12)
        self.probe_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens a dock
        controls.addWidget(self.probe_label, 1)
        legend = "&nbsp;&nbsp;".join((swatch(RIGHT_COLOR, "right"), swatch(WRONG_COLOR, "wrong"), swatch(LABEL_COLOR, "label")))
        self.legend = QLabel(f"P(digit) bars: {legend}")
        controls.addWidget(self.legend)

        self.graphics = pg.GraphicsLayoutWidget()
        self.views: dict[str, MosaicView] = {}
        for col, (key, title, grid) in enumerate(MOSAICS):
            cmap = None if key == "input" else ACTIVATION_CMAP  # None: plain grayscale, as the digit looks
            self.views[key] = MosaicView(self.graphics.addLayout(row=0, col=col), title, grid, cmap)
        self.mosaic_items: dict[str, pg.ImageItem] = {k: v.item for k, v in self.views.items()}
        self.highlight_rect = self.views["conv1"].frame

        self.bars: dict[str, pg.BarGraphItem] = {}
        plots = self.graphics.addLayout(row=1, col=0, colspan=len(MOSAICS))  # own columns: widths by bar count
        for col, (key, title, n, stretch) in enumerate(
            (("fc1", "fc1 → ReLU  (120)", 120, 5), ("fc2", "fc2 → ReLU  (84)", 84, 4), ("probabilities", "P(digit)", 10, 3))
        ):
            plot = plots.addPlot(row=0, col=col, title=title)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setXRange(-0.7, n - 0.3, padding=0)
            plots.layout.setColumnStretchFactor(col, stretch)
            self.bars[key] = pg.BarGraphItem(x=np.arange(n), height=np.zeros(n), width=0.8, brush=BAR_COLOR, pen=None)
            plot.addItem(self.bars[key])
        plot.setYRange(0, 1, padding=0.02)  # the probabilities: always on the same 0..1 scale
        plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(10)]])
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        self._gate = FrameGate()
        self._probe_ok: bool | None = None

    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Draw `snapshot`; one showing the same thing as the last costs nothing.  No argument: QWidget.show()."""
        if snapshot is None:
            super().show()
            return
        if not self._gate.is_new(snapshot):
            return
        acts = snapshot.activations
        self.views["input"].show(snapshot.probe_image, robust_levels(snapshot.probe_image))
        for name in ("conv1", "pool1", "conv2", "pool2"):
            self.views[name].show(acts[name], robust_levels(acts[name]))
        self.bars["fc1"].setOpts(height=_finite(acts["fc1"]))
        self.bars["fc2"].setOpts(height=_finite(acts["fc2"]))
        probs = _finite(acts["probabilities"])
        ok = snapshot.prediction == snapshot.probe_label
        brushes = [BAR_COLOR] * 10
        brushes[snapshot.probe_label] = LABEL_COLOR
        brushes[snapshot.prediction] = RIGHT_COLOR if ok else WRONG_COLOR
        self.bars["probabilities"].setOpts(height=probs, brushes=brushes)
        p = float(acts["probabilities"][snapshot.prediction])
        self.probe_label.setText(
            f"probe #{snapshot.probe_index} · label {snapshot.probe_label} · "
            f"predicted {snapshot.prediction} ({f'{100 * p:.1f}%' if np.isfinite(p) else 'NaN'})"
        )
        if ok is not self._probe_ok:  # restyling is not free; only when right/wrong flips
            self._probe_ok = ok
            self.probe_label.setStyleSheet(f"color: {RIGHT_COLOR if ok else WRONG_COLOR}")

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        """The bar legend is a luxury: drop it when the probe line needs the room."""
        self.legend.setVisible(event.size().width() >= LEGEND_MIN_WIDTH)
        super().resizeEvent(event)

    def highlight_filter(self, index: int | None) -> None:
        """Frame conv1 feature map `index` (the filter picked in the inspector); None hides the frame."""
        self.views["conv1"].mark(index)


def _finite(values: np.ndarray) -> np.ndarray:
    """Bar heights with NaN as 0 and Inf clipped to the float32 range, so a diverged net still draws."""
    return np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
