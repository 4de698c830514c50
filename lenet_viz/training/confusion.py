"""Where the network errs, as plain numpy: torch-free, so the GUI process can use it too.

The engine (`insight.py`) predicts every held-out image once and keeps the answers as
`Verdicts`; everything a user asks of them afterwards (the 10x10 matrix, the examples in one
cell, the most-confused pairs) is counting, done here without the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = 10
#: Examples a gallery shows at most: enough to see a pattern, few enough to read from the back row.
GALLERY_LIMIT = 24


def confusion_counts(labels: np.ndarray, predictions: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    """(classes, classes) int64 counts: rows are true labels, columns are predictions."""
    flat = np.asarray(labels, dtype=np.int64) * classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def most_confused(matrix: np.ndarray, k: int = 5) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal cells as (true, predicted, count), largest first; empty cells left out.

    Ties go to the smaller (true, predicted), so the list is stable from one refresh to the next.
    """
    counts = np.asarray(matrix)
    cells = [(-int(counts[t, p]), t, p) for t in range(counts.shape[0]) for p in range(counts.shape[1]) if t != p]
    return [(t, p, -neg) for neg, t, p in sorted(cells)[:k] if neg < 0]


@dataclass(frozen=True)
class Verdicts:
    """The network's answer for every held-out image, all from the weights of one iteration."""

    labels: np.ndarray  # (N,) int64, the true labels
    predictions: np.ndarray  # (N,) int64, argmax of the logits
    confidences: np.ndarray  # (N,) float32, softmax probability of the predicted class
    iteration: int

    def matrix(self) -> np.ndarray:
        return confusion_counts(self.labels, self.predictions)

    @property
    def accuracy(self) -> float:
        return float((self.labels == self.predictions).mean()) if len(self.labels) else float("nan")

    def cell(self, true: int, predicted: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, confidences) of the held-out images labelled `true` and predicted `predicted`,
        most confident first: a confident mistake is the one worth looking at."""
        where = np.flatnonzero((self.labels == true) & (self.predictions == predicted))
        order = np.argsort(-self.confidences[where], kind="stable")
        return where[order], self.confidences[where[order]]


@dataclass(frozen=True)
class Gallery:
    """The examples behind one cell of the confusion matrix, ready to draw."""

    true: int
    predicted: int
    indices: np.ndarray  # (k,) int64 held-out indices, most confident first
    confidences: np.ndarray  # (k,) float32
    images: np.ndarray  # (k, 32, 32) float32 intensities in [0, 1] (as drawn, not standardized)
    total: int  # examples in the cell; k = min(total, the limit asked for)
    iteration: int  # the weights the verdicts came from
