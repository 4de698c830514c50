"""Attacks from the red-team pass (issue 17), each reproduced and shown handled.

Each test is named after the attack and numbered after the issue's item: 1-11 the engine, the
files and the command line; 12-18 the window (offscreen, a real MainWindow; a real training
process where the attack needs one).
"""

from __future__ import annotations

import csv
import functools
import gzip
import math
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import torch
from attack_helpers import (
    edit_checkpoint, fake_mnist_files, idx_bytes, inflate_first_record, mirror, start_headless, wait_for_rows,
    write_gzip_bomb, write_mnist,
)

from lenet_viz import cli
from lenet_viz.data import DataError, download, load_dataset
from lenet_viz.headless import StopRequest
from lenet_viz.training import MetricHistory, TrainConfig, Trainer
from lenet_viz.training.checkpoint import CheckpointError, load_checkpoint, restore_checkpoint, save_checkpoint

CONFIG = {"dataset": "random", "loss": "mse", "threads": 1, "eval_every": 2, "eval_samples": 16}
QUICK = ["--headless", "--dataset", "random", "--loss", "mse", "--eval-every", "0", "--threads", "1", "--quiet"]


def trainer() -> Trainer:
    return Trainer(TrainConfig(**CONFIG))


@pytest.fixture(scope="module")
def ck_bytes(tmp_path_factory) -> bytes:
    """A real checkpoint: random data, SGD with momentum, 3 iterations (so buffers, history and evals exist)."""
    t = trainer()
    for _ in range(3):
        t.step()
    return save_checkpoint(t, tmp_path_factory.mktemp("ck") / "ck.pt").read_bytes()


@pytest.fixture
def ck(tmp_path, ck_bytes) -> Path:
    path = tmp_path / "ck.pt"
    path.write_bytes(ck_bytes)
    return path


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("lenet-viz: error: ") and "Traceback" not in err, err
    return err


# ------------------------------------------------------ 1-4: interrupted and failing headless runs
def _interrupt_a_headless_run(tmp_path: Path, sig: signal.Signals) -> None:
    metrics, ck = tmp_path / "m.csv", tmp_path / "ck.pt"
    run = start_headless(*QUICK[1:], "--steps", "1000000", "--metrics", str(metrics), "--save-checkpoint", str(ck),
                         cwd=tmp_path)
    try:
        wait_for_rows(metrics, 3, run)
        run.send_signal(sig)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    rows = list(csv.DictReader(metrics.open()))
    n = len(rows)
    assert run.returncode == 128 + sig and out == ""
    assert err == (f"lenet-viz: {sig.name} received: stopped at iteration {n}; metrics in {metrics} ({n} rows); "
                   f"checkpoint: {ck.resolve()} (iteration {n})\n")
    assert [int(r["iteration"]) for r in rows] == list(range(1, n + 1)) and n >= 3
    assert load_checkpoint(ck)["iteration"] == n  # every finished iteration kept, in the CSV and the checkpoint


def test_attack_01_sigint_during_headless_saves_checkpoint_and_metrics(tmp_path):
    _interrupt_a_headless_run(tmp_path, signal.SIGINT)


def test_attack_01_sigterm_during_headless_saves_checkpoint_and_metrics(tmp_path):
    _interrupt_a_headless_run(tmp_path, signal.SIGTERM)


def test_attack_01_a_second_signal_gives_up_at_once_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop and stop.exit_code == 143 and stop.name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_attack_02_metrics_on_a_full_disk_is_one_line_and_the_checkpoint_is_still_saved(tmp_path, capsys):
    ck = tmp_path / "ck.pt"
    code = cli.main([*QUICK, "--steps", "5", "--metrics", "/dev/full", "--save-checkpoint", str(ck)])
    err = one_error_line(capsys.readouterr().err)
    assert code == 1
    assert err == ("lenet-viz: error: cannot write --metrics file /dev/full: No space left on device; "
                   "training stopped at iteration 1\n")
    assert load_checkpoint(ck)["iteration"] == 1


def _read_only_target() -> str:
    target = "/sys/lenet-viz-attack.out"
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return target
    os.unlink(target)
    pytest.skip("/sys takes new files here")


