"""What the network looks at: |d logit_c / d input| for the probe, alone and laid over the input.

The map is the engine's (`Snapshot.saliency`, computed while `Trainer.saliency_in_snapshot` is
on); this panel only colours it.  Its class picker asks for the map of the predicted class or of
any digit ("why not a 3?"), through `target_changed`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ...training.types import Snapshot
from .common import to_grey_levels, verdict_color, verdict_text

SALIENCY_CMAP = "inferno"  # dark = no influence, so the overlay's dark parts show the digit through
PREDICTED = "predicted class"


def heat_rgb(saliency: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rgb float (h, w, 3) in [0, 1], strength (h, w) in [0, 1]): the map through the colormap, scaled to its peak."""
    peak = float(np.nanmax(saliency)) if np.isfinite(saliency).any() else 0.0
    strength = np.clip(np.nan_to_num(saliency / peak if peak > 0 else saliency * 0.0), 0.0, 1.0)
    rgb = lut[(strength * (len(lut) - 1)).astype(np.intp)] / 255.0
    return rgb, strength


def overlay(image: np.ndarray, saliency: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8: the input in dim grey with the map's colours over it, opaque where the map is strong."""
    lo, hi = to_grey_levels(image)
    grey = np.clip((np.nan_to_num(image, nan=lo) - lo) / (hi - lo), 0.0, 1.0)[..., None] * 0.6
    heat, strength = heat_rgb(saliency, lut)
    alpha = np.sqrt(strength)[..., None]  # the square root lifts the faint, wide parts of the map into view
    return ((grey * (1 - alpha) + heat * alpha) * 255).astype(np.uint8)


class SaliencyPanel(QWidget):
    """Two views of one 32x32 map: the saliency alone, and over the input; a class picker above them."""

    #: None for the predicted class, or a digit 0-9: the class whose logit the map differentiates.
    target_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lut = pg.colormap.get(SALIENCY_CMAP).getLookupTable(nPts=256, alpha=False)
        self.picker = QComboBox()
        self.picker.addItem(PREDICTED, None)
        for digit in range(10):
            self.picker.addItem(f"digit {digit}", digit)
        self.picker.setToolTip("Whose logit to differentiate: the predicted class, or any digit")
        self.picker.currentIndexChanged.connect(lambda _: self.target_changed.emit(self.target()))
        self.caption = QLabel("no saliency yet")
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens a dock
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.caption.setFont(font)
        top = QHBoxLayout()
        top.addWidget(QLabel("|∂ logit / ∂ input| for"))
        top.addWidget(self.picker)
        top.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(260, 150)
        self.title = self.graphics.ci.addLabel("saliency", row=0, col=0, size="11pt")
        self.graphics.ci.addLabel("over the input", row=0, col=1, size="11pt")
        self.map_view, self.map_item = self._view(1, 0)
        self.overlay_view, self.overlay_item = self._view(1, 1)
        self.map_item.setColorMap(pg.colormap.get(SALIENCY_CMAP))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.caption)
        layout.addWidget(self.graphics, 1)

    def _view(self, row: int, col: int) -> tuple[pg.ViewBox, pg.ImageItem]:
        view = self.graphics.ci.addViewBox(row=row, col=col, lockAspect=True, enableMouse=False, enableMenu=False, invertY=True)
        item = pg.ImageItem(np.zeros((32, 32), dtype=np.float32), axisOrder="row-major")
        view.addItem(item)
        view.setRange(xRange=(0, 32), yRange=(0, 32), padding=0.02)
        view.disableAutoRange()
        return view, item

    def target(self) -> int | None:
        """The class picked: None for "predicted class", else 0-9."""
        return self.picker.currentData()

    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Draw the snapshot's saliency map; one without a map (saliency off) says so.  No argument: QWidget.show()."""
        if snapshot is None:
            super().show()
            return
        probs = snapshot.activations["probabilities"]
        verdict = verdict_text(snapshot.prediction, float(probs[snapshot.prediction]), snapshot.probe_label)
        self.caption.setStyleSheet(f"color: {verdict_color(snapshot.prediction, snapshot.probe_label)}")
        if snapshot.saliency is None or snapshot.saliency_target is None:
            self.caption.setText(f"{verdict} · no saliency map in this frame")
            return
        target = snapshot.saliency_target
        self.caption.setText(verdict)
        whose = "predicted" if target == snapshot.prediction else "not predicted"
        self.title.setText(f"saliency of logit {target} ({whose})", size="11pt")
        sal = np.nan_to_num(snapshot.saliency.astype(np.float32, copy=False), nan=0.0, posinf=0.0)
        self.map_item.setImage(sal, levels=(0.0, max(float(sal.max()), 1e-12)), autoLevels=False)
        self.overlay_item.setImage(overlay(snapshot.probe_image, sal, self._lut), levels=(0, 255), autoLevels=False)


__all__ = ["SaliencyPanel", "overlay", "heat_rgb"]
