"""Your own digit, what the network looks at, and where it errs: three docks and what connects them.

The panels (`DrawingPanel`, `SaliencyPanel`, `ConfusionPanel`) only draw and emit; this module
turns their signals into the worker's commands and hands them the session's data:

- a drawing (or an opened PNG/JPEG) becomes the probe at once (`SetProbe` with the image): the
  feature maps, the prediction and the saliency follow it while the network trains;
- the saliency map is computed in the engine only while its dock is visible (`ShowSaliency`);
- the confusion matrix is kept up to date after each evaluation only while its dock is visible
  (`WatchConfusion`), within a share of the training time; Refresh asks for one now; a cell
  asks for its examples (`RequestGallery`), an example becomes the probe.
"""

from __future__ import annotations

from collections.abc import Callable

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow

from ..data.drawing import load_image
from ..data.errors import DataError
from ..training.messages import RefreshConfusion, RequestGallery, ShowSaliency, WatchConfusion
from .docks import DeferredPanel, add_dock, track_shown
from .panels.confusion import ConfusionPanel
from .panels.drawing import DrawingPanel
from .panels.saliency import SaliencyPanel
from .session import Session
from .worker import TrainingWorker

RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg);;All files (*)"


class ProbeTools(QObject):
    def __init__(self, window: QMainWindow, worker: Callable[[], TrainingWorker], session: Session) -> None:
        super().__init__(window)
        self.window, self._worker, self.session = window, worker, session
        self.drawing = DrawingPanel()
        self.saliency = SaliencyPanel()
        self.docks = {
            "drawing": add_dock(window, "Your digit", self.drawing, RIGHT, scroll=True),
            "saliency": add_dock(window, "Saliency", self.saliency, RIGHT, scroll=True),
        }
        # Behind another tab at launch: made when first shown (or once the window is drawn).
        self._confusion = DeferredPanel(window, "Confusion", ConfusionPanel, RIGHT, self._wire_confusion)
        self.docks["confusion"] = self._confusion.dock
        self.shown = track_shown(self.docks, self._shown_changed)
        self.drawing.drawing_changed.connect(self._drawn)
        self.saliency.target_changed.connect(lambda _: self._saliency_wanted())
        self.open_image_action = QAction("Open image as probe…", window)
        self.open_image_action.setShortcut(QKeySequence("Ctrl+I"))
        self.open_image_action.setToolTip("A PNG or JPEG of a digit becomes the probe (Ctrl+I)")
        self.open_image_action.triggered.connect(self.ask_image)
        self._saliency_on: tuple[bool, int | None] | None = None
        self._confusion_on: bool | None = None

    @property
    def worker(self) -> TrainingWorker:
        """The worker of the moment (Restart training replaces it)."""
        return self._worker()

    @property
    def confusion(self) -> ConfusionPanel:
        return self._confusion.panel

    def _wire_confusion(self, panel: ConfusionPanel) -> None:
        panel.refresh_requested.connect(self._refresh_confusion)
        panel.cell_requested.connect(lambda t, p: self.worker.send(RequestGallery(t, p)))
        panel.probe_requested.connect(lambda index: self.worker.set_probe(index))
        if self.session.confusion is not None:  # a matrix came before the panel was made: it shows it at once
            panel.show(*self.session.confusion)

    def worker_started(self) -> None:
        """A new training worker (Restart training): it knows nothing of saliency or the confusion watch yet."""
        self._saliency_on = self._confusion_on = None
        self._saliency_wanted()
        if self.shown["confusion"]:
            self._confusion_wanted(True)

    # ------------------------------------------------------------------ user → engine
    def _drawn(self, image) -> None:  # noqa: ANN001 - (1, 32, 32) float32, or None for an empty canvas
        if image is not None:
            self.worker.set_probe(image)

    def ask_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open an image of a digit", str(Path.home()), IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Load `path` onto the canvas (it becomes the probe); a bad file is one line and changes nothing."""
        try:
            ink = load_image(path)
        except DataError as exc:
            self.session.warn(str(exc))
            return False
        self.drawing.load_ink(ink)
        self.docks["drawing"].raise_()
        return True

    def _shown_changed(self, name: str, visible: bool) -> None:
        if name == "saliency":
            self._saliency_wanted()
        elif name == "confusion":
            self._confusion_wanted(visible)

    def _saliency_wanted(self) -> None:
        wanted = (self.shown["saliency"], self.saliency.target())
        if wanted != self._saliency_on:
            self._saliency_on = wanted
            self.worker.send(ShowSaliency(*wanted))

    def _confusion_wanted(self, visible: bool) -> None:
        if visible != self._confusion_on:
            self._confusion_on = visible
            self.worker.send(WatchConfusion(visible))
            if visible and self.session.confusion is None:
                self._refresh_confusion()

    def _refresh_confusion(self) -> None:
        self.worker.send(RefreshConfusion())
        self.confusion.counting()

    # ------------------------------------------------------------------ engine → panels
    def refresh(self, changed: set[str]) -> None:
        s = self.session
        if "snapshot" in changed and s.snapshot is not None:
            self.drawing.show(s.snapshot)
            if self.shown["saliency"]:
                self.saliency.show(s.snapshot)
        if "confusion" in changed:
            if s.confusion is not None:
                self.confusion.show(*s.confusion)
            elif self._confusion.built:  # a new run: the matrix described weights that are gone; watched, it is recounted
                self.confusion.clear(counting=bool(self._confusion_on))
        if "gallery" in changed and s.gallery is not None:
            self.confusion.show_gallery(s.gallery)
