"""The bug lab: one checkbox per classic training bug, each with a one-line explanation.

Ticking a box emits the whole chosen set; the engine adopts it at the next iteration
boundary (TrainConfig.bugs is a live field), and unticking switches the bug off again.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from ...training.bugs import CATALOGUE

EXPLANATION_STYLE = "color: #9aa0a8;"  # under its box, dimmer
NAME_STYLE = "font-family: monospace; color: #c9cdd3;"
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
            # The title alone on the box (a check box never wraps: "… (double_softmax)" made the panel wider
            # than its dock); the name the command line takes (--bug NAME) leads the wrapped explanation.
            box = QCheckBox(bug.title)
            box.setToolTip(f"{bug.explanation}\n(lenet-viz --headless --bug {bug.name})")
            box.toggled.connect(self._emit)
            text = QLabel(f"<span style='{NAME_STYLE}'>{html.escape(bug.name)}</span> · {html.escape(bug.explanation)}")
            text.setTextFormat(Qt.TextFormat.RichText)
            text.setWordWrap(True)
            text.setStyleSheet(EXPLANATION_STYLE)
            text.setContentsMargins(22, 0, 0, 4)  # under its box; a margin in the style sheet is not in the wrapped height
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
