"""Fixtures shared by every test package."""

from __future__ import annotations

import gc
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # window tests (tests/app, tests/test_attacks.py) run headless

import pytest


@pytest.fixture(scope="session")
def shared_mnist_dir() -> Path:
    """The real MNIST .gz files kept beside the repo (../shared/data/mnist); skip where absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found in {path}")
    return path


_qt_garbage = [False]  # a test before this one made Qt objects, some of which may sit in reference cycles


@pytest.fixture(autouse=True)
def _qt_garbage_collected_in_the_main_thread(request):
    """Collect what window tests left in reference cycles here, in the main thread, before the first test
    that is not one runs: otherwise a collection crossing its threshold in that test's own thread (a
    recording's writer, a training process's pipe) frees a closed window's QMenu there, whose destructor
    waits for the GIL while the main thread holds it and waits for Qt's object lock (the hazard
    lenet_viz/app/gc_guard.py names; a full-suite run froze this way in tests/training)."""
    makes_qt = "qtbot" in request.fixturenames or "tests/app/" in request.node.nodeid
    if _qt_garbage[0] and not makes_qt:
        gc.collect()
        _qt_garbage[0] = False
    yield
    _qt_garbage[0] = _qt_garbage[0] or makes_qt
