"""File ▸ Open checkpoint… / Save checkpoint…: the dialogs here, the file work in the worker.

Why this shape: the trainer belongs to the worker (a child process, or a thread), so saving and
loading run there through `worker.call`, between two commands, never in the middle of one (the
jobs are picklable functions from `training.jobs`); the GUI only asks for a path and reports
the outcome.  A load is a `replaces_state` call: the worker hands the
loaded run's history over in the same drain as its stats, so the window's curves can never
mix two runs.  Failures arrive as `errorOccurred` (a CheckpointError is worded for the user)
and end up in the window's banner; the running state is untouched.  `save_to` / `open_from`
skip the dialogs, for tests and for `lenet-viz --checkpoint PATH`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from ..training.jobs import CheckpointDone, open_job, save_job

if TYPE_CHECKING:
    from .main_window import MainWindow

FILE_FILTER = "lenet-viz checkpoints (*.pt);;All files (*)"
FOLDER_KEY = "checkpointFolder"


class CheckpointActions(QObject):
    """The two File-menu actions of a MainWindow and what they do."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._tokens: set[int] = set()
        self.open_action = self._action("Open checkpoint…", "Ctrl+O", self.ask_open, "Resume a run saved earlier")
        self.save_action = self._action("Save checkpoint…", "Ctrl+S", self.ask_save, "Save this run, to resume it exactly later")
        window.worker.callFinished.connect(self._finished)

    def _action(self, text: str, key: str, slot: Callable[[], None], tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip} ({key})")
        action.triggered.connect(slot)
        return action

    # ----------------------------------------------------------------- dialogs
    def ask_save(self) -> None:
        w = self.window
        iteration = w.last_update.iteration if w.last_update else 0
        default = str(self._folder() / f"lenet-viz-iter{iteration}.pt")
        path, _ = QFileDialog.getSaveFileName(w, "Save checkpoint", default, FILE_FILTER)
        if path:
            self.save_to(path)

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open checkpoint", str(self._folder()), FILE_FILTER)
        if path:
            self.open_from(path)

    # ------------------------------------------------------------ file work
    def save_to(self, path: str | Path) -> int:
        """Save between two iterations (training goes on); returns the worker call's token."""
        return self._call(save_job(path), replaces_state=False)

    def open_from(self, path: str | Path) -> int:
        """Pause, then resume the run saved in `path`; a bad file changes nothing."""
        self.window.worker.pause()
        return self._call(open_job(path), replaces_state=True)

    def _call(self, fn: Callable[[Any], CheckpointDone], *, replaces_state: bool) -> int:
        token = self.window.worker.call(fn, replaces_state=replaces_state)
        self._tokens.add(token)
        return token

    def _finished(self, token: int, result: object) -> None:
        if token not in self._tokens or not isinstance(result, CheckpointDone):
            return
        self._tokens.discard(token)
        w = self.window
        w.settings.setValue(FOLDER_KEY, str(Path(result.path).parent))
        if result.opened:  # the drain before this signal already swapped history and snapshot
            w.epoch = result.epoch
            w.form.set_config(result.config)
            w.dataset_text = result.dataset_text
            w.banner.hide()
            w.statusBar().showMessage(f"Opened {result.path}: iteration {result.iteration:,}", 10000)
        else:
            w.statusBar().showMessage(f"Saved iteration {result.iteration:,} to {result.path}", 10000)

    def _folder(self) -> Path:
        folder = self.window.settings.value(FOLDER_KEY)
        return Path(folder) if isinstance(folder, str) and Path(folder).is_dir() else Path.home()
