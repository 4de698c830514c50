"""What several panels share: layer colours, the right / wrong / label colours, the words for a probe
without a label, a colour swatch, autograd node words, shape text, and a log colour scale for
gradient norms with its legend.

Panels never import each other (an import-linter contract); what two of them must show alike lives here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QFontMetrics, QIcon, QLinearGradient, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

T = TypeVar("T")

#: On a light background a layer colour is darkened by this QColor.darker factor: made for the dark
#: theme, they are pale on white ("fc3" lavender); at 170 every one reads at 4.7:1 or more.
LIGHT_DARKER = 170


def first_that_fits(candidates: Sequence[T], fits: Callable[[T], bool]) -> T:
    """The first of `candidates` (the largest or longest first) that `fits`; the last when none does:
    how a panel picks a type size or a title for the room it has."""
    return next((c for c in candidates if fits(c)), candidates[-1])


def layer_colour(layer: str, on_light: bool = False) -> QColor:
    """The layer's colour (grey for an unknown one), darkened to stay readable on a light background."""
    colour = QColor(LAYER_COLORS.get(layer, "#888888"))
    return colour.darker(LIGHT_DARKER) if on_light else colour


#: One colour per layer, the same in every panel (plots, tables, titles, the autograd graph).
LAYER_COLORS: dict[str, str] = {
    "conv1": "#4fc3f7",  # light blue
    "conv2": "#ffb74d",  # orange
    "fc1": "#81c784",  # green
    "fc2": "#f06292",  # pink
    "fc3": "#b39ddb",  # lavender
}
RIGHT_COLOR = "#3cb44b"  # the prediction matches the label
WRONG_COLOR = "#e6194b"  # it does not
LABEL_COLOR = "#4c9be8"  # the true label
UNLABELLED_COLOR = "#f2a900"  # the prediction for a drawing: neither right nor wrong
QUIET_COLOR = "#9aa0a8"  # secondary text: shapes, counts, hints
#: What the graph and the tree say when their dock was just shown: the engine left them out of its
#: snapshots while nobody looked, and the next snapshot has them.
WAITING = "Reading this iteration's graph from the engine…"
#: What a panel says when the probe is the user's own drawing or image: there is no right answer.
NO_LABEL = "no label (your drawing)"


def verdict_text(prediction: int, confidence: float, label: int | None) -> str:
    """"predicted 7 (93.1%) · label 7", or "predicted 7 (93.1%) · no label (your drawing)"."""
    p = f"{100 * confidence:.1f}%" if np.isfinite(confidence) else "NaN"
    return f"predicted {prediction} ({p}) · " + (NO_LABEL if label is None else f"label {label}")


def verdict_color(prediction: int, label: int | None) -> str:
    """Green when right, red when wrong, amber when there is no label to be right about."""
    if label is None:
        return UNLABELLED_COLOR
    return RIGHT_COLOR if prediction == label else WRONG_COLOR


def to_grey_levels(image: np.ndarray) -> tuple[float, float]:
    """Levels that show an image from its darkest to its brightest pixel (a flat image: a flat grey)."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)


def swatch(color: str) -> QIcon:
    """A small square of `color`, for table rows and tree items."""
    pixmap = QPixmap(10, 10)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


#: What an autograd node does, in a learner's words; the key is the name without its version suffix.
NODE_TIPS = {
    "MseLossBackward": "Derivative of MSELoss: mean((output − target)²)",
    "NllLossBackward": "Derivative of the negative log-likelihood (the second half of cross_entropy)",
    "LogSoftmaxBackward": "Derivative of log_softmax (the first half of cross_entropy)",
    "SoftmaxBackward": "Derivative of softmax",
    "AddmmBackward": "A Linear layer: bias + input @ weight.T",
    "TBackward": "The transpose weight.T used by a Linear layer",
    "ReluBackward": "ReLU: passes the gradient where the input was positive, zero elsewhere",
    "MaxPool2DWithIndicesBackward": "Max pooling: routes each gradient to the pixel that was the maximum",
    "ConvolutionBackward": "A Conv2d layer",
    "ViewBackward": "torch.flatten: 16×5×5 feature maps reshaped into 400 values",
    "ReshapeAliasBackward": "torch.flatten: 16×5×5 feature maps reshaped into 400 values",
    "AccumulateGrad": "A leaf: adds the incoming gradient into this parameter's .grad",
}


def node_tip(name: str) -> str:
    """The learner's description of autograd node `name` ("" for one we do not describe)."""
    return NODE_TIPS.get(name.rstrip("0123456789"), "")