UNWRITABLE = {
    "existing-folder": (lambda tmp: str(tmp), "it is a folder"),
    "read-only-place": (lambda tmp: _read_only_target(), "(Permission denied|Read-only file system)"),
    "too-long-name": (lambda tmp: str(tmp / ("n" * 300)), "file name is too long"),
    "folder-is-a-file": (lambda tmp: (tmp / "f").write_text("x") and str(tmp / "f" / "out"), "f is a file, not a folder"),
    "missing-folder": (lambda tmp: str(tmp / "no" / "out"), "its folder does not exist"),
}


@pytest.mark.parametrize("option", ["--save-checkpoint", "--metrics"])
@pytest.mark.parametrize("where", list(UNWRITABLE))
def test_attack_03_unwritable_output_is_refused_before_training(tmp_path, capsys, monkeypatch, option, where):
    path_of, needle = UNWRITABLE[where]
    path = path_of(tmp_path)
    monkeypatch.setattr(Trainer, "__init__", lambda *a, **kw: pytest.fail("training started"))
    with pytest.raises(SystemExit) as exit_:
        cli.main([*QUICK, "--steps", "2", option, path])
    err = one_error_line(capsys.readouterr().err)
    assert exit_.value.code == 2 and err.startswith(f"lenet-viz: error: cannot write {option} file {path}: ")
    assert re.search(needle, err)


def test_attack_03_a_device_is_no_place_for_a_checkpoint(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*QUICK, "--steps", "2", "--save-checkpoint", os.devnull])
    assert exit_.value.code == 2 and "not a regular file" in one_error_line(capsys.readouterr().err)


def test_attack_04_metrics_naming_the_input_checkpoint_is_refused_and_the_checkpoint_kept(ck, tmp_path, capsys):
    before = ck.read_bytes()
    os.link(ck, tmp_path / "same.pt")
    for output in (str(ck), str(tmp_path / "." / "ck.pt"), str(tmp_path / "same.pt")):  # spelled otherwise, hard link
        with pytest.raises(SystemExit) as exit_:
            cli.main([*QUICK, "--checkpoint", str(ck), "--steps", "2", "--metrics", output])
        err = one_error_line(capsys.readouterr().err)
        assert exit_.value.code == 2 and f"cannot write --metrics file {output}: it is also the --checkpoint input" in err
    assert ck.read_bytes() == before


def test_attack_04_outputs_naming_a_data_file_or_each_other_are_refused(tmp_path, capsys):
    folder = write_mnist(tmp_path / "data")
    labels = folder / "train-labels-idx1-ubyte.gz"
    before = labels.read_bytes()
    with pytest.raises(SystemExit):
        cli.main([*QUICK, "--dataset", "mnist", "--data-dir", str(folder), "--steps", "2", "--metrics", str(labels)])
    assert "it is also the MNIST data file train-labels-idx1-ubyte.gz input" in one_error_line(capsys.readouterr().err)
    assert labels.read_bytes() == before
    with pytest.raises(SystemExit):
        cli.main([*QUICK, "--steps", "2", "--metrics", str(tmp_path / "x"), "--save-checkpoint", str(tmp_path / "x")])
    assert "it is also the --save-checkpoint output" in one_error_line(capsys.readouterr().err)


def test_attack_04_saving_a_resumed_checkpoint_in_place_is_still_allowed(ck, capsys):
    assert cli.main(["--headless", "--quiet", "--threads", "1", "--checkpoint", str(ck), "--steps", "2",
                     "--save-checkpoint", str(ck)]) == 0
    assert load_checkpoint(ck)["iteration"] == 5


# ------------------------------------------------------------- 5-8: checkpoints from someone else
def _refused(path: Path, *needles: str) -> None:
    """Restoring `path` raises one line naming the file and the `needles`, and leaves the trainer as it was."""
    t = trainer()
    t.step()
    weights = t.model.conv1.weight.detach().clone()
    with pytest.raises(CheckpointError) as err:
        restore_checkpoint(t, path)
    message = str(err.value)
    assert message.startswith(f"cannot open checkpoint {path}: ") and "\n" not in message, message
    assert all(needle in message for needle in needles), message
    assert t.iteration == 1 and torch.equal(t.model.conv1.weight, weights)


