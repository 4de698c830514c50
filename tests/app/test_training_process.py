"""The window as users run it: training in a child process (most app tests use a thread).

The trainer is in another process here, so these tests read what the GUI shows and ask the
child with picklable jobs (`tests/trainer_jobs.py`), never `worker.trainer`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import Qt

import trainer_jobs as jobs
from lenet_viz.training import Phase
from lenet_viz.training.checkpoint import load_checkpoint

from test_checkpoint_ui import finished  # tests/app is on sys.path
from test_main_window import conv1_cells, iteration_shown, make_window

pytestmark = pytest.mark.train_in_process
LONG = 60_000


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    assert w.worker.process and w.worker.trainer is None and w.worker.child_pid is not None
    yield w
    pid = w.worker.child_pid
    w.close()
    assert not w.worker.isRunning()
    assert w.worker.transport._child.poll() is not None, f"training process {pid} outlived its window"


def ask(qtbot, w, job):
    return finished(qtbot, w, lambda: w.worker.call(job))


def test_the_gui_process_never_imports_torch():
    """Torch lives in the training process: the window's process starts without its 1.5 s import."""
    code = "import sys, lenet_viz.cli, lenet_viz.app.main_window; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_launch_then_step_exactly_one_iteration(qtbot, window):
    w = window
    assert iteration_shown(w) == 0 and "digits" in w.status.text()
    assert w.parameter_panel.table.item(10, 2).text() == "61,706"
    before = conv1_cells(w).copy()
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: iteration_shown(w) == 1 and w.snapshot.iteration == 1, timeout=LONG)
    assert ask(qtbot, w, jobs.iteration) == 1 and not w.worker.running
    stats = ask(qtbot, w, jobs.last_stats)
    x, y = w.loss_panel.loss_curve.getData()
    assert list(x) == [1] and y[0] == pytest.approx(stats.loss)
    after = conv1_cells(w)
    np.testing.assert_allclose(after, w.snapshot.conv1_weight[:, 0], rtol=1e-6)
    assert not np.array_equal(after, before)


def test_phases_then_run_and_pause_holds(qtbot, window):
    w = window
    for phase in Phase:
        qtbot.keyClick(w, Qt.Key.Key_P)
        qtbot.waitUntil(lambda: w.snapshot.last_phase is phase, timeout=LONG)
        if phase is Phase.ZERO_GRAD:
            assert w.parameter_panel.table.item(0, 4).text() == "None"
        if phase is Phase.BACKWARD:
            assert w.snapshot.conv1_grad is not None and w.parameter_panel.table.item(0, 4).text() != "None"
    assert iteration_shown(w) == 1
    with qtbot.waitSignal(w.worker.stateChanged, timeout=LONG):
        qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: iteration_shown(w) >= 5, timeout=LONG)
    with qtbot.waitSignal(w.worker.stateChanged, timeout=LONG) as paused:
        qtbot.keyClick(w, Qt.Key.Key_Space)
    assert paused.args == [False]
    held = ask(qtbot, w, jobs.iteration)
    qtbot.wait(400)  # time passes; nothing may train
    w.refresh()
    assert ask(qtbot, w, jobs.iteration) == held == iteration_shown(w) == len(w.history)


def test_checkpoint_save_and_open_through_the_process(qtbot, window, tmp_path):
    w = window
    for target in (1, 2, 3):
        qtbot.keyClick(w, Qt.Key.Key_N)
        qtbot.waitUntil(lambda: iteration_shown(w) == target, timeout=LONG)
    path = tmp_path / "ck.pt"
    finished(qtbot, w, lambda: w.save_checkpoint_to(path))
    assert w.notice.text() == f"Saved iteration 3 to {path}"
    saved = load_checkpoint(path)
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: iteration_shown(w) == 0 and len(w.history) == 0, timeout=LONG)
    finished(qtbot, w, lambda: w.open_checkpoint_from(path))
    assert iteration_shown(w) == 3 and len(w.history) == 3
    np.testing.assert_allclose(conv1_cells(w), saved["model"]["conv1.weight"].numpy()[:, 0], rtol=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"\x80\x02 not a checkpoint")
    with qtbot.waitSignal(w.worker.errorOccurred, timeout=LONG):
        w.open_checkpoint_from(tmp_path / "bad.pt")
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    assert ask(qtbot, w, jobs.iteration) == 3  # the bad file changed nothing


def test_close_while_running_ends_the_training_process(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    child = w.worker.transport._child
    w.worker.play()
    qtbot.waitUntil(lambda: iteration_shown(w) >= 3, timeout=LONG)
    w.close()
    assert not w.worker.isRunning() and child.poll() == 0  # stopped by its command, not killed


def test_a_killed_training_process_is_reported(qtbot, window):
    w = window
    w.worker.play()
    qtbot.waitUntil(lambda: iteration_shown(w) >= 2, timeout=LONG)
    w.worker.transport._child.kill()
    qtbot.waitUntil(lambda: w.banner.isVisible() and "stopped unexpectedly" in w.banner.text.text(), timeout=LONG)
    qtbot.waitUntil(lambda: not w.worker.isRunning(), timeout=LONG)
    w.refresh()
    assert not w.session.running and "RUNNING" not in w.status.text()


def test_a_training_process_started_before_the_window_is_adopted_with_its_data(qtbot, tmp_path):
    """The command line starts the training process before importing Qt (it imports torch and loads the data
    meanwhile); the window's worker adopts that very process, and a config that changed since (a checkpoint's)
    still wins over the prefetched data."""
    from lenet_viz.training import TrainConfig, remote

    remote.start_warm_child(TrainConfig(dataset="digits", threads=1))
    pid = remote._warm.process.pid
    w = make_window(qtbot, tmp_path)
    assert remote._warm is None and w.worker.child_pid == pid  # adopted, not a second process
    name, images, child = ask(qtbot, w, jobs.dataset_identity)
    assert (name, child) == ("digits", pid) and images > 0
    qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: iteration_shown(w) == 1, timeout=LONG)
    w.close()
    assert w.worker.transport._child.poll() is not None

    remote.start_warm_child(TrainConfig(dataset="random", threads=1))  # prefetched random, started with digits
    w = make_window(qtbot, tmp_path)
    assert ask(qtbot, w, jobs.dataset_identity)[0] == "digits" and "digits" in w.status.text()
    w.close()


def test_an_unadopted_early_training_process_ends_with_the_app():
    code = ("from lenet_viz.training import TrainConfig, remote; remote.start_warm_child(TrainConfig(dataset='digits'));"
            "print(remote._warm.process.pid, flush=True)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and "zombie" not in _state(pid):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in _state(pid), "the early training process outlived the app"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((line for line in f if line.startswith("State:")), "").lower()
    except OSError:
        return "gone"