def shape_text(shape: tuple[int, ...] | None) -> str:
    """64×6×28×28; "scalar" for (); "shape ?" while unknown (None)."""
    if shape is None:
        return "shape ?"
    return "×".join(str(d) for d in shape) or "scalar"


# ---------------------------------------------------------------- a log colour scale for norms
NO_GRAD_FILL = QColor("#3a3e46")  # before backward: no gradient has reached any node yet
COLORMAP = pg.colormap.get("viridis")
LUT = [COLORMAP.map(i / 255, mode="qcolor") for i in range(256)]  # one lookup per node per frame


def decade_range(norms: list[float]) -> tuple[int, int]:
    """Whole decades around the positive norms, e.g. (-4, 0): the legend moves only when a decade is crossed."""
    logs = [math.log10(v) for v in norms if v > 0 and math.isfinite(v)]
    if not logs:
        return (-1, 0)
    lo, hi = math.floor(min(logs)), math.ceil(max(logs))
    return (lo, hi) if hi > lo else (lo, lo + 1)


def norm_colour(norm: float | None, decades: tuple[int, int]) -> QColor:
    """viridis on log10(norm) from decade lo (dark) to hi (yellow); grey while there is no gradient."""
    if norm is None or not math.isfinite(norm):
        return NO_GRAD_FILL
    if norm <= 0:
        return LUT[0]
    lo, hi = decades
    return LUT[min(255, max(0, round((math.log10(norm) - lo) / (hi - lo) * 255)))]


class LogLegend(QWidget):
    """The colour scale: a viridis bar labelled at each decade of ‖grad‖; grey and unlabelled while there
    are no norms to scale (decades None), instead of decades that scale nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.decades: tuple[int, int] | None = None
        self.setMinimumHeight(44)

    @property
    def ticks(self) -> list[str]:
        return [] if self.decades is None else [f"1e{d}" for d in range(self.decades[0], self.decades[1] + 1)]

    def set_decades(self, decades: tuple[int, int] | None) -> None:
        if decades != self.decades:
            self.decades = decades
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: ANN001, N802
        p = QPainter(self)
        bar = QRectF(12, 4, self.width() - 24, 16)
        if self.decades is None:
            p.fillRect(bar, NO_GRAD_FILL)
            return
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        for t in np.linspace(0, 1, 9):
            grad.setColorAt(float(t), COLORMAP.map(float(t), mode="qcolor"))
        p.fillRect(bar, grad)
        p.setPen(self.palette().windowText().color())
        ticks = self.ticks
        for i, text in enumerate(ticks):
            x = bar.left() + bar.width() * i / (len(ticks) - 1)
            p.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 4))
        for i, left in self.labels(p.fontMetrics()):
            p.drawText(QPointF(left, bar.bottom() + 6 + p.fontMetrics().ascent()), ticks[i])

    def labels(self, metrics: QFontMetrics) -> list[tuple[int, float]]:
        """(tick index, left x) of the ticks that get a label: every decade while the labels fit side by side,
        else every second, every third…: they never run into each other ("1e-21e-1" in a narrow dock)."""
        ticks, width = self.ticks, self.width() - 24.0
        if len(ticks) < 2:
            return []
        gap = metrics.horizontalAdvance(" ")
        for step in range(1, len(ticks) + 1):
            chosen = range(0, len(ticks), step)
            spans = []
            for i in chosen:
                w = metrics.horizontalAdvance(ticks[i])
                left = min(max(12.0 + width * i / (len(ticks) - 1) - w / 2, 0.0), self.width() - w)
                spans.append((i, left, w))
            if all(a[1] + a[2] + gap <= b[1] for a, b in zip(spans, spans[1:])):
                return [(i, left) for i, left, _ in spans]
        return [(0, 0.0)]
