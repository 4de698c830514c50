"""Launching lenet-viz from a folder full of look-alike modules runs none of them (issue #10).

A downloads folder, a cloned repository or a classroom share may hold a `queue.py`, `numpy.py`,
`logging.py`, `torch.py` or a `lenet_viz/` package.  Each planted module here writes a marker
file when imported; the real app (training in its child process) and the headless CLI are
launched with that folder as their working folder, and no marker may appear.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lenet_viz.training.remote import child_command, import_path

PLANTED = ("queue", "numpy", "logging", "torch", "socket", "pickle")

#: Runs the real `lenet-viz` entry point (as the console script does), stops once the window shows
#: a snapshot the training process computed.  It lies outside the planted folder, as a console
#: script does: `python FILE` puts FILE's folder on the path, not the working folder.
LAUNCH = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from lenet_viz.app.main_window import MainWindow
    from lenet_viz.cli import main
    app = QApplication([])
    def poll():
        for w in app.topLevelWidgets():
            if isinstance(w, MainWindow) and w.snapshot is not None:
                print("TRAINED-IN", "process" if w.worker.process else "thread", w.worker.child_pid, flush=True)
                w.close(); app.quit()
    timer = QTimer(); timer.timeout.connect(poll); timer.start(20)
    QTimer.singleShot(90_000, lambda: (print("NO-SNAPSHOT", flush=True), app.quit()))  # a broken child never sends one
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """(the hostile working folder, the folder where markers appear)."""
    folder, markers = tmp_path / "downloads", tmp_path / "markers"
    folder.mkdir()
    markers.mkdir()
    payload = "open({path!r}, 'w').write('imported from the working folder')\n"
    for name in PLANTED:
        (folder / f"{name}.py").write_text(payload.format(path=str(markers / name)))
    (folder / "lenet_viz").mkdir()
    (folder / "lenet_viz" / "__init__.py").write_text(payload.format(path=str(markers / "lenet_viz")))
    return folder, markers


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_the_plant_works_on_a_plain_interpreter(planted, tmp_path):
    """Control: `python -c` / `python -m` in that folder import the planted `queue.py` (what the
    training process did before: `python -m lenet_viz.training.remote FD`)."""
    folder, markers = planted
    subprocess.run([sys.executable, "-c", "import queue"], cwd=folder, env=_env(tmp_path), timeout=60)
    assert (markers / "queue").is_file()


def test_the_training_process_command_ignores_the_working_folder(planted, tmp_path):
    folder, markers = planted
    cmd = child_command(0, cwd=folder)
    assert cmd[1] == "-I" and str(folder) not in import_path(cwd=folder)
    # The bootstrap alone, without a socket: import what the child imports, then stop.
    boot = cmd[-1].replace("main(0)", "import lenet_viz.training.loop, queue, logging, pickle, socket")
    done = subprocess.run([cmd[0], "-I", "-c", boot], cwd=folder, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in markers.iterdir()) == []


@pytest.mark.train_in_process
def test_the_app_launched_from_a_hostile_folder_imports_nothing_from_it(planted, tmp_path):
    folder, markers = planted
    launcher = tmp_path / "launcher" / "launch.py"
    launcher.parent.mkdir()
    launcher.write_text(LAUNCH)
    done = subprocess.run(
        [sys.executable, str(launcher), "--dataset", "random", "--threads", "1"],
        cwd=folder, env=_env(tmp_path), capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "TRAINED-IN process" in done.stdout  # a snapshot came from the real training process
    assert sorted(p.name for p in markers.iterdir()) == []


def test_the_headless_cli_launched_from_a_hostile_folder_imports_nothing_from_it(planted, tmp_path):
    folder, markers = planted
    script = Path(sys.executable).with_name("lenet-viz")
    if not script.is_file():
        pytest.skip("the lenet-viz console script is not installed beside this interpreter")
    done = subprocess.run(
        [str(script), "--headless", "--dataset", "random", "--steps", "2", "--metrics", "m.csv", "--quiet"],
        cwd=folder, env=_env(tmp_path), capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "held-out accuracy after 2 iterations" in done.stdout
    assert (folder / "m.csv").read_text().count("\n") == 3  # the header and two iterations, where the user asked
    assert sorted(p.name for p in markers.iterdir()) == []
