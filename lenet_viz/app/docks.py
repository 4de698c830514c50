"""One way to add a dock to the main window, so every dock is named, saved and restored alike."""

from __future__ import annotations

from collections.abc import Callable

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


def track_shown(docks: dict[str, QDockWidget], changed: Callable[[str, bool], None]) -> dict[str, bool]:
    """Whether each dock is on screen, kept current, calling `changed(name, shown)` after each change.

    A tabbed dock behind another tab still says isVisible(); only visibilityChanged tells whether its
    tab is the one shown, so every dock starts as not shown (call this before the window is shown)."""
    shown = dict.fromkeys(docks, False)

    def on_change(name: str, visible: bool) -> None:
        shown[name] = visible
        changed(name, visible)

    for name, dock in docks.items():
        dock.visibilityChanged.connect(lambda visible, name=name: on_change(name, visible))
    return shown
