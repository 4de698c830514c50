"""One dark look for the Qt widgets and the plots alike.

pyqtgraph draws on a dark background (the layer colours and viridis maps are chosen for it), so
the widgets around the plots are dark too: one surface instead of bright tables beside black
plots, which on a projector read as two apps.  Only `run_app` (and the benchmark) applies it, by
`style_application`, with the stylesheet and the icon from the app's resources; tests keep Qt's and
pyqtgraph's defaults.  `configure_plots` imports pyqtgraph and gives it the look once a window needs plots.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
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


def style_application(app: QApplication) -> None:
    """The app's look, before any window exists: also what the benchmark applies, since antialiasing
    and the theme change what every frame costs to paint."""
    app.setApplicationName("lenet-viz")
    apply_theme(app)  # one dark surface for widgets and plots; tests keep Qt's defaults
    app.setProperty("lenet_viz_plot_theme", True)  # configure_plots: the plots take the theme's colours
    style = resource("style.qss")
    if style is not None:
        app.setStyleSheet(style.read_text())
    icon = resource("lenet-viz.svg")
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))


def configure_plots() -> None:
    """Import pyqtgraph and, in an app styled by `style_application`, set its options before any plot is
    made: antialiased, in the theme's plot colours (tests keep pyqtgraph's defaults).  Idempotent;
    `MainWindow._build` calls it."""
    import pyqtgraph as pg

    app = QApplication.instance()
    if app is not None and app.property("lenet_viz_plot_theme"):
        pg.setConfigOptions(antialias=True, background=PLOT_BACKGROUND, foreground=PLOT_FOREGROUND)


def resource(name: str) -> Path | None:
    """A file of the app's resources: inside the installed package (lenet_viz.resources), or, running
    from a source tree that was never installed, the repository's resources/ folder."""
    try:
        from importlib.resources import files

        found = Path(str(files("lenet_viz.resources") / name))
    except ModuleNotFoundError:
        found = Path(__file__).resolve().parents[2] / "resources" / name
    return found if found.is_file() else None
