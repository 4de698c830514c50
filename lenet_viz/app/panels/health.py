"""Health flags beside the gradient plot: what looks wrong, why it matters, what to try; dead ReLUs per layer.

Draws a StepStats (its `flags` and `dead_relu`, from training/health.py and the engine's forward
watch).  The widgets are made once; a frame that changes nothing sets no text.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget, QGridLayout

from ...training.types import RELU_LAYERS, HealthFlag, StepStats

MAX_FLAGS = 6  # every rule of training/health.py at once
ALL_CLEAR = "No health flags: gradients, update sizes and ReLUs look normal."
FLAG_COLOR = "#ffb74d"
TRY_COLOR = "#81c784"
FLAG_STYLE = "QLabel { border-left: 3px solid %s; padding: 3px 6px; }" % FLAG_COLOR
DEAD_TIP = ("Fraction of units (conv: channels, fc: neurons) whose ReLU output is zero for every image of "
            "the last batch, at every position: they pass no gradient and stop learning.")


def flag_html(flag: HealthFlag) -> str:
    """A flag as three short lines: title (and where), what was seen, what to try."""
    where = f" ({escape(', '.join(flag.layers))})" if flag.layers else ""
    return (f"<b style='color:{FLAG_COLOR}'>⚑ {escape(flag.title)}</b>{where} "
            f"<span style='color:#9aa0a8'>since iteration {flag.since}</span><br>"
            f"{escape(flag.explanation)}<br><span style='color:{TRY_COLOR}'>Try:</span> {escape(flag.what_to_try)}")


class HealthPanel(QWidget):
    """Up to MAX_FLAGS flag rows (or an all-clear line), then one 'dead' bar per ReLU layer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.all_clear = QLabel(ALL_CLEAR)
        self.all_clear.setWordWrap(True)
        layout.addWidget(self.all_clear)
        self.flag_labels: list[QLabel] = []
        for _ in range(MAX_FLAGS):
            label = QLabel()
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setStyleSheet(FLAG_STYLE)
            label.hide()
            layout.addWidget(label)
            self.flag_labels.append(label)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        layout.addWidget(line)
        heading = QLabel("Dead ReLUs in the last batch")
        heading.setToolTip(DEAD_TIP)
        layout.addWidget(heading)
        grid = QGridLayout()
        self.dead_bars: dict[str, QProgressBar] = {}
        for row, layer in enumerate(RELU_LAYERS):
            grid.addWidget(QLabel(layer), row, 0)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat("–")
            bar.setToolTip(DEAD_TIP)
            grid.addWidget(bar, row, 1)
            self.dead_bars[layer] = bar
        layout.addLayout(grid)
        layout.addStretch(1)
        self._shown: tuple | None = None

    def show(self, stats: StepStats | None = None) -> None:  # type: ignore[override]
        """Draw the flags and dead fractions of `stats` (the latest iteration); `show()` alone shows the widget."""
        if stats is None:
            super().show()
            return
        key = (stats.flags, tuple(stats.dead_relu.items()))
        if key == self._shown:
            return
        self._shown = key
        self._show_flags(stats.flags)
        for layer, bar in self.dead_bars.items():
            fraction = stats.dead_relu.get(layer)
            bar.setValue(0 if fraction is None else round(fraction * 1000))
            bar.setFormat("–" if fraction is None else f"{fraction:.0%} dead")

    def _show_flags(self, flags: tuple[HealthFlag, ...]) -> None:
        self.all_clear.setVisible(not flags)
        for i, label in enumerate(self.flag_labels):
            if i < len(flags):
                label.setText(flag_html(flags[i]))
                label.show()
            else:
                label.hide()

    def clear(self) -> None:
        """Forget what was shown (training was reset)."""
        self._shown = None
        self._show_flags(())
        for bar in self.dead_bars.values():
            bar.setValue(0)
            bar.setFormat("–")
