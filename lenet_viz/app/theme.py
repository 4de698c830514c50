"""One dark look for the Qt widgets and the plots alike.

pyqtgraph draws on a dark background (the layer colours and viridis maps are chosen for it), so
the widgets around the plots are dark too: one surface instead of bright tables beside black
plots, which on a projector read as two apps.  Only `run_app` applies it; tests keep Qt's and
pyqtgraph's defaults.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

PLOT_BACKGROUND = "#181a1f"
PLOT_FOREGROUND = "#c9cdd3"

_ROLES = {
    QPalette.ColorRole.Window: "#22252b",
    QPalette.ColorRole.WindowText: "#e4e6ea",
    QPalette.ColorRole.Base: "#1b1d22",
    QPalette.ColorRole.AlternateBase: "#24272e",
    QPalette.ColorRole.Text: "#e4e6ea",
    QPalette.ColorRole.PlaceholderText: "#878c95",
    QPalette.ColorRole.Button: "#30343c",
    QPalette.ColorRole.ButtonText: "#e4e6ea",
    QPalette.ColorRole.BrightText: "#ff6e6e",
    QPalette.ColorRole.ToolTipBase: "#30343c",
    QPalette.ColorRole.ToolTipText: "#e4e6ea",
    QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6ab0ff",
    QPalette.ColorRole.Light: "#4a4f58",
    QPalette.ColorRole.Midlight: "#3a3e46",
    QPalette.ColorRole.Mid: "#2c3037",
    QPalette.ColorRole.Dark: "#15171b",
    QPalette.ColorRole.Shadow: "#0c0d10",
}
_DISABLED = {
    QPalette.ColorRole.WindowText: "#6c717a",
    QPalette.ColorRole.Text: "#6c717a",
    QPalette.ColorRole.ButtonText: "#6c717a",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in _ROLES.items():
        palette.setColor(role, QColor(color))
    for role, color in _DISABLED.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


def apply_theme(app: QApplication) -> None:
    """Fusion (the same on every platform) with the dark palette.  The plots' PLOT_BACKGROUND is
    set by the caller with pg.setConfigOptions, before any plot exists (pyqtgraph reads it at creation)."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
