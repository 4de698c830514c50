"""Weight, gradient and activation distributions over time: one heatmap per layer (iteration x value).

Colour is the count of values in a bin, on a log scale (log10(1 + count)) with levels fixed at
the number of values per histogram, so a colour means the same count in every column and frame.
Bin edges are the engine's, fixed per run (training/histograms.py): values beyond them sit in
the top or bottom row.  Gradients and activations are binned by log10 of their magnitude, so the
axis there reads in powers of ten.  Hovering a heatmap says the iteration(s), the value range
and the count.  Drawn from a DistributionHistory; redrawn only when it changed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from ...training.distributions import Distribution, DistributionHistory
from ...training.types import LAYERS
from .history_plot import SpacedAxis

KIND_TITLES = {"weight": "Weights", "grad": "Gradients", "activation": "Activations"}
#: The value axis of each kind; log kinds are binned by log10 |value| and ticked in powers of ten.
AXIS_TITLES = {"weight": "weight value", "grad": "|gradient|, log scale", "activation": "|activation|, log scale"}
COLORMAP = "viridis"
HOVER_HINT = "Hover a heatmap: iteration, value range and count"
PLOT_MIN_WIDTH = 110  # a heatmap with its value axis: narrower, the tick labels crowd the picture
ROW_EXTRA = 40  # a row's first heatmap also carries the axis title, and the panel its margins


def heat_image(d: Distribution) -> tuple[np.ndarray, tuple[float, float]]:
    """(bins, columns) float32 log10(1 + count), row 0 = lowest bin, and its fixed levels."""
    total = float(d.counts.sum(1).max()) if d.counts.size else 1.0  # values per histogram
    image = np.ascontiguousarray(np.log10(1.0 + d.counts.T, dtype=np.float32))
    return image, (0.0, float(np.log10(1.0 + max(total, 1.0))))


def column_step(d: Distribution) -> float:
    """Iterations per heatmap column (columns are drawn evenly spaced, centred on their iteration)."""
    n = len(d.iterations)
    return float(d.iterations[-1] - d.iterations[0]) / (n - 1) if n > 1 else 1.0


def value_text(lo: float, hi: float, log: bool) -> str:
    return f"|value| {lo:.3g} to {hi:.3g}" if log else f"value {lo:.3g} to {hi:.3g}"


class DistributionPanel(QWidget):
    """A kind chooser (weights / gradients / activations), five heatmaps (conv1 ... fc3) and a hover readout."""

    kind_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = "weight"
        self.buttons = QButtonGroup(self)
        top = QHBoxLayout()
        for kind, title in KIND_TITLES.items():
            button = QRadioButton(title)
            button.setChecked(kind == self.kind)
            button.toggled.connect(lambda on, k=kind: on and self.set_kind(k))
            self.buttons.addButton(button)
            top.addWidget(button)
        top.addStretch(1)
        # Its own wrapped line: beside the buttons its longest text set the panel's width.
        self.readout = QLabel(HOVER_HINT)
        self.readout.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.readout)
        layout.addWidget(self.graphics, 1)
        cmap = pg.colormap.get(COLORMAP)
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        for col, layer in enumerate(LAYERS):
            plot = self.graphics.addPlot(row=0, col=col, title=layer, axisItems={"bottom": SpacedAxis("bottom")})
            plot.setMinimumWidth(PLOT_MIN_WIDTH)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setLabel("bottom", "iteration")
            plot.getAxis("left").enableAutoSIPrefix(False)  # it would rescale small weights to "(x0.001)"
            plot.getAxis("bottom").enableAutoSIPrefix(False)  # iterations are read as they are
            image = pg.ImageItem(axisOrder="row-major")
            image.setColorMap(cmap)
            plot.addItem(image)
            self.plots[layer], self.images[layer] = plot, image
        self.shown: dict[str, Distribution] = {}
        self._history: DistributionHistory | None = None
        self._key: tuple | None = None
        self.per_row = len(LAYERS)
        self._label_axes()
        self.graphics.scene().sigMouseMoved.connect(self.hover)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        """As many heatmaps a row as fit (five, or three and two): in one row the five needed ~600 px,
        and in the 400-px dock of a 1280-px screen two of them were off to the right."""
        super().resizeEvent(event)
        per_row = max(1, min(len(LAYERS), (event.size().width() - ROW_EXTRA) // PLOT_MIN_WIDTH))
        per_row = len(LAYERS) if per_row >= len(LAYERS) else -(-len(LAYERS) // -(-len(LAYERS) // per_row))
        if per_row != self.per_row:
            self.per_row = per_row
            for plot in self.plots.values():
                self.graphics.ci.removeItem(plot)
            for k, plot in enumerate(self.plots.values()):
                self.graphics.ci.addItem(plot, row=k // per_row, col=k % per_row)
            self._label_axes()

    def set_kind(self, kind: str) -> None:
        """Show `kind` ("weight", "grad" or "activation"), redrawn from the last history."""
        if kind == self.kind:
            return
        self.kind = kind
        for button in self.buttons.buttons():
            button.blockSignals(True)
            button.setChecked(button.text() == KIND_TITLES[kind])
            button.blockSignals(False)
        self._label_axes()
        self._key = None
        if self._history is not None:
            self.show(self._history)
        self.kind_changed.emit(kind)

    def _label_axes(self) -> None:
        log = self.kind != "weight"
        for i, plot in enumerate(self.plots.values()):
            plot.getAxis("left").setLogMode(False, log)  # ticks as powers of ten where the bins are log10
            plot.setLabel("left", AXIS_TITLES[self.kind] if i % self.per_row == 0 else "")  # each row's first

    def show(self, history: DistributionHistory | None = None) -> None:  # type: ignore[override]
        """Draw `history`'s heatmaps of the chosen kind; cheap when nothing changed.  `show()` shows the widget."""
        if history is None:
            super().show()
            return
        self._history = history
        key = (id(history), history.version, self.kind)
        if key == self._key:
            return
        self._key = key
        for layer in LAYERS:
            d = history.distribution(self.kind, layer)
            self.shown[layer] = d
            image = self.images[layer]
            if not len(d.iterations):
                image.clear()
                continue
            data, levels = heat_image(d)
            image.setImage(data, levels=levels, autoLevels=False)
            step = column_step(d)
            image.setRect(QRectF(d.iterations[0] - step / 2, d.edges[0], step * len(d.iterations), d.edges[-1] - d.edges[0]))
            self.plots[layer].setRange(xRange=(d.iterations[0] - step / 2, d.iterations[-1] + step / 2),
                                       yRange=(d.edges[0], d.edges[-1]), padding=0)

    def describe(self, layer: str, x: float, y: float) -> str | None:
        """What the heatmap of `layer` shows at view point (x, y): iteration(s), value range, count."""
        d = self.shown.get(layer)
        if d is None or not len(d.iterations) or not d.edges[0] <= y <= d.edges[-1]:
            return None
        column = int(round((x - d.iterations[0]) / column_step(d)))
        if not 0 <= column < len(d.iterations):
            return None
        bins = len(d.edges) - 1
        b = min(int((y - d.edges[0]) / (d.edges[-1] - d.edges[0]) * bins), bins - 1)
        lo, hi = d.value_range(b)
        last = int(d.iterations[column])
        first = int(d.iterations[column - 1]) + 1 if column else 1
        when = f"iteration {last:,}" if d.stride == 1 else f"iterations {first:,}-{last:,} (mean)"
        edge = " (and beyond)" if b in (0, bins - 1) else ""
        return f"{layer} {KIND_TITLES[self.kind].lower()}: {when} · {value_text(lo, hi, d.log_magnitude)}{edge} · count {d.counts[column, b]:.4g}"

    def hover(self, scene_pos: QPointF) -> None:
        """Scene mouse position -> the readout line (connected to the scene's sigMouseMoved)."""
        for layer, plot in self.plots.items():
            if plot.vb.sceneBoundingRect().contains(scene_pos):
                point = plot.vb.mapSceneToView(scene_pos)
                text = self.describe(layer, point.x(), point.y())
                self.readout.setText(text or HOVER_HINT)
                return
        self.readout.setText(HOVER_HINT)

    def clear(self) -> None:
        """Forget everything shown (training was reset)."""
        self._history, self._key = None, None
        self.shown = {}
        for image in self.images.values():
            image.clear()
