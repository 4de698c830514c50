"""One way to add a dock to the main window, so every dock is named, saved and restored alike."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QWidget


def add_dock(window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea, *, scroll: bool = False) -> QDockWidget:
    """A dock titled `title` (its object name keys the saved layout) holding `widget`.  `scroll`: a panel
    that wants more room than a 1280-px screen leaves scrolls inside its dock instead of widening the window."""
    dock = QDockWidget(title, window)
    dock.setObjectName(f"dock-{title}")
    if scroll:
        area_widget = QScrollArea()
        area_widget.setWidgetResizable(True)
        area_widget.setFrameShape(QFrame.Shape.NoFrame)
        area_widget.setWidget(widget)
        widget = area_widget
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock
