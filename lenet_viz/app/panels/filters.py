"""The tutorial's conv1 up close: six 5×5 filters as weights, gradient or last update, and the bias."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...training.types import Snapshot
from .mosaic_view import MosaicView
from .mosaic import FrameGate, Grid, steady_symmetric_levels

DIVERGING_CMAP = "CET-D1"  # blue - white - red, perceptually even, white at the centre
FILTERS = Grid(6, 5, 5, cols=3, sep=1)

#: mode -> (title, word used when reading one value, message while the tensor is None)
MODES: dict[str, tuple[str, str, str]] = {
    "weights": ("conv1.weight", "weight", ""),
    "gradient": ("conv1.weight.grad", "grad", "conv1.weight.grad is None — run BACKWARD"),
    "last update": ("last update of conv1.weight  (after − before)", "update", "no update yet — run UPDATE"),
}
HOVER_HINT = "hover: read a value · click: find its feature map"
TAG_ROOM = 2.0  # mosaic pixels above and below the filters for their numbers
HIGHLIGHT_TEXT = "#8a8f98"  # readable on the dark and the light plot background


def format_number(v: float) -> str:
    """Four decimals and no "+" like the tutorial's prints, scientific where that would read 0.0000.

    Scientific keeps two significant digits, as many as "0.0013" has, and drops the exponent's
    padding zero ("9.9e-4"): six values must share one dock's width.  From 10 on, four
    significant digits ("1106", not the cut "1105.8…"), and past 10 000 short scientific again.
    """
    if not np.isfinite(v) or v == 0 or 1e-3 <= abs(v) < 10:
        return f"{v:.4f}"
    if 10 <= abs(v) < 1e4:
        return f"{v:.4g}"
    mantissa, exponent = f"{v:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


class FilterInspector(QWidget):
    """conv1's six filters, enlarged, on a colour scale symmetric about zero."""

    filter_clicked = Signal(int)
    cell_clicked = Signal(int, int, int)  # (filter, row, col) of the tap clicked, in any mode

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = "weights"
        self.selected: int | None = None
        self._gate = FrameGate()
        self._levels: dict[str, tuple[float, float]] = {}  # the colour scale each mode shows (see steady_symmetric_levels)
        self._tensor: np.ndarray | None = None
        self._hover: tuple[int, int, int] | None = None  # the cell under the mouse, read anew on every frame

        modes = QHBoxLayout()
        self.mode_buttons = QButtonGroup(self)
        for mode in MODES:
            button = QPushButton(mode)
            button.setCheckable(True)
            button.setChecked(mode == self.mode)
            self.mode_buttons.addButton(button)
            modes.addWidget(button)
        modes.addStretch(1)
        self.mode_buttons.buttonClicked.connect(lambda b: self.set_mode(b.text()))

        self.graphics = pg.GraphicsLayoutWidget()
        sub = self.graphics.addLayout(row=0, col=0)
        self.mosaic = MosaicView(sub, MODES[self.mode][0], FILTERS, DIVERGING_CMAP)
        self.image_item = self.mosaic.item  # nearest neighbour: each weight one crisp square
        self.colorbar = pg.ColorBarItem(
            values=(-1, 1), colorMap=DIVERGING_CMAP, interactive=False, colorMapMenu=False, width=16
        )
        sub.addItem(self.colorbar, row=1, col=1)
        h, w = FILTERS.shape
        # Filter numbers outside the weights (inside, each covered a weight): the top row's above
        # the mosaic, the bottom row's below it.
        self.tags: list[pg.TextItem] = []
        for k in range(FILTERS.n):
            x, y, cw, ch = FILTERS.rect(k)
            top = y == 0
            tag = pg.TextItem(f"filter {k}", color=HIGHLIGHT_TEXT, anchor=(0.5, 1.0 if top else 0.0))
            tag.setPos(x + cw / 2, y if top else y + ch)
            font = tag.textItem.font()
            font.setPointSize(8)
            tag.setFont(font)
            self.mosaic.view.addItem(tag)
            self.tags.append(tag)
        self.mosaic.view.setRange(xRange=(0, w), yRange=(-TAG_ROOM, h + TAG_ROOM), padding=0.02)
        self.none_text = pg.TextItem("", color="w", fill=(30, 30, 30, 220), anchor=(0.5, 0.5))
        font = self.none_text.textItem.font()
        font.setPointSize(13)
        self.none_text.setFont(font)
        self.none_text.setPos(w / 2, h / 2)
        self.none_text.setZValue(20)
        self.none_text.hide()
        self.mosaic.view.addItem(self.none_text)
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_mouse_clicked)

        self.value_label = QLabel(HOVER_HINT)
        self.value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Its text must never set the dock's minimum width (it pushed the plots off a 1280-px screen).
        self.value_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bias_table = QTableWidget(2, FILTERS.n)
        self.bias_table.setVerticalHeaderLabels(["bias", "bias.grad"])
        self.bias_table.setHorizontalHeaderLabels([f"filter {k}" for k in range(FILTERS.n)])
        self.bias_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bias_table.setObjectName("biasTable")  # style.qss: tighter cells, so six values fit
        small = self.bias_table.font()
        small.setPointSizeF(small.pointSizeF() * 10 / 11)
        self.bias_table.setFont(small)
        self.bias_table.horizontalHeader().setFont(small)
        self.bias_table.verticalHeader().setFont(small)
        self.bias_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.bias_table.horizontalHeader().setMinimumSectionSize(8)
        self.bias_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.bias_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.bias_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.bias_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for r in range(2):
            for c in range(FILTERS.n):
                item = QTableWidgetItem("—")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.bias_table.setItem(r, c, item)
        self.bias_table.resizeRowsToContents()
        header = self.bias_table.horizontalHeader().sizeHint().height()
        rows = sum(self.bias_table.rowHeight(r) for r in range(2))
        self.bias_table.setFixedHeight(header + rows + 2 * self.bias_table.frameWidth() + 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(modes)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.value_label)
        layout.addWidget(self.bias_table)

    # ------------------------------------------------------------ data
    def displayed_tensor(self, snapshot: Snapshot) -> np.ndarray | None:
        """The (6, 5, 5) array the current mode shows, or None while that tensor does not exist."""
        tensor = {
            "weights": snapshot.conv1_weight,
            "gradient": snapshot.conv1_grad,
            "last update": snapshot.conv1_update,
        }[self.mode]
        return None if tensor is None else np.asarray(tensor, dtype=np.float32).reshape(FILTERS.n, FILTERS.h, FILTERS.w)

    def value_at(self, filter_index: int, row: int, col: int) -> float | None:
        """The shown value of one filter tap; None when nothing is shown or the index is outside."""
        t = self._tensor
        if t is None or not (0 <= filter_index < FILTERS.n and 0 <= row < FILTERS.h and 0 <= col < FILTERS.w):
            return None
        return float(t[filter_index, row, col])

    # ------------------------------------------------------------ drawing
    def set_mode(self, mode: str) -> None:
        """Show "weights", "gradient" or "last update"; redraws the current snapshot at once."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
        self.mode = mode
        for button in self.mode_buttons.buttons():
            button.setChecked(button.text() == mode)
        self.mosaic.title.setText(MODES[mode][0])
        if self._gate.last is not None:
            self._draw(self._gate.last)

    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Draw `snapshot`; one showing the same thing as the last costs nothing.  No argument: QWidget.show()."""
        if snapshot is None:
            super().show()
            return
        if self._gate.is_new(snapshot):
            self._draw(snapshot)

    def _draw(self, snapshot: Snapshot) -> None:
        self._tensor = self.displayed_tensor(snapshot)
        if self._tensor is None:
            self.image_item.clear()  # no stale picture under a "None" message
            self.none_text.setText(MODES[self.mode][2])
            self.none_text.show()
            self.colorbar.hide()  # its scale belonged to the picture just removed
        else:
            shown = self._levels.get(self.mode)  # each view keeps its own scale (weights vs gradients)
            levels = self._levels[self.mode] = steady_symmetric_levels(self._tensor, shown)
            self.image_item.setImage(FILTERS.tile(self._tensor), levels=levels, autoLevels=False)
            if tuple(self.colorbar.levels()) != levels:  # setLevels lays the bar's numbers out anew, even unchanged
                self.colorbar.setLevels(levels)
            self.colorbar.show()
            self.none_text.hide()
        for row, values in enumerate((snapshot.conv1_bias, snapshot.conv1_bias_grad)):
            for c in range(FILTERS.n):
                self.bias_table.item(row, c).setText("None" if values is None else format_number(float(values[c])))
        self._read_hover()

    # ------------------------------------------------------------ mouse
    def cell_at_scene(self, pos: QPointF) -> tuple[int, int, int] | None:
        """(filter, row, col) under a scene position, or None off the filters."""
        if not self.mosaic.view.sceneBoundingRect().contains(pos):
            return None
        p = self.mosaic.view.mapSceneToView(pos)
        return FILTERS.locate(p.x(), p.y())

    def _on_mouse_moved(self, pos: QPointF) -> None:
        self._hover = self.cell_at_scene(pos)
        self._read_hover()

    def _read_hover(self) -> None:
        """The value under the mouse as shown now: a readout of an older picture (before a reset,
        before more training) would be a false number."""
        hit = self._hover
        value = None if hit is None else self.value_at(*hit)
        if hit is None or value is None:
            self.value_label.setText(HOVER_HINT)
            return
        k, row, col = hit
        self.value_label.setText(f"filter {k}, row {row}, col {col}: {MODES[self.mode][1]} = {value:.6g}")

    def _on_mouse_clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        if event.button() != Qt.MouseButton.LeftButton:
            return
        hit = self.cell_at_scene(event.scenePos())
        if hit is not None:
            self.select(hit[0])
            self.filter_clicked.emit(hit[0])
            self.cell_clicked.emit(*hit)

    def select(self, index: int | None) -> None:
        """Frame filter `index` (None clears), as a click does, without emitting."""
        self.selected = index
        self.mosaic.mark(index)
