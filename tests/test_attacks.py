"""Attacks from the red-team pass (issue 17, items 1-11), each reproduced and shown handled.

Each test is named after the attack and numbered after the issue's item.  Items 12-18 (the
window) are tested with the window.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
import signal
import struct
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
