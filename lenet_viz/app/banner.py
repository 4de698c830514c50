"""The banner across the top of the main window: errors and divergence, said without a modal dialog."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QWidget):
    """A dismissable message across the top: errors and divergence, never a modal dialog."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        close.clicked.connect(self.dismissed)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.text, 1)
        row.addWidget(close)
        self.hide()

    def say(self, text: str) -> None:
        self.text.setText(text)
        self.setVisible(True)
