"""The bug lab: one checkbox per classic training bug, each with a one-line explanation.

Ticking a box emits the whole chosen set; the engine adopts it at the next iteration
boundary (TrainConfig.bugs is a live field), and unticking switches the bug off again.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from ...training.bugs import CATALOGUE

EXPLANATION_STYLE = "color: #9aa0a8; margin-left: 22px; margin-bottom: 4px;"  # under its box, dimmer
HINT = "Break it on purpose: each bug takes effect at the next iteration."


class LabPanel(QWidget):
    """Checkboxes named after the bugs; `bugs_changed(frozenset[str])` when the user ticks one."""

    bugs_changed = Signal(object)  # frozenset of bug names (training/bugs.py BUGS)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.boxes: dict[str, QCheckBox] = {}
        self.explanations: dict[str, QLabel] = {}
        for bug in CATALOGUE:
            box = QCheckBox(f"{bug.title}  ({bug.name})")
            box.setToolTip(bug.explanation)
            box.toggled.connect(self._emit)
            text = QLabel(bug.explanation)
            text.setWordWrap(True)
            text.setStyleSheet(EXPLANATION_STYLE)
            layout.addWidget(box)
            layout.addWidget(text)
            self.boxes[bug.name] = box
            self.explanations[bug.name] = text
        layout.addStretch(1)

    def bugs(self) -> frozenset[str]:
        """The bugs ticked now."""
        return frozenset(name for name, box in self.boxes.items() if box.isChecked())

    def show(self, bugs: frozenset[str] | None = None) -> None:  # type: ignore[override]
        """Tick exactly `bugs` (the engine's config, e.g. after opening a checkpoint) without emitting;
        `show()` alone shows the widget."""
        if bugs is None:
            super().show()
            return
        for name, box in self.boxes.items():
            box.blockSignals(True)
            box.setChecked(name in bugs)
            box.blockSignals(False)

    def _emit(self) -> None:
        self.bugs_changed.emit(self.bugs())
