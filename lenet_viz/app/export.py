"""Export: each panel as PNG or SVG, the whole window as PNG, every iteration's metrics as CSV.

Plots go through pyqtgraph's exporters (the SVG keeps curves and text as vectors); tables and
trees are painted into a QSvgGenerator or grabbed as a picture.  The metrics CSV is written by the
engine from its spool of every iteration (`training/metrics_log.py`), not from the GUI's bounded,
decimated history.  Errors a user can cause (a folder that cannot be written) go to the banner.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPoint, QRect, QSize
from PySide6.QtGui import QAction, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QMenu, QMenuBar, QWidget

from ..training.messages import ExportMetrics

FORMATS = ("png", "svg")


class ExportError(Exception):
    """One line for the banner, naming the file."""


def _plot_scene(widget: QWidget) -> pg.GraphicsScene | None:
    """The pyqtgraph scene a panel draws in, if it is a plot panel."""
    views = [widget] if isinstance(widget, pg.GraphicsView) else widget.findChildren(pg.GraphicsView)
    return views[0].scene() if len(views) == 1 else None


def _written(path: Path, write: Callable[[str], object]) -> Path:
    """Run `write(tmp)` into a temporary sibling, then move it onto `path`: nothing half-written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        if write(tmp) is False or not Path(tmp).stat().st_size:
            raise ExportError(f"cannot export {path}: nothing was written")
        os.replace(tmp, path)
    except OSError as e:
        raise ExportError(f"cannot export {path}: {e.strerror or e}") from e
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def export_widget(widget: QWidget, path: str | Path) -> Path:
    """`widget` (a panel) as PNG or SVG, by the file's suffix.  Plots by pyqtgraph's exporters."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise ExportError(f"cannot export {path}: choose a .png or .svg file")
    if not path.parent.is_dir():
        raise ExportError(f"cannot export {path}: no folder {path.parent}")
    scene = _plot_scene(widget)
    if kind == "svg":
        if scene is not None:
            import pyqtgraph.exporters  # noqa: F401 - registers pg.exporters; not needed at launch

            try:
                return _written(path, lambda tmp: pg.exporters.SVGExporter(scene).export(tmp))
            except ValueError:  # pyqtgraph 0.14's exporter cannot parse some paths Qt writes (image
                pass  # panels' frames): paint the widget into an SVG instead, still vectors and text
        return _written(path, lambda tmp: _paint_svg(widget, tmp))
    return _written(path, lambda tmp: widget.grab().save(tmp, "PNG"))


def _paint_svg(widget: QWidget, file: str) -> None:
    generator = QSvgGenerator()
    generator.setFileName(file)
    generator.setSize(QSize(widget.width(), widget.height()))
    generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    generator.setTitle(widget.objectName() or type(widget).__name__)
    painter = QPainter(generator)
    try:
        widget.render(painter, QPoint(0, 0))
    finally:
        painter.end()


class ExportActions(QObject):
    """The Export menu (in `menu`: the menu bar, or a menu to hold it as a submenu).  `panels` maps a panel's title to its widget; `send` takes an engine
    command; `report` takes an error line for the banner."""

    def __init__(self, window: QWidget, panels: dict[str, QWidget], send: Callable[[object], None],
                 report: Callable[[str], None], menu: QMenu | QMenuBar) -> None:
        super().__init__(window)
        self.window, self.panels, self.send, self.report = window, panels, send, report
        self.menu = menu.addMenu("E&xport")
        self.actions: dict[str, QAction] = {}
        self._add("window", "Window as PNG…", lambda: self._ask("window.png", "PNG image (*.png)", self.export_window))
        self._add("metrics", "Metrics (every iteration) as CSV…",
                  lambda: self._ask("metrics.csv", "CSV (*.csv)", self.export_metrics))
        self.menu.addSeparator()
        for title, widget in panels.items():
            self._add(f"{title} png", f"{title} as PNG…",
                      lambda _=False, w=widget, t=title: self._ask(f"{slug(t)}.png", "PNG image (*.png)",
                                                                   lambda p: self.export_panel(w, p)))
            self._add(f"{title} svg", f"{title} as SVG…",
                      lambda _=False, w=widget, t=title: self._ask(f"{slug(t)}.svg", "SVG image (*.svg)",
                                                                   lambda p: self.export_panel(w, p)))

    def _add(self, name: str, text: str, slot: Callable[[], None]) -> None:
        action = self.menu.addAction(text)
        action.triggered.connect(slot)
        self.actions[name] = action

    def _ask(self, default: str, filters: str, then: Callable[[str], object]) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export", str(Path.home() / default), filters)
        if path:
            then(path)

    def export_panel(self, widget: QWidget, path: str | Path) -> Path | None:
        try:
            return export_widget(widget, path)
        except ExportError as e:
            self.report(str(e))
            return None

    def export_window(self, path: str | Path) -> Path | None:
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        return self.export_panel(self.window, path)

    def export_metrics(self, path: str | Path) -> None:
        """Ask the engine to write every iteration so far: the notice says how many, or the banner why not."""
        self.send(ExportMetrics(str(Path(path).expanduser().resolve())))


def slug(title: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())