HISTORIES = {
    "capacity-5-million": (lambda h: h.update(capacity=5_000_000), "capacity must be a whole number from 2 to 65536"),
    "9031-columns": (lambda h: h.update(columns=[f"c{i}" for i in range(9031)], data=[], pending=[0.0] * 9031),
                     "columns must be at most 256"),
    "wrong-column-name": (lambda h: h["columns"].__setitem__(1, "lss"), "are not the expected"),
    "duplicate-column": (lambda h: h["columns"].__setitem__(2, "loss"), "distinct names"),
    "stride-0": (lambda h: h.update(stride=0), "stride must be a whole number from 1"),
    "text-in-smoothing": (lambda h: h.update(ema="0.5"), "smoothed loss must be a finite number"),
    "text-in-rows": (lambda h: h["data"][0].__setitem__(3, "x"), "data must be a list of numbers"),
    "nan-iteration": (lambda h: h["data"][0].__setitem__(0, math.nan), "must be finite"),
    "ragged-rows": (lambda h: h["data"][0].pop(), "data must be a list of numbers"),
    "accuracy-above-1-in-evals": (lambda h: h.update(evals=[[2, 7.0]]), "evaluations must be"),
    "extra-key": (lambda h: h.update(colour="red"), "expected the keys"),
}


@pytest.mark.parametrize("kind", list(HISTORIES))
def test_attack_05_hostile_metric_history_is_refused(ck, kind):
    change, needle = HISTORIES[kind]
    edit_checkpoint(ck, lambda s: change(s["history"]))
    _refused(ck, "its metric history is damaged (ValueError: ", needle)


def test_attack_05_a_history_refusing_a_state_stays_as_it_was(ck):
    state = torch.load(ck, weights_only=True)["history"]
    history = MetricHistory()
    history.load_state_dict(state)
    loss = history.column("loss").copy()
    with pytest.raises(ValueError, match="stride"):
        history.load_state_dict({**state, "stride": 0})
    assert len(history) == 3 and (history.column("loss") == loss).all()


HYPERPARAMETERS = {
    "lr-1e9": ("lr", 1e9), "maximize": ("maximize", True), "negative-weight-decay": ("weight_decay", -1.0),
    "nan-lr": ("lr", math.nan), "text-lr": ("lr", "fast"), "nesterov": ("nesterov", True), "no-momentum": ("momentum", 0.0),
}


@pytest.fixture(scope="module")
def clean_losses(ck_bytes, tmp_path_factory) -> list[float]:
    path = tmp_path_factory.mktemp("clean") / "ck.pt"
    path.write_bytes(ck_bytes)
    t = trainer()
    restore_checkpoint(t, path)
    return [t.step().loss for _ in range(3)]


@pytest.mark.parametrize("kind", list(HYPERPARAMETERS))
def test_attack_06_optimizer_hyperparameters_come_from_the_config(ck, clean_losses, kind):
    key, value = HYPERPARAMETERS[kind]
    edit_checkpoint(ck, lambda s: s["optimizer"]["param_groups"][0].update({key: value}))
    t = trainer()
    restore_checkpoint(t, ck)
    group = t.optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["maximize"], group["weight_decay"], group["nesterov"]) == (
        t.config.lr, t.config.momentum, False, 0, False)
    assert [t.step().loss for _ in range(3)] == clean_losses  # buffers from the file, nothing else


@pytest.mark.parametrize("damage", ["two-groups", "some-params", "nan-momentum", "string-buffer"])
def test_attack_06_malformed_optimizer_state_is_refused(ck, damage):
    def change(s: dict) -> None:
        groups, state = s["optimizer"]["param_groups"], s["optimizer"]["state"]
        if damage == "two-groups":
            groups.append(dict(groups[0]))
        elif damage == "some-params":
            groups[0]["params"] = [0, 1]
        elif damage == "nan-momentum":
            state[3]["momentum_buffer"][0] = math.nan
        else:
            state[3]["momentum_buffer"] = "fast"

    edit_checkpoint(ck, change)
    _refused(ck, "its optimizer state is damaged")


