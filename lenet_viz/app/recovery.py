"""Getting out of trouble without losing work: Restart training, closing during a save, Ctrl+C.

Restart training: a fresh training process after the old one died.

Why: the network lives in the training process; when that process dies (killed, out of memory,
a crash in a native library) every command can only fail, and the window would be a dead end.
Restarting builds a new worker with the settings the lost run last used and, when a checkpoint
was saved or opened in this session, opens it, so the user goes on from there.  The session
words what is kept (`Session.banner`, `Session.restart`); this object only swaps the worker.

Closing while a checkpoint is written (fsync on a USB stick can take seconds) waits for it with a
visible note instead of killing the writer; Ctrl+C in the launching terminal closes the window
as Ctrl+Q does, instead of a KeyboardInterrupt traceback that Qt's loop swallows.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton, QWidget

log = logging.getLogger(__name__)


class TrainingRestart(QObject):
    """The "Restart training" action (Training menu, and a button in the banner while the process is lost).

    `window` is the MainWindow: its `session`, `worker`, `worker_config`, `form`, `start_worker(config)`
    and `open_checkpoint_from(path)` are used."""

    def __init__(self, window: Any, banner: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.action = QAction("Restart training", window)
        self.action.setToolTip("Start a new training process: from the checkpoint last saved or opened, else from the seed")
        self.action.setEnabled(False)
        self.action.triggered.connect(self.restart)
        self.button = QToolButton()
        self.button.setObjectName("restartTraining")
        self.button.setDefaultAction(self.action)
        self.button.hide()
        banner.layout().insertWidget(1, self.button)  # before Dismiss

    def update(self, lost: bool) -> None:
        """Offer the restart only while the training process is lost."""
        if self.action.isEnabled() != lost:
            self.action.setEnabled(lost)
            self.button.setVisible(lost)

    def restart(self) -> None:
        w = self.window
        s = w.session
        if not s.process_lost:
            return
        old = w.worker
        old.drain()  # the dead process's last words: already said
        if old.shutdown(2000):
            old.deleteLater()
        else:  # destroying a running QThread would abort the app: leave it to the window
            log.warning("restart: the old training worker did not end in time")
        config = s.config if s.config is not None else w.worker_config  # the lost run's settings
        saved = s.last_saved
        s.restart(time.perf_counter())
        w.start_worker(config)
        w.worker.set_speed_limit(w.form.speed_limit())
        w.step_tools.worker_started()  # what is on screen: the new engine knows nothing of it
        w.probe_tools.worker_started()
        if saved is not None:
            w.open_checkpoint_from(saved[0])
        self.update(False)
        w.refresh()


#: Saves a close is waiting for (a second close while one is in here gives up on it).
_CLOSING_AFTER: weakref.WeakSet[Future] = weakref.WeakSet()
#: How often Python gets a turn while Qt's loop runs, so a Ctrl+C is noticed.
HEARTBEAT_MS = 200


def finish_saving_first(window: Any, unsaved: tuple[Path, Future] | None) -> bool:
    """On close: True (keep the window) while `unsaved`, a checkpoint still being written, finishes;
    the window says so, keeps painting, and closes itself when the file is complete.  A failed save
    keeps the window open with its banner.  A second close gives up on the save, says so in the
    log, and the training process removes its temporary file as it ends."""
    if unsaved is None:
        return False
    path, future = unsaved
    if future in _CLOSING_AFTER:
        log.warning("closed before %s was saved: that checkpoint was not saved", path)
        return False
    _CLOSING_AFTER.add(future)
    window.session.notify(f"Saving {path}… then closing", time.perf_counter())
    window.refresh()

    def saved(done: Future) -> None:
        _CLOSING_AFTER.discard(done)
        if done.exception() is None:
            QTimer.singleShot(0, window.close)

    future.add_done_callback(saved)
    return True


@contextmanager
def closing_on_sigint(window: Any) -> Iterator[None]:
    """While Qt's loop runs: Ctrl+C closes `window` as Ctrl+Q does (settings saved, training stopped,
    a save finished first).  Python runs signal handlers only between bytecodes, so a heartbeat
    timer gives it a turn while Qt waits for events."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    heartbeat = QTimer(window)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(HEARTBEAT_MS)
    previous = signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        heartbeat.stop()
