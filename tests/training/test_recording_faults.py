"""Recording faults: kill -9, damaged/foreign/newer files, a full disk, a follower beside the writer."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lenet_viz.data import load_dataset
from lenet_viz.training import Recorder, Recording, RecordingError

from recording_helpers import make_trainer, record

CHILD = Path(__file__).with_name("recording_child.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def reference(digits):
    """The losses of the child's run, computed here: what every recording of it must hold."""
    trainer = make_trainer(digits)
    return [trainer.step().loss for _ in range(120)]


@pytest.fixture(scope="module")
def good(digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "run.lvz"
    record(path, make_trainer(digits), 50)
    return path


def child(path: Path, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, str(CHILD), str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def wait_for(predicate, what: str, limit_s: float = 120.0):  # noqa: ANN001, ANN201 - a poll, not a timing goal
    deadline = time.monotonic() + limit_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return value


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ processes
def test_a_follower_reads_rows_as_another_process_writes_them(tmp_path, reference):
    path = tmp_path / "live.lvz"
    writer = child(path, "pause")
    try:
        assert writer.stdout.readline().strip() == "paused"  # 20 iterations done, the writer process waits
        rec = wait_for(lambda: path.exists() and _try_open(path), "the recording to appear")
        wait_for(lambda: rec.last_iteration() == 20, "20 committed iterations (no close, no flush)")
        assert rec.losses().tolist() == reference[:20]
        writer.stdin.write("go\n")
        writer.stdin.flush()
        wait_for(lambda: rec.last_iteration() == 40, "the next 20, on the same open Recording")
        assert writer.stdout.readline().strip() == "closed"
        assert rec.losses().tolist() == reference[:40]
        assert rec.trainer_at(33).step().loss == reference[33]
        rec.close()
    finally:
        writer.kill()
        writer.wait()


def _try_open(path: Path) -> Recording | None:
    try:
        return Recording.open(path)
    except RecordingError:
        return None  # created but its header not yet committed


def test_kill_9_leaves_a_readable_recording_of_all_but_the_last_moments(tmp_path, reference):
    path = tmp_path / "killed.lvz"
    writer = child(path, "forever")
    try:
        while int(writer.stdout.readline()) < 30:
            pass
        rec = wait_for(lambda: _try_open(path), "the recording")
        wait_for(lambda: rec.last_iteration() >= 30, "30 committed iterations")
        rec.close()
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    finally:
        writer.kill()
    with Recording.open(path) as rec:
        losses = rec.losses().tolist()
        assert len(losses) >= 30 and losses == reference[: len(losses)]
        n = len(losses)
        assert rec.trainer_at(n - 1).step().loss == reference[n - 1]


# -------------------------------------------------------------- bad files
def _newer(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    db = sqlite3.connect(dst)
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()


def _truncated(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])


def _foreign_db(src: Path, dst: Path) -> None:
    db = sqlite3.connect(dst)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()


@pytest.mark.parametrize("make, why", [
    (lambda src, dst: dst.write_text("hello, not a recording"), "not an SQLite database"),
    (lambda src, dst: dst.write_bytes(b""), "the file is empty"),
    (_foreign_db, "an SQLite database, but not a lenet-viz recording"),
    (_newer, r"written by a newer lenet-viz \(format version 3; this one reads up to 2\)"),
    (_truncated, r"the file is truncated \([\d,]+ of [\d,]+ bytes\)"),
    (lambda src, dst: None, "no such file"),
])
def test_a_bad_file_gets_one_line_naming_it_and_is_not_changed(good, tmp_path, make, why):
    path = tmp_path / "bad.lvz"
    make(good, path)
    before = digest(path) if path.exists() else None
    with pytest.raises(RecordingError, match=f"^cannot open recording {path}: .*{why}") as info:
        Recording.open(path)
    assert "\n" not in str(info.value)
    assert (digest(path) if path.exists() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (["bad.lvz"] if before else [])


def test_damage_inside_the_file_is_reported_naming_it(good, tmp_path):
    path = tmp_path / "damaged.lvz"
    data = bytearray(good.read_bytes())
    third = len(data) // 3
    data[third : 2 * third] = bytes(range(256)) * (third // 256) + bytes(third % 256)
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(RecordingError, match=f"recording {path}: .*damaged"):
        with Recording.open(path) as rec:
            rec.losses()
            for branch, iteration in rec.keyframes():
                rec.keyframe(branch, iteration)
    assert digest(path) == before


@pytest.mark.parametrize("content", ["text", "newer"])
def test_the_recorder_never_overwrites_what_is_not_its_own(good, tmp_path, digits, content):
    path = tmp_path / "precious.dat"
    _newer(good, path) if content == "newer" else path.write_text("my thesis")
    before = digest(path)
    with pytest.raises(RecordingError, match=f"^cannot record to {path}: .*left untouched"):
        Recorder(path, make_trainer(digits))
    assert digest(path) == before


def test_an_earlier_recording_at_the_path_is_replaced(good, tmp_path, digits):
    path = tmp_path / "again.lvz"
    shutil.copy(good, path)
    losses = record(path, make_trainer(digits, seed=3), 5)
    with Recording.open(path) as rec:
        assert rec.losses().tolist() == losses


# -------------------------------------------------------------- disk full
def test_a_failing_disk_stops_the_recording_once_and_training_goes_on(tmp_path, digits):
    path = tmp_path / "full.lvz"
    trainer = make_trainer(digits)
    said: list[str] = []
    recorder = Recorder(path, trainer, commit_every=0.0, on_stopped=said.append)
    losses = [trainer.step().loss for _ in range(10)]
    recorder.flush()

    def full() -> None:
        e = sqlite3.OperationalError("database or disk is full")
        e.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise e

    recorder._fault_hook = full
    losses += [trainer.step().loss for _ in range(10)]
    recorder.flush()
    losses += [trainer.step().loss for _ in range(5)]
    recorder.close()
    assert trainer.iteration == 25
    assert said == [f"recording stopped: the disk is full ({path}); training goes on"] and recorder.stopped == said[0]
    with Recording.open(path) as rec:
        kept = rec.losses().tolist()
    assert kept == losses[:10]


@pytest.fixture
def tiny_disk(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a small tmpfs here ({e}); the fault-hook test covers this path")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_really_full_disk_stops_recording_and_leaves_a_readable_file(tiny_disk, digits):
    path = tiny_disk / "run.lvz"
    trainer = make_trainer(digits)
    said: list[str] = []
    recorder = Recorder(path, trainer, keyframe_every=2, time_share=1.0, commit_every=0.0, on_stopped=said.append)
    losses = [trainer.step().loss for _ in range(40)]
    recorder.close()
    assert trainer.iteration == 40
    assert said == [f"recording stopped: the disk is full ({path}); training goes on"]
    with Recording.open(path) as rec:
        kept = rec.losses().tolist()
        assert 0 < len(kept) < 40 and kept == losses[: len(kept)]
        assert rec.trainer_at(len(kept) - 1, dataset=digits).step().loss == losses[len(kept) - 1]


def test_a_disk_failing_at_close_still_closes(tmp_path, digits):
    path = tmp_path / "close.lvz"
    trainer = make_trainer(digits)
    recorder = Recorder(path, trainer)
    losses = [trainer.step().loss for _ in range(3)]
    recorder.flush()
    trainer.step()
    recorder._fault_hook = lambda: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    recorder.close()  # returns: the writer thread is gone
    assert recorder.stopped == f"recording stopped: No space left on device ({path}); training goes on"
    assert not recorder._writer.is_alive() and not recorder.flush()
    with Recording.open(path) as rec:
        assert rec.losses().tolist() == losses