def test_attack_07_compressed_tensor_bomb_under_an_extra_key_is_refused_before_reading(ck, monkeypatch):
    state = torch.load(ck, weights_only=True)
    torch.save({"extra": torch.zeros(1), **state}, ck)  # its storage is the zip's first record: data/0
    inflate_first_record(ck, 64 << 20)
    assert ck.stat().st_size < 2 << 20  # a small file...
    assert sum(i.file_size for i in zipfile.ZipFile(ck).infolist()) > 64 << 20  # ...that would inflate to 64 MiB
    monkeypatch.setattr(torch, "load", lambda *a, **kw: pytest.fail("torch.load read the bomb"))
    _refused(ck, "it would unpack to 64.", "refused before unpacking")


def test_attack_07_unknown_keys_are_refused(ck):
    edit_checkpoint(ck, lambda s: s.update(extra=torch.zeros(3), note="hi"))
    _refused(ck, "it holds entries lenet-viz does not know (extra, note)")


def test_attack_07_a_zip_declaring_thousands_of_records_is_refused(ck, monkeypatch):
    with zipfile.ZipFile(ck, "a") as z:
        for i in range(2000):
            z.writestr(f"ck/padding/{i}", b"")
    monkeypatch.setattr(torch, "load", lambda *a, **kw: pytest.fail("torch.load read it"))
    _refused(ck, "it declares 2,0")


@pytest.mark.parametrize("value,needle", [(math.nan, "NaN or infinite"), (math.inf, "NaN or infinite"),
                                          (1e30, "values beyond ±1e+06 (largest 1e+30)")], ids=["nan", "inf", "1e30"])
def test_attack_08_non_finite_or_huge_weights_are_refused(ck, value, needle):
    edit_checkpoint(ck, lambda s: s["model"]["fc2.weight"].__setitem__((0, 0), value))
    _refused(ck, f"its fc2.weight holds {needle}")


def test_attack_08_data_order_with_duplicates_is_refused(ck):
    edit_checkpoint(ck, lambda s: s["perm"].__setitem__(slice(None), s["perm"][0]))
    _refused(ck, "its data order (perm) repeats some images")


# --------------------------------------------------------------------- 9-11: files and downloads
def test_attack_09_gzip_bomb_in_the_data_folder_is_refused_without_inflating_it(tmp_path):
    folder = write_mnist(tmp_path / "data")
    bomb = folder / "train-images-idx3-ubyte.gz"
    write_gzip_bomb(bomb, struct.pack(">4I", 2051, 6, 28, 28), zeros=256 << 20)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as err:
            load_dataset("mnist", folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith(f"{bomb} is corrupt: header says 6 images of 28x28 but more extra bytes follow")
    assert peak < 8 << 20  # it read 6 images and one byte more, not 256 MiB


def test_attack_09_a_header_claiming_a_billion_images_is_refused_at_the_header(tmp_path):
    folder = write_mnist(tmp_path / "data")
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">4I", 2051, 10**9, 28, 28)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz claims 1,000,000,000 images; .* at most 300,000"):
        load_dataset("mnist", folder)


@pytest.fixture
def served(tmp_path, monkeypatch) -> Path:
    """Small stand-ins for the four MNIST files, with their md5s and sizes as the downloader's known table."""
    root = tmp_path / "served"
    table = fake_mnist_files(root)
    monkeypatch.setattr(download, "MNIST_FILES", {name: md5 for name, (md5, _) in table.items()})
    monkeypatch.setattr(download, "MNIST_SIZES", {name: size for name, (_, size) in table.items()})
    return root


def test_attack_10_an_honest_mirror_still_completes(served, tmp_path):
    with mirror(served, "good") as url:
        download.download_mnist(tmp_path / "mnist", mirrors=[url])
    assert {p.name: p.read_bytes() for p in (tmp_path / "mnist").iterdir()} == {p.name: p.read_bytes() for p in served.iterdir()}


