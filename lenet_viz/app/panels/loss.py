"""The loss curve, with accuracy on a second axis: the first thing anyone watching training looks at."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ...training.history import MetricHistory
from .history_curve import history_curve
from .history_plot import (
    HistoryPlotPanel,
    column_copy,
    finite_xy,
    history_axes,
    legend_row,
)

LOSS_COLOR = "#4fc3f7"
ACCURACY_COLOR = "#ffd54f"
TITLE = None  # the dock says "Loss & accuracy"; the title row appears only to say that training diverged
DIVERGED_TITLE = "<span style='color:#ff6e6e'>Training diverged: the loss is NaN/Inf (lower the learning rate)</span>"


class LossPanel(HistoryPlotPanel):
    """Per-iteration loss (faint), smoothed loss (bold); held-out and batch accuracy on the right, in %."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot: pg.PlotItem = self.view.addPlot(row=0, col=0, title=TITLE, axisItems=history_axes(right=True))
        self.plot.setLabel("left", "loss", color=LOSS_COLOR)
        self.plot.setLabel("bottom", "iteration")
        self.plot.showGrid(x=True, y=True, alpha=0.25)

        # Accuracy lives in its own ViewBox, fixed at 0-100 %, x linked to the loss plot.
        self.accuracy_view = pg.ViewBox(enableMouse=False)
        self.plot.showAxis("right")
        self.plot.scene().addItem(self.accuracy_view)
        right = self.plot.getAxis("right")
        right.linkToView(self.accuracy_view)
        right.setLabel("accuracy (%)", color=ACCURACY_COLOR)
        self.accuracy_view.setXLink(self.plot)
        self.accuracy_view.enableAutoRange(x=False, y=False)
        self.accuracy_view.setYRange(0, 100, padding=0.02)
        self.plot.vb.sigResized.connect(self._sync_accuracy_view)

        self.loss_curve = history_curve(self.plot, pg.mkPen(LOSS_COLOR + "60", width=1))
        # A smooth curve needs no per-pixel min/max, and every vertex of a wide antialiased pen costs.
        self.smooth_curve = history_curve(self.plot, pg.mkPen(LOSS_COLOR, width=2.5), peaks=False)
        self.batch_acc_curve = history_curve(self.accuracy_view, pg.mkPen(ACCURACY_COLOR + "40", width=1))
        self.eval_curve = history_curve(
            self.accuracy_view,
            pg.mkPen(ACCURACY_COLOR, width=2),
            symbol="o",
            symbolSize=6,
            symbolPen=None,
            symbolBrush=ACCURACY_COLOR,
        )
        self.legend = legend_row(self.view, 1, {
            "loss (per batch)": self.loss_curve,
            "loss (smoothed)": self.smooth_curve,
            "batch accuracy": self.batch_acc_curve,
            "held-out accuracy": self.eval_curve,
        })
        self.view.setToolTip(
            "Faint blue: loss of each batch.  Bold blue: its moving average (~50 iterations).\n"
            "Yellow dots: accuracy on held-out images, measured every few hundred iterations.\n"
            "Faint yellow: accuracy on the training batch.  Click a legend entry to hide a curve."
        )
        self._diverged = False
        self._eval_key: tuple | None = None

    def draw(self, history: MetricHistory) -> None:
        x, loss = column_copy(history, "iteration"), column_copy(history, "loss")
        if len(history):
            self.loss_curve.setData(*finite_xy(x, loss))
            # The engine's average skips NaN losses; ending the smooth curve there too tells the truth.
            smooth = np.where(np.isfinite(loss), history.column("loss_smooth"), np.nan)
            self.smooth_curve.setData(*finite_xy(x, smooth))
            self.batch_acc_curve.setData(*finite_xy(x, column_copy(history, "accuracy") * 100))
        else:
            for curve in (self.loss_curve, self.smooth_curve, self.batch_acc_curve):
                curve.setData([], [])
        self._set_diverged(bool(len(loss)) and not np.isfinite(loss[-1]))
        # Held-out accuracy changes every few hundred iterations; its dots cost ~1 ms to re-set.
        evals = history.evals
        key = (id(history), len(evals), evals[0] if evals else None, evals[-1] if evals else None)
        if key != self._eval_key:
            self._eval_key = key
            ex, ey = history.eval_arrays()
            self.eval_curve.setData(*finite_xy(ex, ey * 100))

    def _set_diverged(self, diverged: bool) -> None:
        if diverged != self._diverged:
            self._diverged = diverged
            if not diverged:
                self.plot.titleLabel.setText("")  # setTitle(None) only hides the text
            self.plot.setTitle(DIVERGED_TITLE if diverged else TITLE)

    def _sync_accuracy_view(self) -> None:
        self.accuracy_view.setGeometry(self.plot.vb.sceneBoundingRect())
        self.accuracy_view.linkedViewChanged(self.plot.vb, self.accuracy_view.XAxis)
