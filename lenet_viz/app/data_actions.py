"""The Data menu: train on the bundled digits, MNIST or the tutorial's random tensors, and download
MNIST from the window with a progress bar that can be cancelled.

The download (`lenet_viz.data.download.download_mnist`, torch-free) runs on a Python thread; its
progress reaches the GUI thread as a queued Qt signal.  It writes each file into a temporary
sibling and renames it only once its md5 matches, so a cancel or a failure leaves nothing
half-written.  Failures go to the banner, success and cancel to the status bar's notice.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QProgressBar, QPushButton, QWidget

from ..data.errors import DataError
from ..data.files import MNIST_SIZES, default_data_dir
from ..training import TrainConfig

#: (dataset name in TrainConfig, menu text)
SOURCES = (("digits", "Bundled digits (scikit-learn, 8×8 upscaled)"), ("mnist", "MNIST"),
           ("random", "Random tensors (the tutorial's torch.randn)"))
TOTAL_BYTES = sum(MNIST_SIZES.values())


class DownloadBar(QWidget):
    """A progress bar and its Cancel button, in the status bar while a download runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, TOTAL_BYTES)
        self.bar.setFormat("MNIST %p %")
        self.bar.setMinimumWidth(160)
        self.cancel_button = QPushButton("Cancel")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar)
        row.addWidget(self.cancel_button)
        self.hide()


class DataActions(QObject):
    """Data ▸ source choice and Download MNIST….  `current_config()` is the engine's running
    config (None before it is built); `apply_config(config)` sends one; `notify` / `report` put a
    line in the notice / the banner.  `mirrors` (tests: a loopback server) defaults to the public ones."""

    progressed = Signal(int)  # bytes of the four files so far
    finished = Signal(str, str)  # (folder, error): error "" on success, "cancelled" when cancelled

    def __init__(
        self, window: QMainWindow, current_config: Callable[[], TrainConfig | None],
        apply_config: Callable[[TrainConfig], None], notify: Callable[[str], None], report: Callable[[str], None],
        mirrors: Sequence[str] | None = None,
    ) -> None:
        super().__init__(window)
        self.window, self.current_config, self.apply_config = window, current_config, apply_config
        self.notify, self.report, self.mirrors = notify, report, mirrors
        self.menu = window.menuBar().addMenu("&Data")
        group = QActionGroup(self)
        self.source_actions: dict[str, QAction] = {}
        for name, text in SOURCES:
            action = QAction(text, self, checkable=True)
            action.triggered.connect(lambda _=False, n=name: self.choose(n))
            group.addAction(action)
            self.menu.addAction(action)
            self.source_actions[name] = action
        self.menu.addSeparator()
        self.download_action = self.menu.addAction("Download MNIST…")
        self.download_action.triggered.connect(lambda: self.download())
        self.bar = DownloadBar()
        window.statusBar().addWidget(self.bar)
        self.bar.cancel_button.clicked.connect(self.cancel)
        self.progressed.connect(self.bar.bar.setValue)
        self.finished.connect(self._finished)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        window.installEventFilter(self)

    # ------------------------------------------------------------------ the source
    def show_config(self, config: TrainConfig) -> None:
        """Tick the source the engine runs on ("auto" ticks whichever it resolved to: see RunInfo)."""
        action = self.source_actions.get(config.dataset)
        for a in self.source_actions.values():
            a.setChecked(a is action)

    def choose(self, dataset: str) -> None:
        """Train on `dataset` (a new run: other data means other weights' history)."""
        config = self.current_config()
        if config is None or config.dataset == dataset:
            return
        self.apply_config(config.replace(dataset=dataset))

    # ------------------------------------------------------------------ the download
    @property
    def downloading(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def folder(self) -> Path:
        config = self.current_config()
        return Path(config.data_dir).expanduser() if config is not None and config.data_dir else default_data_dir()

    def download(self, folder: str | Path | None = None) -> None:
        """Start fetching MNIST into `folder` (default: the data folder in use) on a thread."""
        if self.downloading:
            return
        target = Path(folder) if folder is not None else self.folder()
        self._cancel = threading.Event()
        done: dict[str, int] = {}

        def progress(name: str, got: int, _total: int) -> None:
            done[name] = got
            self.progressed.emit(sum(done.values()))

        def run() -> None:
            try:
                from ..data.download import download_mnist

                where = download_mnist(target, mirrors=self.mirrors, progress=progress, cancel=self._cancel)
                self.finished.emit(str(where), "")
            except DataError as e:
                self.finished.emit(str(target), "cancelled" if self._cancel.is_set() else str(e))

        self.bar.bar.setValue(0)
        self.bar.show()
        self.download_action.setEnabled(False)
        self._thread = threading.Thread(target=run, name="mnist-download", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the download thread; True when none runs any more."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.downloading

    def _finished(self, folder: str, error: str) -> None:
        self.bar.hide()
        self.download_action.setEnabled(True)
        if error == "cancelled":
            self.notify(f"MNIST download cancelled: nothing half-written was left in {folder}")
        elif error:
            self.report(error)
        else:
            self.notify(f"MNIST downloaded to {folder}: choose Data ▸ MNIST to train on it")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """The window closes: stop a download (its partial file is removed) before the process ends."""
        if watched is self.window and event.type() == QEvent.Type.Close and self.downloading:
            self.cancel()
            self.wait(5.0)
        return False