def test_attack_10_endless_body_is_cut_at_the_known_size_and_leaves_nothing(served, tmp_path):
    dest = tmp_path / "mnist"
    with mirror(served, "endless") as url, pytest.raises(DataError) as err:
        download.download_mnist(dest, mirrors=[url])
    assert "sent more than the 20,000 bytes of train-images-idx3-ubyte.gz; stopped" in str(err.value)
    assert list(dest.iterdir()) == []


def test_attack_10_a_huge_content_length_is_refused_before_writing(served, tmp_path):
    calls = []
    with mirror(served, "huge_length") as url, pytest.raises(DataError) as err:
        download.download_mnist(tmp_path / "mnist", mirrors=[url], progress=lambda *c: calls.append(c))
    assert "it announces 10,000,000,000,000 bytes, but train-images-idx3-ubyte.gz is 20,000 bytes" in str(err.value)
    assert calls == [] and list((tmp_path / "mnist").iterdir()) == []


def test_attack_10_a_trickling_mirror_shows_progress_and_meets_the_deadline(served, tmp_path):
    calls = []
    with mirror(served, "trickle") as url, pytest.raises(DataError) as err:
        download.download_mnist(tmp_path / "mnist", mirrors=[url], timeout=10, deadline=0.3,
                                progress=lambda *c: calls.append(c))
    assert "too slow: not done after 0.3 s" in str(err.value)
    assert len(calls) >= 3 and [done for _, done, _ in calls] == list(range(1, len(calls) + 1))  # every byte shown
    assert list((tmp_path / "mnist").iterdir()) == []


@pytest.mark.parametrize("how", ["event", "callable", "before-start"])
def test_attack_10_cancel_stops_the_download_and_leaves_nothing(served, tmp_path, how):
    stop = threading.Event()
    if how == "before-start":
        stop.set()

    def progress(name: str, done: int, total: int) -> None:
        if done == 3:
            stop.set()  # as a Cancel button would, from any thread

    cancel = stop if how != "callable" else stop.is_set
    with mirror(served, "trickle") as url, pytest.raises(DataError) as err:
        download.download_mnist(tmp_path / "mnist", mirrors=[url], progress=progress, cancel=cancel)
    assert str(err.value) == "download of train-images-idx3-ubyte.gz cancelled; nothing was kept of it"
    assert list((tmp_path / "mnist").iterdir()) == []


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_attack_11_empty_data_files_are_one_clear_line_naming_the_file(tmp_path, capsys, split):
    folder = write_mnist(tmp_path / "data")
    empty = folder / f"{split}-images-idx3-ubyte.gz"
    empty.write_bytes(gzip.compress(idx_bytes(torch.zeros(0, 28, 28).numpy(), 2051)))
    (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(torch.zeros(0).numpy(), 2049)))
    expected = f"{empty} holds no images (its header says 0); delete it and run `lenet-viz --download-mnist`"
    with pytest.raises(DataError) as err:  # what the app's training worker gets, and shows as-is
        Trainer(TrainConfig(dataset="auto", data_dir=str(folder), threads=1))
    assert str(err.value) == expected
    with pytest.raises(SystemExit) as exit_:
        cli.main([*QUICK, "--dataset", "auto", "--data-dir", str(folder), "--steps", "3"])
    assert exit_.value.code == 2 and one_error_line(capsys.readouterr().err) == f"lenet-viz: error: {expected} (see lenet-viz --help)\n"


# ------------------------------------------------------------------------------ 12-18: the window
WINDOW = dict(dataset="random", batch_size=8, threads=1, eval_every=0)
LONG = 60_000  # ms: a small, shared machine; a training process pays for importing torch


@pytest.fixture
def app_window(qtbot, tmp_path):
    """Open a real MainWindow (a thread unless `process=True`); every one is closed, its worker ended."""
    from PySide6.QtCore import QSettings

    from lenet_viz.app.main_window import MainWindow

    windows = []

    def open_(settings=None, process: bool = False, built: bool = True, **config) -> MainWindow:  # noqa: ANN001
        settings = settings or QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(TrainConfig(**{**WINDOW, **config}), settings=settings, process=process)
        qtbot.addWidget(w)
        windows.append(w)
        w.show()
        if built:
            qtbot.waitUntil(lambda: w.session.info is not None and w.session.snapshot is not None, timeout=LONG)
        return w

    yield open_
    for w in windows:
        child = getattr(w.worker.transport, "_child", None)
        w.close()
        assert not w.worker.isRunning()
        assert child is None or child.poll() is not None, "the training process outlived its window"


