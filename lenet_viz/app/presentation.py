"""For a classroom projector: zoom every font and plot label, full screen, a light theme, and big
readouts of iteration, loss, held-out accuracy and learning rate.

Zoom scales the point sizes of the stylesheet (every widget font the app sets lives there) and,
in every plot, the axis numbers, axis labels, titles and tags; it keeps each item's base size, so
zooming in and out returns exactly to where it started.  The theme swaps the palette, the
stylesheet's colours and the plots' background and axes.  Both are remembered in the settings.
"""

from __future__ import annotations

import re
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QMainWindow, QWidget

from .theme import PLOT_BACKGROUND, PLOT_FOREGROUND, dark_palette
from .panels.steady_label import SteadyLabel

ZOOMS = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0)
THEMES = ("dark", "light")
LIGHT_PLOT_BACKGROUND = "#ffffff"
LIGHT_PLOT_FOREGROUND = "#30343a"
#: The stylesheet's dark colours and their light counterparts (style.qss names its palette at the top).
LIGHT_COLORS = {
    "#22252b": "#eef0f3", "#1b1d22": "#ffffff", "#24272e": "#f4f5f7", "#2c3037": "#e2e5ea", "#30343c": "#e8eaee",
    "#3a3e46": "#c9cdd4", "#33373f": "#d5d8dd", "#4a4f58": "#aeb3bb", "#15171b": "#d0d3d8", "#e4e6ea": "#1d2025",
    "#c9cdd3": "#30343a", "#9aa0a8": "#5b616b", "#6c717a": "#7b8089", "#3a3f48": "#d9dce1", "#262930": "#cfd3d9",
    "#4a1c1c": "#fde4e4", "#ffcdd2": "#8e1b1b", "#ff8a80": "#c62828",
}
_PT = re.compile(r"(\d+(?:\.\d+)?)pt")


def scaled_points(text: str, zoom: float) -> str:
    """Every "11pt" in `text` times `zoom` (a stylesheet, or a pyqtgraph size string)."""
    return _PT.sub(lambda m: f"{float(m.group(1)) * zoom:.3g}pt", text)


def light_palette() -> QPalette:
    palette = dark_palette()
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive, QPalette.ColorGroup.Disabled):
        for role in QPalette.ColorRole:
            if role in (QPalette.ColorRole.NColorRoles,):
                continue
            color = palette.color(group, role).name()
            if color in LIGHT_COLORS:
                palette.setColor(group, role, QColor(LIGHT_COLORS[color]))
    palette.setColor(QPalette.ColorRole.Window, QColor("#eef0f3"))
    palette.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#1d2025"))
    palette.setColor(QPalette.ColorRole.Text, QColor("#1d2025"))
    palette.setColor(QPalette.ColorRole.ButtonText, QColor("#1d2025"))
    palette.setColor(QPalette.ColorRole.Button, QColor("#e8eaee"))
    return palette


class BigReadout(QWidget):
    """Iteration, loss, held-out accuracy and learning rate in large type, for the back row."""

    FIELDS = ("iteration", "loss", "held-out", "lr")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bigReadout")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 0, 8, 0)
        row.setSpacing(18)
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            label = SteadyLabel()
            label.setObjectName("readout")
            label.setTextFormat(Qt.TextFormat.RichText)
            self.values[name] = label
            row.addWidget(label.holder)
        self.set_values(0, None, None, None)

    def set_values(self, iteration: int, loss: float | None, accuracy: float | None, lr: float | None) -> None:
        texts = {
            "iteration": f"{iteration:,}",
            "loss": "—" if loss is None else f"{loss:.4g}",
            "held-out": "—" if accuracy is None else f"{100 * accuracy:.1f} %",
            "lr": "—" if lr is None else f"{lr:g}",
        }
        for name, value in texts.items():
            html = f"<span style='color:#8a8f98'>{name}</span>&nbsp;<b>{value}</b>"
            if self.values[name].text() != html:
                self.values[name].setText(html)

    def show_session(self, session: Any) -> None:
        """Read a `Session`: its iteration, the newest loss, the newest held-out accuracy, the lr running."""
        history = session.history
        loss = float(history.column("loss")[-1]) if len(history) else None
        accuracy = history.evals[-1][1] if history.evals else None
        lr = session.snapshot.lr if session.snapshot is not None else None
        self.set_values(session.iteration, loss, accuracy, lr)


