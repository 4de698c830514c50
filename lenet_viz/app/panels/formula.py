"""The backward formula of one conv1 gradient cell, drawn with the current batch's numbers.

    dL/dw[f,0,r,c] = sum over images b and output positions (i, j) of x_b[i+r, j+c] * g_b[f, i, j]

where g = dL/d(conv1 output).  Weight (r, c) of filter f touched the 28x28 window of the input
that starts at row r, column c; each output position (i, j) sends its gradient back through it.
The panel shows that window, the upstream gradient map, their product and its sum over the
batch, beside the value autograd put in conv1.weight.grad.  The bias: the sum of g alone.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from ...training.types import Conv1GradExplanation
from .mosaic import symmetric_levels

HINT = "Click a cell of conv1.weight.grad (filter inspector, gradient mode) after BACKWARD to see where its value comes from"
DIVERGING = "CET-D1"  # blue - white - red, zero in the middle
EQUATION_PT = 15
TITLE_PT = 10
MAPS_MIN_HEIGHT = 220  # two rows of titled maps, each map ~90 px
#: Closer than this (relative) and the formula "equals" .grad: float32 sums of ~50k terms.
TOLERANCE = 1e-4


def format_value(v: float) -> str:
    return f"{v:.6g}"


def agrees(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b), 1e-8)


def equation_html(e: Conv1GradExplanation) -> str:
    """The three lines under the maps: the weight's sum, .grad beside it, the bias."""
    f, r, c, n = e.filter, e.row, e.col, e.batch_size
    first, rest = float(e.per_image[0]), float(e.per_image[1:].sum())
    weight_ok = agrees(e.total, e.weight_grad)
    bias_ok = agrees(e.bias_total, e.bias_grad)
    others = f" {'−' if rest < 0 else '+'} {format_value(abs(rest))} <span style='color:#9aa0a8'>({n - 1} more)</span>"
    lines = [
        f"∂L/∂w[{f},0,{r},{c}] = Σ<sub>b</sub> Σ<sub>i,j</sub> x<sub>b</sub>[i+{r}, j+{c}] · g<sub>b</sub>[{f}, i, j]"
        f" = {format_value(first)} <span style='color:#9aa0a8'>(image 0)</span>"
        + (others if n > 1 else "")
        + f" = <b>{format_value(e.total)}</b>",
        f"conv1.weight.grad[{f},0,{r},{c}] = <b>{format_value(e.weight_grad)}</b>  "
        + _verdict(weight_ok, e.total - e.weight_grad),
        f"∂L/∂b[{f}] = Σ<sub>b</sub> Σ<sub>i,j</sub> g<sub>b</sub>[{f}, i, j] = <b>{format_value(e.bias_total)}</b>;"
        f"  conv1.bias.grad[{f}] = <b>{format_value(e.bias_grad)}</b>  " + _verdict(bias_ok, e.bias_total - e.bias_grad),
    ]
    if not (weight_ok and bias_ok):
        lines.append(
            "<span style='color:#ffb74d'>.grad holds more than this batch: gradients were not zeroed "
            "(skip_zero_grad), so they add up across iterations</span>"
        )
    return "<br>".join(lines)


def _verdict(ok: bool, diff: float) -> str:
    if ok:
        return f"<span style='color:#81c784'>✓ equal (difference {diff:.1e}, float rounding)</span>"
    return f"<span style='color:#ff6e6e'>✗ differs by {diff:.3g}</span>"