def until_done(qtbot, future):  # noqa: ANN001, ANN201
    qtbot.waitUntil(future.done, timeout=LONG)
    return future


def step_to(qtbot, w, target: int) -> None:  # noqa: ANN001
    while w.session.iteration < target:
        w.worker.step_iteration()
        now = w.session.iteration
        qtbot.waitUntil(lambda: w.session.iteration > now, timeout=LONG)


@pytest.mark.train_in_process
def test_attack_12_a_stopped_training_process_never_freezes_the_window(app_window, qtbot, monkeypatch):
    import trainer_jobs as jobs

    from lenet_viz.app import session

    monkeypatch.setattr(session, "SILENT_S", 0.5)
    w = app_window(process=True)
    pid = w.worker.child_pid
    os.kill(pid, signal.SIGSTOP)
    rescue = threading.Timer(120, os.kill, (pid, signal.SIGCONT))  # a frozen GUI fails the test instead of hanging it
    rescue.start()
    try:
        big = functools.partial(jobs.payload_size, payload=bytes(4 << 20))  # 4 MiB: more than the socket holds
        futures = [w.worker.call(big) for _ in range(3)]  # returned at once: the writer thread waits, not the GUI
        w.worker.step_iteration()
        for _ in range(300):  # past the bounded queue: the extra ones are refused and logged, never raised
            w.worker.request_snapshot()
        refused = w.worker.call(jobs.iteration)
        assert isinstance(refused.exception(timeout=0), RuntimeError)
        qtbot.waitUntil(lambda: w.banner.isVisible() and "has not answered" in w.banner.text.text(), timeout=LONG)
        assert w.banner.text.text().startswith("⚠ The training process has not answered for")
        assert not any(f.done() for f in futures) and w.session.iteration == 0
    finally:
        os.kill(pid, signal.SIGCONT)
        rescue.cancel()
    qtbot.waitUntil(lambda: all(f.done() for f in futures) and w.session.iteration == 1, timeout=LONG)
    assert [f.result() for f in futures] == [4 << 20] * 3
    qtbot.waitUntil(lambda: w.banner.isHidden(), timeout=LONG)


