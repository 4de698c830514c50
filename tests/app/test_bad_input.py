"""Every bad value a user can type or pass is refused with one clear reason naming it, and changes
nothing: the form keeps the engine's settings, the command line exits 2 with one line, a window
whose data cannot be read says so and still closes cleanly.

(tests/test_cli.py already covers --lr -1/abc, --batch-size 0, --steps 0, --steps with --epochs,
--dataset cifar, --optimizer rmsprop, --update manual, --speed-limit -3, an unknown flag, a
missing MNIST folder and an unwritable --metrics file; they are not repeated here.)
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from app_driver import LONG, Ledger, ask, check_consistent, open_window
from lenet_viz import cli
from lenet_viz.data.mnist import STEMS
from lenet_viz.training import OptimizerKind, UpdateMode

# (field widget, text, field the reason must name); the form's other fields stay valid
BAD_FORM = [
    *[("lr", t, "lr") for t in ("abc", "", "   ", "nan", "NaN", "inf", "-inf", "+inf", "-1", "0", "-0", "1e9",
                                "10.5", "1e-400", "0x10", "1,5", "0.01.2", "1/100", "lr=0.1")],
    *[("momentum", t, "momentum") for t in ("1.5", "1", "-0.1", "abc", "", "nan", "inf", "0.9.9")],
]
# (update, optimizer, momentum text, field the reason must name): the tutorial's manual step is plain SGD
BAD_COMBINATIONS = [
    (UpdateMode.MANUAL, OptimizerKind.SGD, "0.9", "momentum"),
    (UpdateMode.MANUAL, OptimizerKind.SGD, "0.5", "momentum"),
    (UpdateMode.MANUAL, OptimizerKind.ADAM, "0", "update"),
    (UpdateMode.MANUAL, OptimizerKind.ADAM, "0.9", "update"),
]


def test_bad_form_values_are_refused_naming_the_field_and_change_nothing(qtbot, tmp_path, monkeypatch):
    ledger = Ledger().install(monkeypatch)
    w = open_window(qtbot, tmp_path, lr=0.02, momentum=0.5)
    f, before = w.form, w.form.current_config()
    applied: list = []
    f.config_applied.connect(applied.append)
    tried = 0

    def refused(field: str, how: int) -> None:
        if how == 0:
            assert f.apply() is False
        else:  # the Apply button, or Return in a line edit
            target = f.apply_button if how == 1 else (f.lr if how == 2 else f.momentum)
            if target is f.apply_button:
                qtbot.mouseClick(target, Qt.MouseButton.LeftButton)
            else:
                qtbot.keyClick(target, Qt.Key.Key_Return)
        assert f.error.isVisibleTo(f), "the reason must be on screen"
        assert f.error.text().startswith(f"Not applied — {field}:"), f.error.text()

    for i, (widget, text, field) in enumerate(BAD_FORM):
        f.set_config(before)
        getattr(f, widget).setText(text)
        refused(field, i % 4)
        tried += 1
    for i, (update, optimizer, momentum, field) in enumerate(BAD_COMBINATIONS):
        f.set_config(before)
        f.update_mode.setCurrentIndex(f.update_mode.findData(update))
        f.optimizer.setCurrentIndex(f.optimizer.findData(optimizer))
        f.momentum.setText(momentum)
        refused(field, i % 4)
        tried += 1
    assert applied == [] and tried == len(BAD_FORM) + len(BAD_COMBINATIONS)
    # the engine never heard of any of it: one step later it runs exactly the settings it had
    qtbot.keyClick(w, Qt.Key.Key_N)
    state = check_consistent(qtbot, w, ledger)
    assert state.iteration == 1 and state.config == before and ask(qtbot, w.worker, lambda t: t.config) == before
    assert w.history.column("lr")[-1] == 0.02
    # a good value afterwards is taken and the reason goes away
    f.set_config(before)
    f.lr.setText("0.03")
    assert f.apply() is True and f.error.isHidden() and applied[-1].lr == 0.03
    qtbot.keyClick(w, Qt.Key.Key_N)
    assert check_consistent(qtbot, w, ledger).config.lr == 0.03
    w.close()


def test_a_window_whose_data_is_corrupt_says_which_file_and_closes_cleanly(qtbot, tmp_path):
    folder = corrupt_mnist(tmp_path / "mnist", "not gzip")
    from PySide6.QtCore import QSettings

    from lenet_viz.app.main_window import MainWindow
    from lenet_viz.training import TrainConfig

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(TrainConfig(dataset="mnist", data_dir=str(folder), threads=1), settings=settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.banner.isVisibleTo(w), timeout=LONG)
    assert w.worker.wait(LONG)  # the thread ended by itself: nothing to train
    text = w.banner.text.text()
    assert f"{STEMS[0]}.gz" in text and "gzip" in text and "Traceback" not in text
    for key in (Qt.Key.Key_Space, Qt.Key.Key_N, Qt.Key.Key_P, Qt.Key.Key_R):  # nothing to train: nothing breaks
        qtbot.keyClick(w, key)
        w.refresh()  # issue 12 #2: the banner keeps its own words (the file, no network) after any key
        after = w.banner.text.text()
        assert f"{STEMS[0]}.gz" in after and "no network was built" in after, after
        assert "kept" not in after and "stopped" not in after, after
        assert w.phase_strip.story.text() == "Nothing to train yet."
    assert w.session.iteration == 0 and len(w.history) == 0
    w.close()
    assert not w.worker.isRunning()


# ---------------------------------------------------------------------------- the command line
def corrupt_mnist(folder: Path, how: str) -> Path:
    """Four MNIST files of which the first (train images) is broken in the way named."""
    folder.mkdir(parents=True)
    raw = how in ("truncated header", "wrong magic", "wrong size")
    for stem in STEMS[1:]:
        (folder / (stem if raw else f"{stem}.gz")).write_bytes(gzip.compress(b"") if not raw else b"")
    first = folder / (STEMS[0] if raw else f"{STEMS[0]}.gz")
    first.write_bytes({
        "not gzip": b"hello, not a gzip file",
        "truncated gz": gzip.compress(struct.pack(">4I", 2051, 2, 28, 28) + bytes(2 * 784))[:40],
        "truncated header": b"\x00\x00\x08",
        "wrong magic": struct.pack(">4I", 2049, 1, 28, 28) + bytes(784),
        "wrong size": struct.pack(">4I", 2051, 1, 20, 20) + bytes(400),
    }[how])
    return folder


def one_line_exit_2(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--headless", "--steps", "1", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.startswith("lenet-viz: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("how", "words"),
    [("not gzip", "gzip"), ("truncated gz", "gzip"), ("truncated header", "truncated"),
     ("wrong magic", "magic number 2049"), ("wrong size", "20x20")],
)
@pytest.mark.parametrize("dataset", ["mnist", "auto"])
def test_corrupt_mnist_exits_2_naming_the_file(tmp_path, capsys, how, words, dataset):
    folder = corrupt_mnist(tmp_path / "mnist", how)
    err = one_line_exit_2(capsys, "--dataset", dataset, "--data-dir", str(folder))
    assert STEMS[0] in err and str(folder) in err and words in err


@pytest.mark.parametrize("dataset", ["mnist", "auto"])
def test_a_file_as_data_dir_exits_2(tmp_path, capsys, dataset):
    not_a_dir = tmp_path / "mnist.tar"
    not_a_dir.write_bytes(b"oops")
    err = one_line_exit_2(capsys, "--dataset", dataset, "--data-dir", str(not_a_dir))
    assert str(not_a_dir) in err and "is a file, not a folder" in err


BAD_OPTIONS = [
    (["--threads", "-1"], "threads: must be 0"),
    (["--threads", "1000"], "threads: must be 0"),
    (["--threads", "two"], "--threads: invalid int value"),
    (["--eval-every", "-5"], "eval_every: must be >= 0"),
    (["--eval-samples", "0"], "eval_samples: must be >= 1"),
    (["--momentum", "1.5"], "momentum: must be in [0, 1)"),
    (["--momentum", "nan"], "momentum: must be in [0, 1)"),
    (["--lr", "nan"], "lr: must be a number in (0, 10]"),
    (["--lr", "inf"], "lr: must be a number in (0, 10]"),
    (["--lr", "0"], "lr: must be a number in (0, 10]"),
    (["--lr", "1e9"], "lr: must be a number in (0, 10]"),
    (["--batch-size", "5000"], "batch_size: must be an integer from 1 to 4096"),
    (["--batch-size", "-8"], "batch_size: must be an integer from 1 to 4096"),
    (["--seed", "-1"], "seed: must be a non-negative integer"),
    (["--seed", "1.5"], "--seed: invalid int value"),
    (["--device", "tpu"], "--device: invalid choice"),
    (["--loss", "l1"], "--loss: invalid choice"),
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--epochs", "abc"], "--epochs: expected a whole number"),
    (["--speed-limit", "nan"], "--speed-limit must be a positive number"),
    (["--speed-limit", "inf"], "--speed-limit must be a positive number"),
    (["--speed-limit", "0"], "--speed-limit must be a positive number"),
    (["--optimizer", "adam", "--update", "manual", "--momentum", "0"], "update: 'manual' is the tutorial's plain SGD"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_options_exit_2_with_one_line(capsys, args, needle):
    assert needle in one_line_exit_2(capsys, "--dataset", "random", *args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: --device cuda is valid here")
def test_cuda_without_a_gpu_exits_2(capsys):
    err = one_line_exit_2(capsys, "--dataset", "random", "--device", "cuda")
    assert "device: cuda is not available" in err and "use cpu or auto" in err


def test_metrics_path_that_is_a_folder_exits_2(tmp_path, capsys):
    err = one_line_exit_2(capsys, "--quiet", "--dataset", "random", "--metrics", str(tmp_path))
    assert "cannot write --metrics file" in err and str(tmp_path) in err


#: Counted for the report: form values, form combinations, corrupt data folders x datasets,
#: file-as-folder x datasets, bad options, --device cuda, a folder as --metrics, a corrupt window.
BAD_INPUTS_TRIED = len(BAD_FORM) + len(BAD_COMBINATIONS) + 5 * 2 + 2 + len(BAD_OPTIONS) + 1 + 1 + 1