class _Map:
    """A titled, aspect-locked image with row 0 on top and a symmetric or grey colour scale."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, title: str, colormap: str | None) -> None:
        # A pyqtgraph title never wraps: the widest pair of titles is the panel's narrowest width.
        self.title = layout.addLabel(title, row=row, col=col, size=f"{TITLE_PT}pt")
        self.view = layout.addViewBox(row=row + 1, col=col, lockAspect=True, enableMouse=False, enableMenu=False,
                                      invertY=True)
        self.item = pg.ImageItem(axisOrder="row-major")
        if colormap:
            self.item.setColorMap(pg.colormap.get(colormap))
        self.view.addItem(self.item)

    def set(self, image: np.ndarray, levels: tuple[float, float]) -> None:
        self.item.setImage(np.ascontiguousarray(image, dtype=np.float32), levels=levels, autoLevels=False)
        h, w = image.shape
        self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)


class FormulaPanel(QWidget):
    """`show(explanation)` draws one `Trainer.explain_conv1_grad(f, r, c)`; `show(None)` the hint.

    The spin boxes (or `select`) pick the cell; picking one by hand emits `cell_requested(f, r, c)`,
    which the window answers by asking the engine for that explanation.
    """

    cell_requested = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        picker = QHBoxLayout()
        which = QLabel("conv1.weight.grad")
        which.setToolTip("The cell conv1.weight.grad[f, 0, r, c] explained: filter f, row r, column c of its 5x5 kernel")
        picker.addWidget(which)
        self.spins: list[QSpinBox] = []
        for label, top in (("f", 5), ("r", 4), ("c", 4)):
            picker.addWidget(QLabel(label))
            spin = QSpinBox()
            spin.setRange(0, top)
            spin.valueChanged.connect(self._picked)
            picker.addWidget(spin)
            self.spins.append(spin)
        picker.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(MAPS_MIN_HEIGHT)
        # Its size hint (a view's 640 x 480) is no height to ask for: the equation below needs the room.
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        ci = self.graphics.ci
        # Two by two, not in one row: four titles side by side made the maps 700 px wide, and in its
        # first-launch dock (~400 px) the panel showed one and a half maps and no equation.
        self.input_map = _Map(ci, 0, 0, "x: image 0", None)
        self.upstream_map = _Map(ci, 0, 1, "× g = ∂L/∂(conv1 out)", DIVERGING)
        self.product_map = _Map(ci, 2, 0, "= product, image 0", DIVERGING)
        self.batch_map = _Map(ci, 2, 1, "product, Σ over the batch", DIVERGING)
        for col in range(2):
            ci.layout.setColumnStretchFactor(col, 1)
        self.window = QGraphicsRectItem()
        self.window.setPen(pg.mkPen("#ffb74d", width=3, cosmetic=True))
        self.window.setZValue(10)
        self.input_map.view.addItem(self.window)
        self.equation = QLabel(HINT)
        self.equation.setWordWrap(True)
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.equation.setStyleSheet(f"font-size: {EQUATION_PT}pt;")  # a widget's own sheet beats the app's 11pt
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(picker)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.equation)
        self.explanation: Conv1GradExplanation | None = None
        self._quiet = False

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        super().resizeEvent(event)
        self._fit_equation()

    def _fit_equation(self) -> None:
        """Keep the wrapped equation's whole height as its minimum: a layout asks a word-wrapped label for
        one line's, so in a short dock the lines were laid over the maps instead of the dock scrolling."""
        margins = self.layout().contentsMargins()
        need = self.equation.heightForWidth(max(1, self.width() - margins.left() - margins.right()))
        if need > 0 and need != self.equation.minimumHeight():
            self.equation.setMinimumHeight(need)

    @property
    def cell(self) -> tuple[int, int, int]:
        """The (filter, row, col) picked now."""
        return tuple(s.value() for s in self.spins)  # type: ignore[return-value]

    def select(self, f: int, r: int, c: int) -> None:
        """Pick a cell without emitting (the window already asked the engine for it)."""
        self._quiet = True
        try:
            for spin, v in zip(self.spins, (f, r, c)):
                spin.setValue(v)
        finally:
            self._quiet = False

    def _picked(self, _value: int) -> None:
        if not self._quiet:
            self.cell_requested.emit(*self.cell)

    def show(self, explanation: Conv1GradExplanation | None | object = ...) -> None:  # type: ignore[override]
        """Draw `explanation`; None shows the hint (no gradient yet).  No argument: QWidget.show()."""
        if explanation is ...:
            super().show()
            return
        self.explanation = explanation  # type: ignore[assignment]
        if explanation is None:
            self.show_message(HINT)
            return
        e: Conv1GradExplanation = explanation  # type: ignore[assignment]
        self.select(e.filter, e.row, e.col)
        lo, hi = float(e.image.min()), float(e.image.max())
        self.input_map.set(e.image, (lo, hi if hi > lo else lo + 1))
        self.window.setRect(QRectF(e.col, e.row, e.patch.shape[1], e.patch.shape[0]))
        self.window.show()
        self.upstream_map.set(e.upstream, symmetric_levels(e.upstream))
        self.product_map.set(e.product, symmetric_levels(e.product))
        self.batch_map.set(e.batch_product, symmetric_levels(e.batch_product))
        self.input_map.title.setText(f"x: image 0 at r {e.row}, c {e.col}")
        self.upstream_map.title.setText(f"× g[{e.filter}] = ∂L/∂(conv1 out)")
        self.batch_map.title.setText(f"product, Σ over {e.batch_size} images")
        self.equation.setText(equation_html(e))
        self._fit_equation()

    def show_message(self, message: str) -> None:
        """A one-line reason instead of the formula (e.g. the engine's "run BACKWARD first")."""
        for m in (self.input_map, self.upstream_map, self.product_map, self.batch_map):
            m.item.clear()
        self.window.hide()
        self.equation.setText(message)
        self._fit_equation()