@pytest.mark.train_in_process
def test_attack_13_a_killed_training_process_restarts_from_the_last_save(app_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    w = app_window(process=True)
    step_to(qtbot, w, 2)
    ck = tmp_path / "ck.pt"
    assert until_done(qtbot, w.save_checkpoint_to(ck)).result().iteration == 2
    step_to(qtbot, w, 3)
    dead = w.worker.transport._child  # noqa: SLF001
    dead.kill()
    qtbot.waitUntil(lambda: w.recovery.button.isVisible(), timeout=LONG)
    said = w.banner.text.text()
    assert said == (f"⚠ The training process stopped unexpectedly (exit code -9) — the network was in that process "
                    f"and is gone; the curves and the last picture stay until you restart. Restart training starts "
                    f"again from {ck} (iteration 2, saved or opened in this session).")
    for key in (Qt.Key.Key_Space, Qt.Key.Key_N, Qt.Key.Key_R):  # every command fails the same way: the words stay
        qtbot.keyClick(w, key)
    qtbot.wait(100)
    w.refresh()
    assert w.banner.text.text() == said and len(w.history) == 3  # the curves are kept until the restart
    w.recovery.button.click()
    qtbot.waitUntil(lambda: w.session.iteration == 2 and len(w.history) == 2 and w.session.snapshot is not None
                    and w.session.snapshot.iteration == 2, timeout=LONG)
    assert w.worker.child_pid not in (None, dead.pid) and w.banner.isHidden() and not w.recovery.button.isVisible()
    assert w.notice.text() == f"Opened {ck}: iteration 2"
    step_to(qtbot, w, 3)  # the new process trains
    assert w.history.column("iteration").tolist() == [1, 2, 3]


def test_attack_13_without_a_save_the_banner_says_the_restart_begins_at_the_seed():
    from lenet_viz.app.session import Session
    from lenet_viz.training.messages import Failed

    s = Session()
    s.apply([Failed(1, "The training process stopped unexpectedly (exit code -9)")], 0.0)
    s.apply([Failed(1, "The training process has stopped; use Training ▸ Restart training")], 0.0)
    assert s.process_lost and s.banner().endswith(
        "Restart training starts again from the seed at iteration 0 (nothing was saved or opened in this session).")
    assert "are kept" not in s.banner()


@pytest.mark.train_in_process
def test_attack_13_a_startup_data_error_keeps_its_words_after_key_presses(app_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    folder = write_mnist(tmp_path / "mnist")
    broken = folder / "train-images-idx3-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:30])  # truncated
    w = app_window(process=True, built=False, dataset="mnist", data_dir=str(folder))
    qtbot.waitUntil(lambda: w.banner.isVisible() and str(broken) in w.banner.text.text(), timeout=LONG)
    said = w.banner.text.text()
    qtbot.waitUntil(lambda: w.worker.child_pid is None, timeout=LONG)  # it ended by itself: nothing to train
    for key in (Qt.Key.Key_Space, Qt.Key.Key_N):
        qtbot.keyClick(w, key)
    w.refresh()
    assert w.banner.text.text() == said and said.endswith("no network was built. Fix this and start lenet-viz again.")
    assert not w.recovery.button.isVisible()


def test_attack_14_bad_values_in_the_settings_file_never_stop_the_launch(app_window, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    ini = tmp_path / "bad.ini"
    ini.write_text("[General]\ngeometry=hello\nwindowState=42\nspeedLimit=abc\nfilterMode=7\n")
    w = app_window(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.waitUntil(lambda: "Ignored" in w.notice.text(), timeout=LONG)
    assert w.notice.text() == (f"Ignored unreadable settings (geometry, windowState, filterMode, speedLimit) in {ini}: "
                               "defaults used, rewritten on quit")
    assert w.width() > 400 and w.filter_panel.mode == "weights" and w.form.speed_limit() is None
    step_to(qtbot, w, 1)
    w.close()
    assert "hello" not in ini.read_text() and "abc" not in ini.read_text()  # the next launch reads good values


def test_attack_15_the_form_holds_every_seed_and_apply_says_when_it_restarts(app_window, qtbot):
    w = app_window(seed=2**40)
    f = w.form
    assert f.seed.text() == str(2**40)
    step_to(qtbot, w, 2)
    assert f.apply() is True  # the same seed, above 2^31: nothing restarts
    step_to(qtbot, w, 3)
    assert len(w.history) == 3 and "restarted" not in w.notice.text()
    f.seed.setText(str(2**63 - 1))
    assert f.apply() is True
    qtbot.waitUntil(lambda: "restarted" in w.notice.text(), timeout=LONG)
    assert w.notice.text().startswith(f"New settings restarted training at iteration 0 (seed {2**63 - 1},")
    assert w.session.iteration == 0 and len(w.history) == 0 and w.session.config.seed == 2**63 - 1
    f.seed.setText(str(2**63))
    assert f.apply() is False and f.error.text() == f"Not applied — seed: must be an integer from 0 to {2**63 - 1} (got '{2**63}')"


def test_attack_16_closing_during_a_slow_save_finishes_it_then_closes(app_window, qtbot, tmp_path, monkeypatch):
    real_fsync, entered, gate = os.fsync, threading.Event(), threading.Event()

    def slow_fsync(fd: int) -> None:  # a USB stick: the training thread waits in fsync
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            gate.wait(LONG / 1000)
        real_fsync(fd)

    w = app_window()
    step_to(qtbot, w, 2)
    monkeypatch.setattr(os, "fsync", slow_fsync)
    path = tmp_path / "ck.pt"
    future = w.save_checkpoint_to(path)
    qtbot.waitUntil(entered.is_set, timeout=LONG)
    assert w.close() is False  # not yet: the save is being written
    assert w.isVisible() and w.notice.text() == f"Saving {path}… then closing"
    gate.set()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=LONG)
    assert future.result().iteration == 2 and not w.worker.isRunning()
    assert load_checkpoint(path)["iteration"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.train_in_process
def test_attack_16_a_second_close_gives_up_on_the_save_and_leaves_no_temporary_file(app_window, qtbot, tmp_path,
                                                                                     monkeypatch, caplog):
    import trainer_jobs as jobs

    from lenet_viz.app import main_window

    monkeypatch.setattr(main_window, "CLOSE_WAIT_MS", 100)
    w = app_window(process=True)
    until_done(qtbot, w.worker.call(functools.partial(jobs.slow_fsync, seconds=120)))
    path = tmp_path / "ck.pt"
    future = w.save_checkpoint_to(path)
    assert w.close() is False and w.notice.text() == f"Saving {path}… then closing"
    qtbot.waitUntil(lambda: any(p.name.endswith(".tmp") for p in tmp_path.iterdir()), timeout=LONG)  # in fsync now
    child = w.worker.transport._child  # noqa: SLF001
    assert w.close() is True  # the user insists: the training process is stopped mid-save
    assert child.poll() is not None and not future.done()
    assert f"closed before {path} was saved: that checkpoint was not saved" in caplog.text
    assert not path.exists() and [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


LAUNCH_APP = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from lenet_viz.app.main_window import MainWindow
    from lenet_viz.cli import main
    app = QApplication([])
    def poll():
        for w in app.topLevelWidgets():
            if isinstance(w, MainWindow) and w.snapshot is not None:
                print("READY", w.worker.child_pid, flush=True)
                timer.stop()
    timer = QTimer(); timer.timeout.connect(poll); timer.start(20)
    QTimer.singleShot(120_000, lambda: (print("NOT-CLOSED", flush=True), app.exit(3)))
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.train_in_process
def test_attack_17_ctrl_c_in_the_terminal_quits_the_window_cleanly(tmp_path):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCH_APP)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = subprocess.Popen([sys.executable, str(launcher), "--dataset", "random", "--threads", "1"], cwd=tmp_path,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ready = app.stdout.readline().split()
        assert ready[:1] == ["READY"], app.stderr.read()[-2000:] if app.poll() is not None else ready
        child = int(ready[1])
        os.killpg(app.pid, signal.SIGINT)  # what Ctrl+C in the terminal does: the whole foreground group
        out, err = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert app.returncode in (0, 130) and "NOT-CLOSED" not in out, (app.returncode, err[-2000:])
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert not Path(f"/proc/{child}").exists(), "the training process outlived the app"
    assert (tmp_path / "config" / "lenet-viz" / "lenet-viz.conf").is_file()  # closed as Ctrl+Q does: settings saved


def test_attack_18_a_later_successful_save_clears_the_old_save_error(app_window, qtbot, tmp_path):
    w = app_window()
    folder = tmp_path / "a-folder.pt"
    folder.mkdir()
    with pytest.raises(RuntimeError):
        until_done(qtbot, w.save_checkpoint_to(folder)).result()
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    assert w.banner.text.text().startswith(f"⚠ cannot save checkpoint {folder}: ")
    path = tmp_path / "ck.pt"
    until_done(qtbot, w.save_checkpoint_to(path))
    qtbot.waitUntil(lambda: w.banner.isHidden(), timeout=LONG)
    assert w.notice.text() == f"Saved iteration 0 to {path}"


def test_attack_18_a_save_does_not_clear_an_error_of_another_kind():
    from lenet_viz.app.session import Session
    from lenet_viz.training.messages import CheckpointSaved, Failed

    s = Session()
    s.built = True
    s.apply([Failed(1, "cannot save checkpoint /x.pt: No space left on device", 3, "SaveCheckpoint")], 0.0)
    s.apply([CheckpointSaved(1, "/y.pt", 0, 4)], 0.0)
    assert s.banner() is None
    s.apply([Failed(1, "Running a task failed: ValueError: no", 5, "Call")], 0.0)
    s.apply([CheckpointSaved(1, "/y.pt", 0, 6)], 0.0)
    assert s.banner().startswith("⚠ Running a task failed: ValueError: no")
