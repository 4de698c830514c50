"""Watch a run that trains elsewhere (issue #13): a headless run records into a file; the window opens it,
shows its curves and its last state, scrubs it, and follows it while another process still writes it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app_driver import LONG
from lenet_viz import cli
from lenet_viz.app.main_window import MainWindow
from lenet_viz.training import Recording
from test_time_travel import CONFIG


def window(qtbot, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(CONFIG, settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.info is not None, timeout=LONG)
    return w


def test_a_headless_recording_opens_in_the_window_with_its_curves_and_last_state(qtbot, tmp_path, capsys):
    path = tmp_path / "remote.lvz"
    assert cli.main(["--headless", "--dataset", "digits", "--steps", "30", "--threads", "1", "--batch-size", "8",
                     "--eval-every", "10", "--record", str(path), "--quiet"]) == 0
    with Recording.open(path) as rec:
        losses = rec.losses()
    w = window(qtbot, tmp_path)
    w.time_travel.open_recording(path)
    qtbot.waitUntil(lambda: w.session.viewing == str(path) and w.snapshot.iteration == 30, timeout=LONG)
    np.testing.assert_array_equal(w.history.column("loss"), losses)  # the remote run's curve, every iteration
    assert f"Opened {path}" in w.notice.text() and len(w.history.evals) == 3
    w.time_travel.scrub(10, exact=True)
    qtbot.waitUntil(lambda: w.session.scrubbed is not None and w.session.scrubbed.iteration == 10, timeout=LONG)


def test_a_recording_still_being_written_is_followed(qtbot, tmp_path):
    path = tmp_path / "growing.lvz"
    code = (
        "import sys, time, torch; torch.set_num_threads(1)\n"
        "from lenet_viz.training import Trainer, TrainConfig\n"
        "from lenet_viz.training.recorder import Recorder\n"
        "t = Trainer(TrainConfig(dataset='digits', batch_size=8, eval_every=0))\n"
        "with Recorder(sys.argv[1], t, commit_every=0.2) as r:\n"
        "    for _ in range(10): t.step()\n"
        "    r.flush(); print('ten', flush=True); sys.stdin.readline()\n"
        "    for _ in range(10): t.step()\n"
        "    r.flush(); print('twenty', flush=True); sys.stdin.readline()\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ten"
        w = window(qtbot, tmp_path)
        w.time_travel.open_recording(path)
        qtbot.waitUntil(lambda: w.session.viewing == str(path) and len(w.history) == 10, timeout=LONG)
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "twenty"
        qtbot.waitUntil(lambda: len(w.history) == 20 and w.session.iteration == 20, timeout=LONG)  # followed, no reload
        np.testing.assert_array_equal(w.history.column("iteration"), np.arange(1, 21))
    finally:
        writer.stdin.write("\n")
        writer.stdin.close()
        writer.wait(60)


def test_a_file_that_is_not_a_recording_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.lvz"
    bad.write_text("not a database")
    assert cli.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1 and bad.read_text() == "not a database"


@pytest.mark.parametrize("flag", ["--headless"])
def test_a_recording_is_not_opened_headless(tmp_path, capsys, flag):
    path = tmp_path / "r.lvz"
    with pytest.raises(SystemExit) as stop:
        cli.main([flag, str(path)])
    assert stop.value.code == 2 and "--record" in capsys.readouterr().err
