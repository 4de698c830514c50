"""What one probe image looks like inside LeNet: every layer's activations, one mosaic per layer."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QComboBox, QGraphicsItem, QGraphicsSimpleTextItem, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget,
)

from ...training.types import Snapshot
from .common import LABEL_COLOR, NO_LABEL, RIGHT_COLOR, WRONG_COLOR, verdict_color
from .common import LAYER_COLORS, first_that_fits
from .mosaic import FrameGate, Grid, per_map, robust_levels, square_grid
from .mosaic_view import (  # noqa: F401 - shared with the filter inspector
    HIGHLIGHT_COLOR, TITLE_HEIGHT, TITLE_POINT_SIZES, MosaicImage, MosaicView, largest_fitting_size,
)
from .bars import Bars
from .steady_label import SteadyLabel

ACTIVATION_CMAP = "viridis"
SHAPE_COLOR = "#9aa0a8"  # the "6×28×28" part of a title: there, but quieter than the layer's name
BAR_COLOR = "#8a8f98"
SCALES = ("per layer", "per map")
#: The colour bar's title, longest first: it runs along the bar, which a short panel makes ~100 px long,
#: so it takes the longest that fits (see `_fit_colorbar_title`).
COLORBAR_LABELS = {"per layer": ("each layer: its min → max", "layer: min → max", "per layer"),
                   "per map": ("each map: its min → max", "map: min → max", "per map")}
NUMBERED = ("conv1", "pool1", "conv2")  # maps of 10 px and more: a number in the corner hides little
HOVER_HINT = "hover a map: its number and value"
TARGET_COLOR = "#e0e0e0"  # the one-hot target's outline (MSE mode)
OUTPUTS_TITLE = "outputs · <span style='color:#9aa0a8'>□ target</span>"


def title_html(name: str, shape: str, layer: str | None = None) -> str:
    """"conv1 → ReLU 6×28×28": the layer's name in its colour (the same in every panel), the shape quieter."""
    if layer is not None:
        name = f"<span style='color:{LAYER_COLORS[layer]}'>{name}</span>"
    return f"{name} <span style='color:{SHAPE_COLOR}'>{shape}</span>" if shape else name


#: (key, title, grid) of every image shown, in the network's order.
MOSAICS: tuple[tuple[str, str, Grid], ...] = (
    ("input", title_html("input", "1×32×32"), Grid(1, 32, 32, cols=1, sep=0)),
    ("conv1", title_html("conv1 → ReLU", "6×28×28", "conv1"), square_grid(6, 28, 28)),
    ("pool1", title_html("max pool", "6×14×14"), square_grid(6, 14, 14)),
    ("conv2", title_html("conv2 → ReLU", "16×10×10", "conv2"), square_grid(16, 10, 10)),
    ("pool2", title_html("max pool", "16×5×5"), square_grid(16, 5, 5)),
)

#: The picture reads like the network, left to right and top to bottom: the probe and what
#: conv1 makes of it (the maps a student studies, so the biggest), then the two pools and conv2,
#: then the fully connected layers and the answer.  One row of five left the maps tiny.
ROWS: tuple[tuple[str, ...], ...] = (("input", "conv1"), ("pool1", "conv2", "pool2"))
#: (key, title, bar count, width share) of the bottom row; the counts are said under the bars.
BAR_PLOTS = (
    ("fc1", title_html("fc1 → ReLU", "", "fc1"), 120, 3),
    ("fc2", title_html("fc2 → ReLU", "", "fc2"), 84, 3),
    ("probabilities", "P(digit)", 10, 4),  # ten digits labelled large, and the colour legend under them
)
#: Height shares of the three rows when the panel is short.  When it is tall, a mosaic row
#: stops growing once its maps fill the width (see `_fit_rows`) and the bars take the rest.
ROW_STRETCH = (36, 30, 24)
PROBABILITIES_MIN_WIDTH = 185  # P(digit): ten bold digits and the colour legend under them
BAR_AXIS_WIDTH = 40  # fixed: tick labels that change width ("5" → "0.25") would shift the bars every frame
NOTE_SIZE = "9pt"  # the small print under the bars
SPACING = 6


