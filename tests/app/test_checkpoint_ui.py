"""File ▸ Save / Open checkpoint in the real window, against its real worker thread."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from lenet_viz.app import checkpoint_actions
from lenet_viz.app.main_window import MainWindow
from lenet_viz.training import TrainConfig
from lenet_viz.training.checkpoint import load_checkpoint
from test_main_window import conv1_cells, iteration_shown, make_window  # tests/app is on sys.path

LONG = 60_000  # ms: a small, shared machine
CONFIG = {"eval_every": 3, "eval_samples": 50}


@pytest.fixture
def window(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, **CONFIG)
    yield w
    w.close()
    assert not w.worker.isRunning()


def steps(qtbot, w: MainWindow, n: int) -> None:
    target = iteration_shown(w) + n
    for _ in range(n):
        w.worker.step_iteration()
    qtbot.waitUntil(  # the snapshot of `target` drawn too: it is published just after its stats
        lambda: iteration_shown(w) == target and len(w.history) == target
        and w.snapshot is not None and w.snapshot.iteration == target,
        timeout=LONG,
    )


def finished(qtbot, w: MainWindow, start) -> object:
    """Start a checkpoint command (or call) and wait for its future: the window's drain resolves
    it, after handing the events before its answer to the session."""
    future = start()
    qtbot.waitUntil(future.done, timeout=LONG)
    return future.result()


def curves(w: MainWindow) -> list[np.ndarray]:
    return [np.array(a) for c in (w.loss_panel.loss_curve, w.loss_panel.smooth_curve) for a in c.getData()]


def test_save_then_open_brings_back_iteration_weights_and_curves(qtbot, window, tmp_path):
    w = window
    steps(qtbot, w, 5)
    path = tmp_path / "ck.pt"
    finished(qtbot, w, lambda: w.save_checkpoint_to(path))
    assert w.notice.text() == f"Saved iteration 5 to {path}"
    saved = load_checkpoint(path)
    at_save = curves(w)
    assert at_save[0].tolist() == [1, 2, 3, 4, 5]
    steps(qtbot, w, 4)
    sixth_loss = float(w.history.column("loss")[5])
    assert not np.allclose(conv1_cells(w), saved["model"]["conv1.weight"].numpy()[:, 0])

    finished(qtbot, w, lambda: w.open_checkpoint_from(path))
    assert iteration_shown(w) == 5 and w.snapshot.iteration == 5 and not w.worker.running
    np.testing.assert_allclose(conv1_cells(w), saved["model"]["conv1.weight"].numpy()[:, 0], rtol=1e-6)
    for now, then in zip(curves(w), at_save, strict=True):
        np.testing.assert_array_equal(now, then)
    assert w.history.eval_arrays()[0].tolist() == [3]
    assert "iteration 5 " in w.status.text() and w.notice.text() == f"Opened {path}: iteration 5"
    steps(qtbot, w, 1)  # the resumed run is the same run: iteration 6 has the loss it had before
    assert float(w.history.column("loss")[5]) == sixth_loss and len(w.history) == 6


def test_open_while_running_pauses_first(qtbot, window, tmp_path):
    w = window
    steps(qtbot, w, 2)
    path = tmp_path / "ck.pt"
    finished(qtbot, w, lambda: w.save_checkpoint_to(path))
    w.worker.play()
    qtbot.waitUntil(lambda: iteration_shown(w) >= 6, timeout=LONG)
    finished(qtbot, w, lambda: w.open_checkpoint_from(path))
    assert not w.worker.running and iteration_shown(w) == 2 and len(w.history) == 2
    assert w.loss_panel.loss_curve.getData()[0].tolist() == [1, 2]


@pytest.mark.parametrize("content", [b"", b"\x80\x02 not a checkpoint", None], ids=["empty", "garbage", "truncated"])
def test_a_bad_file_shows_the_banner_and_changes_nothing(qtbot, window, tmp_path, content):
    w = window
    steps(qtbot, w, 3)
    bad = tmp_path / "bad.pt"
    if content is None:  # a real checkpoint, cut in half
        finished(qtbot, w, lambda: w.save_checkpoint_to(bad))
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    else:
        bad.write_bytes(content)
    weights, loss = conv1_cells(w).copy(), curves(w)
    with qtbot.waitSignal(w.worker.errorOccurred, timeout=LONG):
        w.open_checkpoint_from(bad)
    assert w.banner.isVisible() and f"cannot open checkpoint {bad}" in w.banner.text.text()
    iteration, conv1 = finished(qtbot, w, lambda: w.worker.call(lambda t: (t.iteration, t.model.conv1.weight.detach().clone())))
    assert iteration == 3 and iteration_shown(w) == 3 and len(w.history) == 3
    np.testing.assert_array_equal(conv1_cells(w), weights)
    np.testing.assert_allclose(conv1.numpy()[:, 0], weights, rtol=1e-6)
    for now, then in zip(curves(w), loss, strict=True):
        np.testing.assert_array_equal(now, then)
    steps(qtbot, w, 1)  # and training goes on


def test_a_failed_save_shows_the_banner_and_keeps_training(qtbot, window, tmp_path):
    w = window
    steps(qtbot, w, 1)
    where = tmp_path / "no" / "such" / "folder" / "ck.pt"
    with qtbot.waitSignal(w.worker.errorOccurred, timeout=LONG):
        w.save_checkpoint_to(where)
    assert w.banner.isVisible() and f"cannot save checkpoint {where}" in w.banner.text.text()
    assert not (tmp_path / "no").exists()
    steps(qtbot, w, 1)


def test_menu_actions_open_the_dialogs_and_use_their_answer(qtbot, window, tmp_path, monkeypatch):
    w = window
    file_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&File")
    assert [a.text() for a in file_menu.actions() if not a.isSeparator()] == [
        "Open checkpoint…", "Save checkpoint…", "Open recording…", "Open image as probe…", "Quit"]
    assert w.actions_by_name["open"].shortcut().toString() == "Ctrl+O"
    assert w.actions_by_name["save"].shortcut().toString() == "Ctrl+S"
    steps(qtbot, w, 2)
    asked: list[str] = []
    path = tmp_path / "picked.pt"

    def save_dialog(parent, title, default, filters):
        asked.append(default)
        return str(path), filters

    monkeypatch.setattr(checkpoint_actions.QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    monkeypatch.setattr(checkpoint_actions.QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(path), "")))
    finished(qtbot, w, lambda: (w.actions_by_name["save"].trigger(), w.checkpoints.last)[1])
    assert asked[0].endswith("lenet-viz-iter2.pt") and path.is_file()
    steps(qtbot, w, 1)
    finished(qtbot, w, lambda: (w.actions_by_name["open"].trigger(), w.checkpoints.last)[1])
    assert iteration_shown(w) == 2
    monkeypatch.setattr(checkpoint_actions.QFileDialog, "getOpenFileName", staticmethod(lambda *a: ("", "")))
    w.actions_by_name["open"].trigger()  # cancelled: nothing happens
    assert w.worker.running is False and not w.banner.isVisible()


def test_the_window_can_start_on_a_checkpoint(qtbot, window, tmp_path):
    steps(qtbot, window, 4)
    path = tmp_path / "ck.pt"
    finished(qtbot, window, lambda: window.save_checkpoint_to(path))
    settings = QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(dataset="digits", threads=1, eval_every=0), settings=settings, checkpoint=path)
    qtbot.addWidget(w)
    try:
        qtbot.waitUntil(lambda: iteration_shown(w) == 4 and len(w.history) == 4, timeout=LONG)
        qtbot.waitUntil(lambda: w.notice.text().startswith("Opened"), timeout=LONG)
        assert w.form.current_config().eval_every == 3  # the checkpoint's settings, not the launch's
    finally:
        w.close()
    assert not w.worker.isRunning()
