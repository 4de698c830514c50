"""File ▸ Open checkpoint… / Save checkpoint…: the dialogs here, the file work where training runs.

Why this shape: the trainer belongs to the worker (a child process, or a thread), so saving and
opening are commands (`SaveCheckpoint`, `OpenCheckpoint`) run between two others, never in the
middle of one; the GUI only asks for a path.  What happened comes back as events: an opened
checkpoint is a new run (`RunStarted`, with its history, in the same drain as its snapshot, so
the curves can never mix two runs), a save is `CheckpointSaved`; the session turns both into
what the screen says, and a failure (worded for the user) into the banner.  This object writes
nothing of the window's: it knows only the worker, the settings and a parent for its dialogs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QWidget

from .worker import TrainingWorker

FILE_FILTER = "lenet-viz checkpoints (*.pt);;All files (*)"
FOLDER_KEY = "checkpointFolder"


class CheckpointActions(QObject):
    """The two File-menu actions and what they do."""

    def __init__(self, parent: QWidget, worker: TrainingWorker, settings: QSettings, iteration: Callable[[], int]) -> None:
        super().__init__(parent)
        self.parent_widget, self.worker, self.settings, self.iteration = parent, worker, settings, iteration
        self.last: Future | None = None  # the newest save or open, until its answer comes
        self.saving: tuple[Path, Future] | None = None  # the newest save: closing waits for it
        self.open_action = self._action("Open checkpoint…", "Ctrl+O", self.ask_open, "Resume a run saved earlier")
        self.save_action = self._action("Save checkpoint…", "Ctrl+S", self.ask_save, "Save this run, to resume it exactly later")

    def _action(self, text: str, key: str, slot: Callable[[], None], tip: str) -> QAction:
        action = QAction(text, self.parent_widget)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip} ({key})")
        action.triggered.connect(slot)
        return action

    # ----------------------------------------------------------------- dialogs
    def ask_save(self) -> None:
        default = str(self._folder() / f"lenet-viz-iter{self.iteration()}.pt")
        path, _ = QFileDialog.getSaveFileName(self.parent_widget, "Save checkpoint", default, FILE_FILTER)
        if path:
            self.save_to(path)

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent_widget, "Open checkpoint", str(self._folder()), FILE_FILTER)
        if path:
            self.open_from(path)

    # ------------------------------------------------------------ file work
    def save_to(self, path: str | Path) -> Future:
        """Save between two iterations (training goes on)."""
        future = self._remember(path, self.worker.save_checkpoint(path))
        self.saving = (Path(path).expanduser().absolute(), future)
        return future

    def unsaved(self) -> tuple[Path, Future] | None:
        """The save still being written, if one is: (path, future)."""
        return self.saving if self.saving is not None and not self.saving[1].done() else None

    def open_from(self, path: str | Path) -> Future:
        """Pause, then resume the run saved in `path`; a bad file changes nothing."""
        return self._remember(path, self.worker.open_checkpoint(path))

    def _remember(self, path: str | Path, future: Future) -> Future:
        folder = str(Path(path).expanduser().absolute().parent)
        future.add_done_callback(lambda f: None if f.exception() else self.settings.setValue(FOLDER_KEY, folder))
        self.last = future
        return future

    def _folder(self) -> Path:
        folder = self.settings.value(FOLDER_KEY)
        return Path(folder) if isinstance(folder, str) and Path(folder).is_dir() else Path.home()
