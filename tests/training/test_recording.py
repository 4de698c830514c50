"""Recordings: exact rewind, branches, settings changes, scrub previews, the codec, the size budget."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
import zlib

import numpy as np
import pytest
import torch

from lenet_viz.data import load_dataset
from lenet_viz.training import Recorder, Recording, RecordingError
from lenet_viz.training.recording_codec import Blob, CodecError, decode, encode
from lenet_viz.training.types import StepStats

from recording_helpers import make_trainer, record


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def run60(digits, tmp_path_factory):
    """60 iterations of digits, keyframes every 16: (path, the losses training reported)."""
    path = tmp_path_factory.mktemp("rec") / "run.lvz"
    return path, record(path, make_trainer(digits), 60)


def test_losses_are_what_training_reported(run60):
    path, losses = run60
    with Recording.open(path) as rec:
        assert rec.losses().tolist() == losses  # element i = iteration i + 1, bit for bit
        assert [it for _, it in rec.keyframes()] == [0, 16, 32, 48, 60]  # 60: the final state, kept at close
        m = rec.metrics()
        assert m["iteration"].tolist() == list(range(1, 61))
        assert m["grad_norms/conv1.weight"].shape == (60,) and np.isfinite(m["grad_norms/conv1.weight"]).all()
        assert m["eval_accuracy"][4] >= 0 and math.isnan(m["eval_accuracy"][0])  # measured every 5th iteration
        assert rec.threads == 1 and rec.header["format"] == "lenet-viz-recording"


def test_rewind_to_37_and_continue_reproduces_the_run_bit_for_bit(run60, digits):
    path, losses = run60
    with Recording.open(path) as rec:
        trainer = rec.trainer_at(37, dataset=digits)
    assert trainer.iteration == 37
    continued = [trainer.step().loss for _ in range(23)]
    assert continued == losses[37:]


def test_a_replay_skips_the_held_out_evaluations_and_histograms_and_continues_with_them(run60, digits, monkeypatch):
    """Replaying 48 -> 57 crosses two evaluation iterations (every 5th) and a histogram one (50): neither is
    run on the way (an evaluation ~40 ms on MNIST), and the trainer handed back evaluates again as it trains on."""
    from lenet_viz.training import Trainer

    path, losses = run60
    evaluated: list[int] = []
    real = Trainer.evaluate
    monkeypatch.setattr(Trainer, "evaluate", lambda self, *a: evaluated.append(self.iteration) or real(self, *a))
    with Recording.open(path) as rec:
        trainer = rec.trainer_at(57, dataset=digits)
    assert evaluated == [] and len(trainer.distributions) == 0 and not trainer.replaying
    stats = [trainer.step() for _ in range(3)]
    assert [s.loss for s in stats] == losses[57:60] and evaluated == [60] and stats[-1].eval_accuracy is not None


def test_trainer_at_loads_the_data_itself_and_refuses_iterations_it_does_not_have(run60):
    path, losses = run60
    with Recording.open(path) as rec:
        trainer = rec.trainer_at(16)  # exactly on a keyframe: nothing to replay
        assert (trainer.iteration, trainer.step().loss) == (16, losses[16])
        for bad in (61, -1):
            with pytest.raises(RecordingError, match=rf"{path}.*up to 60.*iteration {bad}"):
                rec.trainer_at(bad)


def test_settings_changed_mid_run_are_replayed_where_they_happened(digits, tmp_path):
    trainer = make_trainer(digits)
    with Recorder(tmp_path / "r.lvz", trainer, keyframe_every=16, time_share=1.0):
        losses = [trainer.step().loss for _ in range(20)]
        trainer.apply_config(trainer.config.replace(lr=0.05, momentum=0.5))
        losses += [trainer.step().loss for _ in range(20)]
    with Recording.open(tmp_path / "r.lvz") as rec:
        assert [(it, s["lr"]) for it, s in rec.settings()] == [(1, 0.01), (21, 0.05)]
        assert [it for _, it in rec.keyframes()] == [0, 16, 32, 40]
        resumed = rec.trainer_at(30, dataset=digits)  # keyframe 16, then replayed across the change at 21
        assert resumed.config.lr == 0.05
        assert [resumed.step().loss for _ in range(10)] == losses[30:]


def test_a_branch_keeps_its_parent_as_a_ghost(digits, tmp_path):
    path = tmp_path / "b.lvz"
    trainer = make_trainer(digits)
    recorder = Recorder(path, trainer, keyframe_every=16, time_share=1.0)
    original = [trainer.step().loss for _ in range(30)]
    recorder.flush()
    with Recording.open(path) as rec:
        rewound = rec.trainer_at(20, dataset=digits)
    rewound.apply_config(rewound.config.replace(lr=0.03))
    assert recorder.branch(20, trainer=rewound) == 2
    branched = [rewound.step().loss for _ in range(15)]
    trainer.step()  # the abandoned trainer is no longer recorded
    recorder.close()
    with Recording.open(path) as rec:
        (root, child) = rec.branches()
        assert (root.parent, root.last_iteration, child.parent, child.fork_iteration, child.last_iteration) == (None, 30, 1, 20, 35)
        assert rec.losses().tolist() == original[:20] + branched  # the main line: the newest branch
        assert rec.losses(branch=1).tolist() == original  # the ghost
        assert [e.kind for e in rec.events()] == ["branch"]
        again = rec.trainer_at(27, dataset=digits)  # replays the branch from its own keyframe at 20
        assert [again.step().loss for _ in range(8)] == branched[7:]


def test_a_reset_nobody_announced_starts_a_new_run_in_the_file(digits, tmp_path):
    path = tmp_path / "reset.lvz"
    trainer = make_trainer(digits)
    with Recorder(path, trainer, keyframe_every=16, time_share=1.0):
        first = [trainer.step().loss for _ in range(10)]
        trainer.apply_config(trainer.config.replace(seed=7))  # re-initializes: iteration 0 again
        second = [trainer.step().loss for _ in range(10)]
    with Recording.open(path) as rec:
        assert [(b.parent, b.fork_iteration) for b in rec.branches()] == [(None, 0), (None, 0)]
        assert rec.losses(branch=1).tolist() == first and rec.losses().tolist() == second
        assert rec.events()[0].kind == "reset"
        assert [rec.trainer_at(4, dataset=digits).step().loss for _ in range(1)] == second[4:5]


def test_observe_shows_iteration_k_without_touching_the_live_run(run60, digits):
    path, losses = run60
    live = make_trainer(digits)
    for _ in range(3):
        live.step()
    weights = [p.detach().clone() for p in live.model.parameters()]
    rng = torch.get_rng_state()
    torch.set_num_threads(2)
    try:
        with Recording.open(path) as rec:
            snap = rec.observe(45, probe_index=3)
            later = rec.observe(47)  # forward from the cached scratch state
            preview = rec.observe(47, exact=False)
            assert torch.get_num_threads() == 2 and torch.equal(torch.get_rng_state(), rng)
            exact_weights = rec.trainer_at(45, dataset=digits).model.conv1.weight.detach().numpy()
    finally:
        torch.set_num_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(weights, live.model.parameters()))
    assert (snap.iteration, snap.loss, snap.probe_index) == (45, losses[44], 3)
    assert snap.conv1_grad is not None and snap.autograd is not None  # iteration 45 itself was replayed
    np.testing.assert_array_equal(snap.conv1_weight, exact_weights)
    assert (later.iteration, later.loss) == (47, losses[46])
    assert (preview.iteration, preview.conv1_grad) == (44, None)  # the nearest known state: replayed (and kept) before


def test_codec_round_trips_without_pickle_and_stores_equal_arrays_once():
    perm = torch.randperm(3000)
    state = {
        "model": {"w": torch.randn(6, 1, 5, 5), "b": torch.zeros(6, dtype=torch.float64)},
        "optimizer": {"state": {0: {"momentum_buffer": torch.ones(3)}}, "param_groups": [{"betas": (0.9, 0.999), "nesterov": False}]},
        "perm": perm, "again": perm.clone(), "numpy": np.arange(5, dtype=np.uint8), "nan": math.nan, "none": None, "$odd": 1,
    }
    enc = encode(state)
    json.loads(enc.text)  # the structure is plain JSON
    assert len(enc.blobs) == 5  # perm and its copy are one blob
    assert sorted(len(b.data) for b in enc.blobs.values() if b.codec == "narrow:<u2") == [6000]  # int64 indices, 2 bytes each
    back = decode(enc.text, enc.blobs.__getitem__, torch.from_numpy)
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["model"]["b"].dtype == torch.float64
    assert list(back["optimizer"]["state"]) == [0]  # int keys stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert torch.equal(back["again"], perm) and isinstance(back["numpy"], np.ndarray)
    assert math.isnan(back["nan"]) and back["none"] is None and back["$odd"] == 1
    with pytest.raises(TypeError, match="cannot record a object"):
        encode({"x": object()})
    assert decode(enc.text, lambda h: Blob("raw", b""), only=lambda path: False)["perm"] is None


def test_blobs_are_named_by_sha256_and_integers_stored_narrow():
    state = {"w": torch.randn(4, 5), "perm": torch.randperm(3000), "big": torch.tensor([0, 2**40] * 200)}
    enc = encode(state)
    assert {len(h) for h in enc.refs} == {64}
    assert hashlib.sha256(state["w"].numpy().tobytes()).hexdigest() in enc.refs  # named by the bytes as recorded
    # 3,000 indices in 2 bytes each; floats, and integers too large for a narrower type, as they are
    assert sorted((b.codec, len(b.data)) for b in enc.blobs.values()) == [("narrow:<u2", 6000), ("raw", 80), ("raw", 3200)]
    back = decode(enc.text, enc.blobs.__getitem__, torch.from_numpy)
    assert back["perm"].dtype == torch.int64 and torch.equal(back["perm"], state["perm"]) and torch.equal(back["big"], state["big"])
    perm = hashlib.sha256(state["perm"].numpy().tobytes()).hexdigest()
    for bad in (Blob("narrow:<u2", enc.blobs[perm].data[:-1]), Blob("narrow:<f4", enc.blobs[perm].data),
                Blob("narrow:<u2", bytes(6000))):
        with pytest.raises(CodecError, match="damaged"):
            decode(enc.text, {**enc.blobs, perm: bad}.__getitem__)


def test_the_writer_does_not_hash_the_same_data_order_twice(monkeypatch):
    """encode(seen=...): the very same large array as the last keyframe's (the epoch's data order) is named
    without being read again; a new one (the next epoch's) is hashed, and weights (fresh copies) always are."""
    from lenet_viz.training import recording_codec

    hashed: list[int] = []
    real = recording_codec.checksum
    monkeypatch.setattr(recording_codec, "checksum", lambda data, like="": hashed.append(len(data)) or real(data, like))
    perm, seen, stored = torch.randperm(30_000), {}, set()
    first = encode({"perm": perm, "w": torch.randn(200, 100)}, known=stored.__contains__, seen=seen)
    stored |= first.blobs.keys()
    assert sorted(hashed) == [80_000, 240_000]
    hashed.clear()
    again = encode({"perm": perm, "w": torch.randn(200, 100)}, known=stored.__contains__, seen=seen)
    assert hashed == [80_000] and not any(len(b.data) == 60_000 for b in again.blobs.values())  # only the weights
    assert json.loads(again.text)["perm"] == json.loads(first.text)["perm"]
    assert again.refs & first.refs == {json.loads(first.text)["perm"]["$array"]}  # the weights are new
    hashed.clear()
    encode({"perm": torch.randperm(30_000)}, known=stored.__contains__, seen=seen)  # the next epoch's order
    assert hashed == [240_000]


def test_a_recording_of_format_version_1_still_opens_and_replays(digits, tmp_path, monkeypatch):
    """Format 1 named blobs by BLAKE2b-128 (32 hex digits) and zipped integer arrays: written that way here
    (the codec of then, patched in), marked version 1, it opens, rewinds bit for bit, and a damaged blob is caught."""
    from lenet_viz.training import recording_codec

    monkeypatch.setattr(recording_codec, "checksum", lambda data, like="": hashlib.blake2b(data, digest_size=16).hexdigest())
    monkeypatch.setattr(recording_codec, "_pack", lambda a, raw: Blob("zlib", zlib.compress(raw, 1)) if a.dtype.kind in "iu" else Blob("raw", raw))
    path = tmp_path / "v1.lvz"
    losses = record(path, make_trainer(digits), 40)
    monkeypatch.undo()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=1")
    db.execute("UPDATE header SET value='1' WHERE key='version'")
    assert {c for (c,) in db.execute("SELECT codec FROM blobs")} == {"raw", "zlib"}
    assert {len(h) for (h,) in db.execute("SELECT hash FROM blobs")} == {32}
    db.commit()
    db.close()
    with Recording.open(path) as rec:
        trainer = rec.trainer_at(21, dataset=digits)
        assert [trainer.step().loss for _ in range(5)] == losses[21:26]
    db = sqlite3.connect(path)
    db.execute("UPDATE blobs SET data=zeroblob(length(data)) WHERE codec='raw' AND length(data) > 1000")
    db.commit()
    db.close()
    with Recording.open(path) as rec, pytest.raises(RecordingError, match="checksum"):
        rec.trainer_at(21, dataset=digits)


def test_a_slow_first_keyframe_does_not_space_out_the_next(digits, tmp_path, monkeypatch):
    """The first keyframe pays what happens once per process (torch imported torch._dynamo at the first
    optimizer state_dict(), ~1.9 s): counted in the 2 % time share, it once held the next keyframe back
    for ~95 s, so a rewind early in a run replayed hundreds of iterations."""
    from lenet_viz.training import recorder as recorder_module

    real, calls = recorder_module.capture, []

    def capture(trainer):  # noqa: ANN001, ANN202 - the first capture burns 0.3 s of CPU, as that import did
        calls.append(trainer.iteration)
        if len(calls) == 1:
            end = time.thread_time() + 0.3
            while time.thread_time() < end:
                pass
        return real(trainer)

    monkeypatch.setattr(recorder_module, "capture", capture)
    path = tmp_path / "r.lvz"
    trainer = make_trainer(digits)
    with Recorder(path, trainer) as rec:  # the default interval and time share
        for _ in range(40):
            trainer.step()
        assert rec.keyframe_cost() < 0.05
    with Recording.open(path) as rec:
        spots = [it for _, it in rec.keyframes()]
    assert spots[0] == 0 and spots[-1] == 40
    assert max(b - a for a, b in zip(spots, spots[1:])) <= 2 * recorder_module.KEYFRAME_EVERY, spots


def test_the_keyframe_interval_grows_to_keep_the_file_in_its_budget(digits, tmp_path):
    path = tmp_path / "small.lvz"
    trainer = make_trainer(digits)
    budget = 4 * 2**20  # ~14 keyframes of LeNet (weights + momentum, ~0.5 MB)
    recorder = Recorder(path, trainer, budget=budget, keyframe_every=2, time_share=1.0)
    losses = [trainer.step().loss for _ in range(80)]
    recorder.close()
    assert recorder.interval >= 8
    with Recording.open(path) as rec:
        spots = [it for _, it in rec.keyframes()]
        assert spots[0] == 0 and spots[-1] == 80 and len(spots) < 40
        assert path.stat().st_size <= budget
        resumed = rec.trainer_at(75, dataset=digits)
        assert [resumed.step().loss for _ in range(5)] == losses[75:]
        for it in spots:  # every kept keyframe still has all its blobs after the thinning
            assert rec.trainer_at(it, dataset=digits).iteration == it


def test_the_file_and_its_write_ahead_log_stay_within_the_budget_together(digits, tmp_path):
    """The log beside the file counts too: cut back whenever it is folded in, and deleted keyframes not zeroed
    into it (this SQLite's secure_delete wrote ~15 MB of zeros per thinning); the file thins with room for it.
    Paced like a slow MNIST run (a keyframe every 8 iterations of ~13 ms), sampled after every step."""
    path, wal = tmp_path / "paced.lvz", tmp_path / "paced.lvz-wal"
    budget = 12 * 2**20  # ~24 keyframes
    trainer = make_trainer(digits)
    recorder = Recorder(path, trainer, budget=budget)
    sizes = []
    for _ in range(400):
        trainer.step()
        time.sleep(0.01)
        sizes.append(path.stat().st_size + (wal.stat().st_size if wal.exists() else 0))
    recorder.close()
    assert recorder.interval >= 16  # it thinned
    assert max(sizes) <= budget, f"{max(sizes) / 2**20:.1f} MB"
    assert path.stat().st_size <= budget
    assert not wal.exists() or wal.stat().st_size == 0  # folded in at close


def test_a_new_stats_field_becomes_a_new_column(run60, digits, tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Newer(StepStats):
        lab_bug: float = 1.5

    trainer = make_trainer(digits)
    recorder = Recorder(tmp_path / "n.lvz", trainer, attach=False)
    stats = trainer.step()
    recorder.on_step(stats)
    recorder.on_step(Newer(**{**stats.__dict__, "iteration": 2}))
    recorder.close()
    with Recording.open(tmp_path / "n.lvz") as rec:
        m = rec.metrics()
    assert m["lab_bug"][1] == 1.5 and math.isnan(m["lab_bug"][0]) and m["loss"][0] == stats.loss


def test_recorded_rows_are_plain_sqlite(run60):
    db = sqlite3.connect(run60[0])
    assert db.execute("SELECT count(*), min(iteration), max(iteration) FROM metrics").fetchone() == (60, 1, 60)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # closed: one self-contained file
    db.close()


def test_scrubbing_back_reuses_states_replayed_before_and_they_stay_exact(run60, digits):
    path, losses = run60
    with Recording.open(path) as rec:
        rec.observe(47, dataset=digits)  # replays 33..47 from the keyframe at 32, keeping 36, 40, 44 in memory
        back = rec.observe(42)  # from the memo at 40
        assert (back.iteration, back.loss) == (42, losses[41])
        resumed = rec.trainer_at(44, dataset=digits)  # the memo at 44: its buffers must not be the trainer's
        assert [resumed.step().loss for _ in range(16)] == losses[44:]
        again = rec.observe(46)
        assert (again.iteration, again.loss) == (46, losses[45])
        np.testing.assert_array_equal(again.conv1_weight, rec.trainer_at(46, dataset=digits).model.conv1.weight.detach().numpy())
