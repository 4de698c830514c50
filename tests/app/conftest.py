"""App tests run without a display."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_lenet_viz_thread_left_running():
    """Fail a test that leaves a lenet_viz QThread running: later it would abort the process
    with "QThread: Destroyed while thread is still running" far from the test that leaked it."""
    yield
    from PySide6.QtCore import QThread

    left = []
    for obj in gc.get_objects():
        kind = type(obj)  # type(), not isinstance(): some lazy torch objects warn on __class__
        if issubclass(kind, QThread) and kind.__module__.startswith("lenet_viz"):
            try:
                if obj.isRunning():
                    left.append(obj)
            except RuntimeError:  # its C++ object is already gone
                pass
    for thread in left:  # stop them so the rest of the session is not poisoned
        if hasattr(thread, "shutdown"):
            thread.shutdown(5000)
        else:
            thread.quit()
            thread.wait(5000)
    assert not left, f"QThreads left running: {left}"


@pytest.fixture
def make_panel(qtbot):
    """A panel widget owned by qtbot (closed and freed after the test), optionally at a realistic size."""

    def make(cls, size: tuple[int, int] | None = None):
        widget = cls()
        qtbot.addWidget(widget)
        if size is not None:
            widget.resize(*size)
        return widget

    return make


@pytest.fixture(autouse=True)
def _train_on_a_thread(request, monkeypatch):
    """Windows train on a thread of the test process (starts in milliseconds, and tests can read
    `worker.trainer`), except in tests marked `train_in_process`, which check the app's real setup."""
    from lenet_viz.app import main_window

    monkeypatch.setattr(main_window, "TRAIN_IN_PROCESS", request.node.get_closest_marker("train_in_process") is not None)


@pytest.fixture
def styled_parent(qtbot):
    """A window styled by the app's own resources/style.qss (11pt for every widget), for panels that
    must keep their projector-size type inside the real app.  Build the panel with it as parent, then show it."""
    from pathlib import Path

    from PySide6.QtWidgets import QWidget

    window = QWidget()
    window.setStyleSheet((Path(__file__).resolve().parents[2] / "resources" / "style.qss").read_text())
    qtbot.addWidget(window)
    return window