class Presentation(QObject):
    """View ▸ Zoom in / Zoom out / Actual size / Full screen / Light theme, and the big readout
    (a toolbar of its own).  `stylesheet` is the app's style.qss text ("" when none is used)."""

    def __init__(self, window: QMainWindow, settings: QSettings, stylesheet: str = "") -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.stylesheet = stylesheet
        self.zoom = 1.0
        self.theme = "dark"
        self._bases: dict[int, Any] = {}  # id(plot item) -> its size before any zoom
        self._original: tuple[QPalette, str] | None = None  # the app's palette and stylesheet before any change
        self.readout = BigReadout()
        self.readout_bar = window.addToolBar("Readouts")
        self.readout_bar.setObjectName("readout-toolbar")
        self.readout_bar.addWidget(self.readout)
        self.actions: dict[str, QAction] = {}
        for name, text, keys, slot in (
            ("zoom_in", "Zoom in", ["Ctrl+=", "Ctrl++"], self.zoom_in),
            ("zoom_out", "Zoom out", ["Ctrl+-"], self.zoom_out),
            ("zoom_reset", "Actual size", ["Ctrl+0"], lambda: self.set_zoom(1.0)),
            ("full_screen", "Full screen", ["F11"], self.toggle_full_screen),
            ("light", "Light theme", ["Ctrl+Shift+L"], lambda on: self.set_theme("light" if on else "dark")),
        ):
            action = QAction(text, window)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            window.addAction(action)
            self.actions[name] = action
        window.installEventFilter(self)
        self.actions["full_screen"].setCheckable(True)
        self.actions["light"].setCheckable(True)

    def add_to(self, menu) -> None:  # noqa: ANN001 - a QMenu
        menu.addSeparator()
        menu.addActions(list(self.actions.values()))
        menu.addAction(self.readout_bar.toggleViewAction())

    def restore(self) -> None:
        """The zoom and theme of the last session (anything unreadable: the defaults)."""
        try:
            zoom = float(self.settings.value("zoom", 1.0))
        except (TypeError, ValueError):
            zoom = 1.0
        theme = self.settings.value("theme", "dark")
        self.theme = theme if theme in THEMES else "dark"
        self.actions["light"].setChecked(self.theme == "light")
        self.zoom = min(ZOOMS, key=lambda z: abs(z - zoom))
        if (self.zoom, self.theme) != (1.0, "dark"):
            self.apply()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """The window closes: the application gets its own palette and stylesheet back."""
        if watched is self.window and event.type() == QEvent.Type.Close and self._original is not None:
            app = QApplication.instance()
            app.setPalette(self._original[0])
            app.setStyleSheet(self._original[1])
            self._original = None
        return False

    # ------------------------------------------------------------------ user acts
    def zoom_in(self) -> None:
        self.set_zoom(next((z for z in ZOOMS if z > self.zoom + 1e-9), ZOOMS[-1]))

    def zoom_out(self) -> None:
        self.set_zoom(next((z for z in reversed(ZOOMS) if z < self.zoom - 1e-9), ZOOMS[0]))

    def set_zoom(self, zoom: float) -> None:
        self.zoom = zoom
        self.settings.setValue("zoom", zoom)
        self.apply()

    def set_theme(self, theme: str) -> None:
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)} (got {theme!r})")
        self.theme = theme
        self.actions["light"].setChecked(theme == "light")
        self.settings.setValue("theme", theme)
        self.apply()

    def toggle_full_screen(self) -> None:
        self.window.setWindowState(self.window.windowState() ^ Qt.WindowState.WindowFullScreen)
        self.actions["full_screen"].setChecked(self.window.isFullScreen())

    # ------------------------------------------------------------------ drawing
    def apply(self) -> None:
        """Fonts, colours and plots for the current zoom and theme.  Palette and stylesheet are the
        application's (a window's own palette does not reach widgets under an app stylesheet); at
        100 % and dark, exactly what the app had before."""
        app = QApplication.instance()
        if self._original is None:
            self._original = (QPalette(app.palette()), app.styleSheet())
        palette, qss = self._original
        light = self.theme == "light"
        if light:
            palette = light_palette()
            for dark, bright in LIGHT_COLORS.items():
                qss = qss.replace(dark, bright)
        if (self.zoom, light) != (1.0, False):
            if "QWidget { font-size" not in qss:  # no app stylesheet (tests): the app font's size, zoomed
                qss = f"QWidget {{ font-size: {QApplication.font().pointSizeF():g}pt; }}\n" + qss
            if "QLabel#readout" not in qss:
                qss += "\nQLabel#readout { font-size: 17pt; }"
            qss = scaled_points(qss, self.zoom)
        app.setPalette(palette)
        app.setStyleSheet(qss)
        fg, bg = (LIGHT_PLOT_FOREGROUND, LIGHT_PLOT_BACKGROUND) if light else (PLOT_FOREGROUND, PLOT_BACKGROUND)
        for view in self.window.findChildren(pg.GraphicsView):
            view.setBackground(bg)
            for item in view.scene().items():
                self._restyle(item, fg)

    def _restyle(self, item: Any, fg: str) -> None:
        zoom = self.zoom
        if isinstance(item, pg.AxisItem):
            base = self._bases.setdefault(id(item), (item.style["tickFont"] or QFont()).pointSizeF(), )
            font = QFont(item.style["tickFont"] or QFont())
            font.setPointSizeF(base * zoom)
            item.setTickFont(font)
            item.setPen(fg)
            item.setTextPen(fg)
            style = dict(item.labelStyle)
            key = ("label", id(item))
            size = self._bases.setdefault(key, style.get("font-size", f"{item.label.font().pointSizeF()}pt"))  # type: ignore[arg-type]
            style["font-size"] = scaled_points(size, zoom)
            if item.labelText or item.labelUnits:
                item.setLabel(item.labelText, item.labelUnits, item.labelUnitPrefix, **style)
            else:
                item.labelStyle = style
        elif isinstance(item, pg.LabelItem) and item.text:
            size, color = self._bases.setdefault(id(item), (item.opts.get("size") or "9pt", item.opts.get("color")))
            item.setText(item.text, size=scaled_points(size, zoom), color=color or fg)
        elif isinstance(item, pg.TextItem):
            base = self._bases.setdefault(id(item), item.textItem.font().pointSizeF())
            font = item.textItem.font()
            font.setPointSizeF(base * zoom)
            item.setFont(font)