def swatch(color: str, text: str) -> str:
    return f"<span style='color:{color}'>■</span> {text}"


class FeatureMapPanel(QWidget):
    """The probe image, each conv/pool layer as a mosaic, fc1/fc2 as bars and the class probabilities."""

    probe_requested = Signal(str)  # "previous" | "next" | "random"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        # Everything here is pixels and upright rectangles (maps, bars, frames; text keeps its own
        # antialiasing): without antialiasing the bars are crisper and a repaint of the whole view,
        # done every frame, costs 5.0 ms instead of 6.1 (892 x 620, offscreen).
        self.graphics.setAntialiasing(False)
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.graphics.ci.setSpacing(SPACING)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_probe_line())
        layout.addWidget(self.graphics, 1)
        self.hover_label = QLabel(HOVER_HINT)
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.hover_label)
        self.scale = SCALES[0]
        self._build_mosaics()
        bar_titles = self._build_bars()
        for r, stretch in enumerate(ROW_STRETCH):
            self.graphics.ci.layout.setRowStretchFactor(r, stretch)
        # Titles set their cell's minimum width: on a narrow centre they step down a size (see _fit_rows).
        self._titles: dict[str, list[tuple[str, pg.LabelItem, str]]] = {
            "mosaics": [(key, self.views[key].title, title) for key, title, _ in MOSAICS],
            "bars": bar_titles,
        }
        self._title_widths = {key: label.itemRect().width() for group in self._titles.values() for key, label, _ in group}
        self._title_sizes = dict.fromkeys(self._titles, TITLE_POINT_SIZES[0])
        self.graphics.installEventFilter(self)
        self._gate = FrameGate()
        self._probe_color: str | None = None
        self._bar_tops: dict[str, float] = {}  # the fc1/fc2 y ranges on screen (see _fit_bars)

    def _build_probe_line(self) -> QHBoxLayout:
        """The probe line first, its buttons after it, short: the line is what a class reads."""
        line = QHBoxLayout()
        self.probe_label = SteadyLabel("no probe yet")
        self.probe_label.setObjectName("probeLabel")  # style.qss: larger and bold
        font = self.probe_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.probe_label.setFont(font)
        self.probe_label.setWordWrap(True)  # a narrow centre wraps the line instead of clipping it
        self.probe_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens a dock
        line.addWidget(self.probe_label.holder, 1)
        line.addSpacing(8)
        self.scale_box = QComboBox()
        self.scale_box.addItems(SCALES)
        self.scale_box.setToolTip(
            "Colour scale of the maps.  per layer: one scale for all maps of a layer (compare maps).\n"
            "per map: each map from its own darkest to its brightest (no map looks blank because another is strong)."
        )
        self.scale_box.currentTextChanged.connect(self.set_scale)
        line.addWidget(self.scale_box)
        self.probe_buttons: dict[str, QPushButton] = {}
        for text, request, tip in (
            ("◀", "previous", "Probe with the previous held-out image"),
            ("▶", "next", "Probe with the next held-out image"),
            ("Random", "random", "Probe with a random held-out image"),
        ):
            button = self.probe_buttons[request] = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, r=request: self.probe_requested.emit(r))
            line.addWidget(button)
        return line

    def _build_mosaics(self) -> None:
        titles = {key: (title, grid) for key, title, grid in MOSAICS}
        self.views: dict[str, MosaicView] = {}
        self.mosaic_rows: list[pg.GraphicsLayout] = []
        for r, keys in enumerate(ROWS):
            row = self.graphics.addLayout(row=r, col=0)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(SPACING)
            self.mosaic_rows.append(row)
            for col, key in enumerate(keys):
                title, grid = titles[key]
                cmap = None if key == "input" else ACTIVATION_CMAP  # None: plain grayscale, as the digit looks
                self.views[key] = MosaicView(row.addLayout(row=0, col=col), title, grid, cmap)
                h, w = grid.shape
                row.layout.setColumnStretchFactor(col, round(100 * w / h))  # equal heights, natural widths
        self.mosaic_items: dict[str, MosaicImage] = {k: v.item for k, v in self.views.items()}
        self.highlight_rect = self.views["conv1"].frame
        # Map numbers in each cell's corner, where the maps are big enough to spare the corner.  Qt's own
        # text items (pure C++, a fixed size on screen): pyqtgraph's TextItem runs Python for its bounds and
        # its paint on every frame, ~2 ms a frame for these 28 (measured offscreen).
        self.map_tags: dict[str, list[QGraphicsSimpleTextItem]] = {}
        font = QFont(self.font())
        font.setPointSize(7)
        for key in NUMBERED:
            view = self.views[key]
            tags = []
            for k in range(view.grid.n):
                x, y, _, _ = view.grid.rect(k)
                tag = QGraphicsSimpleTextItem(str(k))
                tag.setFont(font)
                tag.setBrush(QColor(255, 255, 255, 200))
                tag.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
                tag.setPos(x, y)
                tag.setZValue(5)
                view.view.addItem(tag)
                tags.append(tag)
            self.map_tags[key] = tags
        # One colour bar: what the colours mean under the current scale (low → high of a layer, or of each map).
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=ACTIVATION_CMAP, interactive=False,
                                        colorMapMenu=False, width=12)
        self.colorbar.axis.setTicks([[(0.04, "low"), (0.96, "high")]])  # inset: the end labels are not clipped
        self.mosaic_rows[0].addItem(self.colorbar, row=0, col=len(ROWS[0]))
        self.colorbar.geometryChanged.connect(self._fit_colorbar_title)
        self._fit_colorbar_title()
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _build_bars(self) -> list[tuple[str, pg.LabelItem, str]]:
        """fc1, fc2 and P(digit) as bar plots; returns the (key, label, html) of the titles that may shrink."""
        self.bars: dict[str, Bars] = {}
        self.bar_plots: dict[str, pg.PlotItem] = {}
        self.bar_row = plots = self.graphics.addLayout(row=len(ROWS), col=0)  # own columns: widths by bar count
        plots.setContentsMargins(0, 0, 0, 0)
        plots.setMinimumHeight(140)
        titles = []
        for col, (key, title, n, stretch) in enumerate(BAR_PLOTS):
            plot = plots.addPlot(row=0, col=col, enableMenu=False)  # no menu made only to be switched off (~6 ms)
            plot.setTitle(title, size=f"{TITLE_POINT_SIZES[0]}pt")
            plot.titleLabel.item.document().setDocumentMargin(1)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            for side in ("left", "bottom"):  # their ticks reach into the bars' area, so every frame repainted them
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # now a blit (-0.6 ms)
            plot.setXRange(-0.7, n - 0.3, padding=0)
            plot.getAxis("left").setWidth(BAR_AXIS_WIDTH)
            plots.layout.setColumnStretchFactor(col, stretch)
            brush = LAYER_COLORS.get(key, BAR_COLOR)
            self.bars[key], self.bar_plots[key] = Bars(n, brush), plot
            plot.vb.addItem(self.bars[key], ignoreBounds=True)
            if key != "probabilities":
                plot.setLabel("bottom", f"{n} units", **{"font-size": NOTE_SIZE})
                titles.append((key, plot.titleLabel, title))  # "P(digit)" is short: it keeps its size
        self.outputs_plot = plot
        # MSE mode: the ten raw outputs beside the one-hot target they are pulled towards (outlines).
        self.target_bars = Bars(10, None, pen=pg.mkPen(TARGET_COLOR, width=2))
        self.target_bars.hide()
        plot.vb.addItem(self.target_bars, ignoreBounds=True)
        self.mse = False
        plot.setYRange(0, 1, padding=0.02)  # the probabilities: always on the same 0..1 scale
        plot.setMinimumWidth(PROBABILITIES_MIN_WIDTH)
        axis = plot.getAxis("bottom")
        axis.setTicks([[(i, str(i)) for i in range(10)]])
        digits = QFont(self.font())
        digits.setPointSize(11)
        digits.setBold(True)
        axis.setTickFont(digits)  # the ten answers: the labels a class reads from the back row
        legend = " ".join((swatch(RIGHT_COLOR, "right"), swatch(WRONG_COLOR, "wrong"), swatch(LABEL_COLOR, "label")))
        plot.setLabel("bottom", legend, **{"font-size": NOTE_SIZE})  # the bar colours explained where the bars are
        return titles

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
            if self.scale == "per map":
                self.views[name].show(per_map(acts[name]), (0.0, 1.0))
            else:
                self.views[name].show(acts[name], robust_levels(acts[name]))
        self._acts = acts
        for name in ("conv1", "conv2"):  # the health check's dead channels, marked on their maps
            self.views[name].mark_dead(snapshot.dead_units.get(name))
        for key in ("fc1", "fc2"):
            heights = _finite(acts[key])
            self.bars[key].setOpts(height=heights)
            self._fit_bars(key, heights)
        label = snapshot.probe_label  # None: the user's own drawing, which has no right answer
        color = verdict_color(snapshot.prediction, label)
        brushes = [BAR_COLOR] * 10
        if label is not None:
            brushes[label] = LABEL_COLOR
        brushes[snapshot.prediction] = color
        which = NO_LABEL if label is None else f"probe #{snapshot.probe_index} · label {label}"
        if self.mse:  # regression outputs: a softmax of them would be a made-up probability
            outputs = _finite(acts["output"])
            self.bars["probabilities"].setOpts(height=outputs, brushes=brushes)
            target = np.zeros(10, dtype=np.float32)
            if label is not None:
                target[label] = 1.0
            self.target_bars.setOpts(height=target)
            lo, hi = min(float(outputs.min(initial=0.0)), 0.0), max(float(outputs.max(initial=1.0)), 1.0)
            self.outputs_plot.setYRange(lo, hi, padding=0.05)
            o = float(acts["output"][snapshot.prediction])
            self.probe_label.setText(f"{which} · largest output {snapshot.prediction} ({o:.3g}) · target: one-hot")
        else:
            probs = _finite(acts["probabilities"])
            self.bars["probabilities"].setOpts(height=probs, brushes=brushes)
            p = float(acts["probabilities"][snapshot.prediction])
            self.probe_label.setText(
                f"{which} · predicted {snapshot.prediction} ({f'{100 * p:.1f}%' if np.isfinite(p) else 'NaN'})"
            )
        if color != self._probe_color:  # restyling is not free; only when right/wrong/unlabelled flips
            self._probe_color = color
            self.probe_label.setStyleSheet(f"color: {color}")

    def set_scale(self, scale: str) -> None:
        """"per layer" or "per map" (see SCALES); redraws the last snapshot."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)} (got {scale!r})")
        self.scale = scale
        if self.scale_box.currentText() != scale:
            self.scale_box.setCurrentText(scale)
        self._fit_colorbar_title()
        last, self._gate = self._gate.last, FrameGate()
        if last is not None:
            self.show(last)

    def _fit_colorbar_title(self) -> None:
        """The longest of the scale's titles that the bar's length holds (its rotated text otherwise ran
        past the bar's end and out of the view on a 1280-px screen: "each layer: its min → ma")."""
        room, axis = self.colorbar.geometry().height(), self.colorbar.axis

        def fits(text: str) -> bool:  # measured as drawn: set, then read its length
            if axis.labelText != text:
                axis.setLabel(text, **{"font-size": NOTE_SIZE})
            return axis.label.boundingRect().width() <= room

        first_that_fits(COLORBAR_LABELS[self.scale], fits)  # the label last set is the one chosen
        axis.resizeEvent()  # pyqtgraph centres its title there only: from the old text's length otherwise

    def value_at(self, key: str, x: float, y: float) -> tuple[int, int, int, float] | None:
        """(map, row, col, activation) under image point (x, y) of mosaic `key`; None off the maps."""
        acts = getattr(self, "_acts", None)
        hit = self.views[key].grid.locate(x, y)
        if acts is None or hit is None or key not in acts:
            return None
        k, row, col = hit
        grid = self.views[key].grid
        return k, row, col, float(np.asarray(acts[key]).reshape(grid.n, grid.h, grid.w)[k, row, col])

    def _on_mouse_moved(self, pos) -> None:  # noqa: ANN001 - a QPointF in scene coordinates
        for key in NUMBERED + ("pool2",):
            view = self.views[key].view
            if view.sceneBoundingRect().contains(pos):
                p = view.mapSceneToView(pos)
                hit = self.value_at(key, p.x(), p.y())
                if hit is not None:
                    k, row, col, v = hit
                    self.hover_label.setText(f"{key} map {k}, row {row}, col {col}: {v:.4g}")
                    return
        self.hover_label.setText(HOVER_HINT)

    def set_mse(self, mse: bool) -> None:
        """MSELoss on one-hot targets (the tutorial's loss): show fc3's ten outputs beside the target
        instead of P(digit), a softmax the network was never trained to produce.  Redraws the last snapshot."""
        if mse == self.mse:
            return
        self.mse = mse
        self.target_bars.setVisible(mse)
        self.outputs_plot.setTitle(OUTPUTS_TITLE if mse else "P(digit)", size=f"{TITLE_POINT_SIZES[0]}pt")
        if not mse:
            self.outputs_plot.setYRange(0, 1, padding=0.02)
        last, self._gate = self._gate.last, FrameGate()
        if last is not None:
            self.show(last)

    def _fit_bars(self, key: str, heights: np.ndarray) -> None:
        """Grow the y range at once; shrink it only when the bars use under a third of it.  Autorange
        re-laid both axes and re-ranged both views on every frame: about half of this panel's paint
        time (~7 -> ~3.7 ms CPU a frame, measured offscreen)."""
        top = float(heights.max(initial=0.0))
        shown = self._bar_tops.get(key)
        if shown is None or top > shown or top < shown / 3:
            self._bar_tops[key] = shown = max(top * 1.25, 1e-3)
            self.bar_plots[key].setYRange(0, shown, padding=0)

    def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 - Qt's names
        """Fit the rows to the view's new width before the view lays its scene out at that width."""
        if watched is self.graphics and event.type() == QEvent.Type.Resize:
            self._fit_rows(event.size().width() - 2 * self.graphics.frameWidth())
        return super().eventFilter(watched, event)

    def _fit_rows(self, inner: int) -> None:
        """Cap each mosaic row at the height its maps can use at this width (they keep their aspect),
        so spare height goes to the bars instead of black bands around the maps.  Runs on resize only."""
        for row, keys in zip(self.mosaic_rows, ROWS):
            aspect = sum(self.views[k].grid.shape[1] / self.views[k].grid.shape[0] for k in keys)
            usable = inner - SPACING * (len(keys) - 1)
            row.setMaximumHeight(TITLE_HEIGHT + usable / aspect + 4)
        # The largest title size at which each line's titles fit side by side (else the scene
        # outgrows the view and the right-hand maps are cut off, as on a 1280-px screen).
        lines = {
            "mosaics": [(keys, inner) for keys in ROWS],  # one size for all maps, row by row
            "bars": [(("fc1", "fc2"), inner - PROBABILITIES_MIN_WIDTH - SPACING - 2 * BAR_AXIS_WIDTH)],
        }
        changed = False
        for group, rows in lines.items():
            size = largest_fitting_size([([self._title_widths[k] for k in keys], room) for keys, room in rows], SPACING)
            if size != self._title_sizes[group]:
                self._title_sizes[group], changed = size, True
                for _, label, html in self._titles[group]:
                    label.setText(html, size=f"{size}pt")
        if changed:  # QGraphicsGridLayout caches its minimum: make the view see the new one now
            for layout in (*self.mosaic_rows, self.bar_row, self.graphics.ci):
                layout.layout.invalidate()

    def highlight_filter(self, index: int | None) -> None:
        """Frame conv1 feature map `index` (the filter picked in the inspector); None hides the frame."""
        self.views["conv1"].mark(index)


def _finite(values: np.ndarray) -> np.ndarray:
    """Bar heights with NaN as 0 and Inf clipped to the float32 range, so a diverged net still draws."""
    return np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
