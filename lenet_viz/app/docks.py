"""One way to add a dock to the main window, so every dock is named, saved and restored alike, and
a dock whose panel is made only when first needed (`DeferredPanel`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QWidget

P = TypeVar("P", bound=QWidget)


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


class DeferredPanel(QObject, Generic[P]):
    """A dock whose panel is made when first needed, not at launch: when the dock is first shown, when
    code first asks for it (`panel`), or when the window has been drawn and the event loop is idle
    (`build_deferred_panels`).  For panels that start behind another tab: launch then draws the
    window without paying for plots nobody sees yet.  `wire(panel)` connects its signals once made.
    The dock scrolls (add_dock's scroll=True), so its size never waited on the panel's."""

    def __init__(self, window: QMainWindow, title: str, make: Callable[[], P], area: Qt.DockWidgetArea,
                 wire: Callable[[P], None] | None = None) -> None:
        dock = add_dock(window, title, QWidget(), area, scroll=True)  # an empty page, replaced by the panel
        super().__init__(dock)
        self.dock = dock
        self._make, self._wire = make, wire
        self._panel: P | None = None
        self.dock.visibilityChanged.connect(lambda visible: visible and self.panel)  # made before it is seen

    @property
    def built(self) -> bool:
        return self._panel is not None

    @property
    def panel(self) -> P:
        if self._panel is None:
            self._panel = self._make()
            self.dock.widget().setWidget(self._panel)  # the scroll area deletes the empty page
            if self._wire is not None:
                self._wire(self._panel)
        return self._panel


def build_deferred_panels(window: QMainWindow) -> None:
    """Make the window's deferred panels that nothing has asked for yet, one per turn of the event loop
    (each takes up to ~0.2 s), so the window answers input between them."""
    pending = [d for d in window.findChildren(DeferredPanel) if not d.built]
    if pending:
        pending[0].panel
        if len(pending) > 1:
            QTimer.singleShot(0, window, lambda: build_deferred_panels(window))
