"""What several panels share: layer colours, the right / wrong / label colours, the words for a probe
without a label, a colour swatch.

Panels never import each other (an import-linter contract); what two of them must show alike lives here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QIcon, QPixmap

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
