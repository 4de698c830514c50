"""Checkpoints: exact resume, atomic writes, and clear refusals of damaged or hostile files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from lenet_viz import __version__
from lenet_viz.data import DataError, load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer
from lenet_viz.training import checkpoint as ck
from lenet_viz.training.checkpoint import (
    FORMAT, CheckpointError, apply_checkpoint, load_checkpoint, restore_checkpoint, save_checkpoint,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def make(digits, **kw) -> Trainer:
    kw = {"dataset": "digits", "eval_every": 5, "eval_samples": 50, "threads": 1, **kw}  # 1: 5x faster on a busy 2-core box
    return Trainer(TrainConfig(**kw), dataset=digits if kw["dataset"] == "digits" else None)


def trained(digits, n: int, **kw) -> Trainer:
    t = make(digits, **kw)
    for _ in range(n):
        t.step()
    return t


def fingerprint(t: Trainer) -> dict:
    """What 'untouched' means: position, weights, optimizer buffers, history."""
    return {
        "iteration": t.iteration, "phase": t.phase, "epoch": t.epoch, "config": t.config.to_dict(),
        "weights": [p.detach().clone() for p in t.model.parameters()],
        "momentum": [b.clone() for b in (s.get("momentum_buffer") for s in t.optimizer.state.values()) if b is not None],
        "loss": t.history.column("loss").copy(), "dataset": t.dataset,
    }


def assert_same(a: dict, b: dict) -> None:
    assert {k: a[k] for k in ("iteration", "phase", "epoch", "config")} == {k: b[k] for k in ("iteration", "phase", "epoch", "config")}
    assert a["dataset"] is b["dataset"]
    for x, y in zip(a["weights"] + a["momentum"], b["weights"] + b["momentum"], strict=True):
        assert torch.equal(x, y)
    np.testing.assert_array_equal(a["loss"], b["loss"])


# ------------------------------------------------------------------------ round trip
def test_contents_are_plain_and_load_with_weights_only(digits, tmp_path):
    t = trained(digits, 7)
    path = save_checkpoint(t, tmp_path / "ck.pt")
    raw = torch.load(path, map_location="cpu", weights_only=True)  # our own files need no trust
    assert raw["format"] == FORMAT and raw["version"] == 1 and raw["lenet_viz_version"] == __version__
    assert raw["architecture"][0] == ["conv1.weight", [6, 1, 5, 5]] and len(raw["architecture"]) == 10
    assert raw["iteration"] == 7 and raw["dataset"] == "digits" and raw["config"]["dataset"] == "digits"
    assert raw["torch_rng"].dtype == torch.uint8 and raw["generator"].dtype == torch.uint8
    assert set(raw["optimizer"]["state"]) == set(range(10))
    assert raw["history"]["columns"][:2] == ["iteration", "loss"] and len(raw["history"]["data"]) == 7
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["conv1.weight"], t.model.conv1.weight.detach())
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"optimizer": "adam", "lr": 0.001},
        {"loss": "mse", "update": "manual", "momentum": 0.0, "lr": 0.05},
        {"batch_size": 500},  # 3 iterations an epoch: the resume crosses epoch boundaries
        {"dataset": "random", "seed": 5, "loss": "mse", "batch_size": 16},  # the data itself depends on the seed
    ],
    ids=["sgd-momentum", "adam", "tutorial-manual-mse", "epochs", "random-data"],
)
def test_resume_gives_exactly_the_same_losses_and_curves(digits, tmp_path, config):
    a = trained(digits, 8, **config)
    path = save_checkpoint(a, tmp_path / "ck.pt")
    rest = [a.step().loss for _ in range(12)]
    b = make(digits, seed=3)  # a different run: everything must come from the file
    restore_checkpoint(b, path)
    assert b.iteration == 8 and b.phase is Phase.ZERO_GRAD
    assert [b.step().loss for _ in range(12)] == rest
    assert b.history.columns == a.history.columns and b.history.eval_arrays()[0].tolist() == [5, 10, 15, 20]
    for name in a.history.columns:
        np.testing.assert_array_equal(b.history.column(name), a.history.column(name))
    np.testing.assert_array_equal(b.history.eval_arrays()[1], a.history.eval_arrays()[1])
    assert (b.iteration, b.epoch, b.samples_seen) == (a.iteration, a.epoch, a.samples_seen)


def test_resume_in_a_fresh_process(digits, tmp_path):
    a = trained(digits, 6)
    path = save_checkpoint(a, tmp_path / "ck.pt")
    rest = [a.step().loss for _ in range(5)]
    code = (
        "import json, sys; from lenet_viz.training import Trainer, TrainConfig; "
        "from lenet_viz.training.checkpoint import restore_checkpoint; "
        "t = Trainer(TrainConfig(dataset='digits', seed=9, threads=1)); restore_checkpoint(t, sys.argv[1]); "
        "print(json.dumps([t.step().loss for _ in range(5)]))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, timeout=240)
    assert json.loads(out.stdout) == rest


def test_mid_iteration_save_resumes_from_the_start_of_that_iteration(digits, tmp_path):
    a = trained(digits, 5)
    a.step_phase()
    a.step_phase()  # zero_grad and forward of iteration 6 ran: a batch was drawn
    path = save_checkpoint(a, tmp_path / "ck.pt")
    rest = [a.step().loss for _ in range(6)]
    b = make(digits)
    restore_checkpoint(b, path)
    assert b.iteration == 5 and b.phase is Phase.ZERO_GRAD and b.samples_seen == 5 * 64
    assert [b.step().loss for _ in range(6)] == rest


def test_torch_global_rng_is_restored(digits, tmp_path):
    t = trained(digits, 2)
    torch.manual_seed(1234)
    path = save_checkpoint(t, tmp_path / "ck.pt")
    expected = torch.rand(4)
    torch.manual_seed(0)
    restore_checkpoint(make(digits), path)
    assert torch.equal(torch.rand(4), expected)


def test_this_machines_device_threads_and_data_dir_stay(digits, tmp_path):
    t = trained(digits, 2)
    path = save_checkpoint(t, tmp_path / "ck.pt")
    state = torch.load(path, weights_only=True)
    state["config"].update(device="cuda", threads=7, data_dir="/elsewhere/mnist", lr=0.02)
    torch.save(state, path)
    b = make(digits, device="cpu", threads=1)
    restore_checkpoint(b, path)  # a GPU run opens on a CPU machine
    assert (b.config.device, b.config.threads, b.config.data_dir, b.config.lr) == ("cpu", 1, None, 0.02)


# ---------------------------------------------------------------------------- atomic
def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_debris(digits, tmp_path, monkeypatch):
    t = trained(digits, 3)
    path = save_checkpoint(t, tmp_path / "ck.pt")
    before = path.read_bytes()
    t.step()
    real_save = torch.save

    def half_then_fail(obj, f, *a, **kw):
        real_save(obj, f, *a, **kw)
        f.seek(0)
        f.truncate(len(before) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(CheckpointError, match="No space left on device") as err:
        save_checkpoint(t, path)
    assert str(path) in str(err.value)
    monkeypatch.setattr(torch, "save", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(CheckpointError, match="RuntimeError: boom"):
        save_checkpoint(t, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
    assert load_checkpoint(path)["iteration"] == 3


def test_save_is_written_beside_then_renamed(digits, tmp_path, monkeypatch):
    renames = []
    real = os.replace
    monkeypatch.setattr(ck.os, "replace", lambda src, dst: (renames.append((src, dst)), real(src, dst)))
    save_checkpoint(trained(digits, 1), tmp_path / "ck.pt")
    [(src, dst)] = renames
    assert os.path.dirname(src) == os.path.dirname(dst) == str(tmp_path) and os.path.basename(src).startswith(".ck.pt.")


@pytest.mark.parametrize("where,needle", [("no/such/folder/ck.pt", "No such file"), ("adir", "folder")])
def test_unwritable_targets_are_refused_clearly(digits, tmp_path, where, needle):
    (tmp_path / "adir").mkdir()
    with pytest.raises(CheckpointError, match=needle) as err:
        save_checkpoint(trained(digits, 1), tmp_path / where)
    assert str(tmp_path / where) in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"] and not any((tmp_path / "adir").iterdir())


# ------------------------------------------------------------------ damaged files
def _edit(path, change) -> None:
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def _bigger_conv1(s: dict) -> None:
    s["model"]["conv1.weight"] = torch.zeros(8, 1, 5, 5)
    s["architecture"][0] = ["conv1.weight", [8, 1, 5, 5]]


DAMAGE = {
    "missing": (lambda p: p.unlink(), "no such file"),
    "folder": (lambda p: (p.unlink(), p.mkdir()), "not a file"),
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    "first-100-bytes": (lambda p: p.write_bytes(p.read_bytes()[:100]), "truncated or damaged"),
    "random-bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), "damaged"),
    "text": (lambda p: p.write_text("lr = 0.01\n"), "damaged"),
    "not-ours": (lambda p: torch.save({"a": 1}, p), "not a lenet-viz checkpoint"),
    "a-list": (lambda p: torch.save([1, 2], p), "not a lenet-viz checkpoint"),
    "version-99": (lambda p: _edit(p, lambda s: s.update(version=99)), "version 99.*newer lenet-viz"),
    "version-text": (lambda p: _edit(p, lambda s: s.update(version="1")), "unknown checkpoint version '1'"),
    "wrong-architecture": (lambda p: _edit(p, _bigger_conv1), r"conv1.weight of shape \(8, 1, 5, 5\).*\(6, 1, 5, 5\)"),
    "declared-only": (lambda p: _edit(p, lambda s: s["architecture"].pop()), "declares no fc3.bias"),
    "weight-missing": (lambda p: _edit(p, lambda s: s["model"].pop("fc2.weight")), "weights have no fc2.weight"),
    "int-weights": (lambda p: _edit(p, lambda s: s["model"].update({k: v.long() for k, v in s["model"].items()})), "not floating"),
    "incomplete": (lambda p: _edit(p, lambda s: s.pop("optimizer")), "incomplete.*optimizer"),
    "bad-lr": (lambda p: _edit(p, lambda s: s["config"].update(lr=-1.0)), "settings are invalid: lr"),
    "unknown-setting": (lambda p: _edit(p, lambda s: s["config"].update(colour="red")), "colour"),
    "negative-iteration": (lambda p: _edit(p, lambda s: s.update(iteration=-4)), "iteration must be"),
    "perm-out-of-range": (lambda p: _edit(p, lambda s: s["perm"].add_(10**6)), "data order"),
    "adam-state-for-sgd": (
        lambda p: _edit(p, lambda s: [v.update(exp_avg=v.pop("momentum_buffer")) for v in s["optimizer"]["state"].values()]),
        "optimizer state is damaged",
    ),
    "optimizer-shapes": (
        lambda p: _edit(p, lambda s: s["optimizer"]["state"][0].update(momentum_buffer=torch.zeros(3))), "optimizer state",
    ),
    "generator": (lambda p: _edit(p, lambda s: s.update(generator=torch.zeros(3, dtype=torch.uint8))), "random number generator"),
    "history": (lambda p: _edit(p, lambda s: s["history"].update(data="nonsense")), "metric history"),
    "conv1-update": (lambda p: _edit(p, lambda s: s.update(conv1_update=torch.zeros(2))), "conv1 update"),
}


@pytest.fixture(scope="module")
def good_bytes(digits, tmp_path_factory) -> bytes:
    """One real checkpoint (another run: seed 2, lr 0.03, 9 iterations), damaged per test."""
    return save_checkpoint(trained(digits, 9, seed=2, lr=0.03), tmp_path_factory.mktemp("good") / "ck.pt").read_bytes()


@pytest.fixture
def victim(digits):
    """A trainer in the middle of an iteration: what a failed load must leave exactly as it was."""
    t = trained(digits, 4)
    t.step_phase()
    t.step_phase()
    return t


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_files_are_refused_clearly_and_change_nothing(tmp_path, good_bytes, victim, kind):
    damage, needle = DAMAGE[kind]
    path = tmp_path / "ck.pt"
    path.write_bytes(good_bytes)
    damage(path)
    before = fingerprint(victim)
    with pytest.raises(CheckpointError, match=needle) as err:
        restore_checkpoint(victim, path)
    message = str(err.value)
    assert message.startswith(f"cannot open checkpoint {path}: ") and "\n" not in message
    assert isinstance(err.value, DataError)  # shown as-is wherever data errors are
    assert_same(fingerprint(victim), before)


def test_after_a_refused_load_training_goes_on_as_if_nothing_happened(digits, tmp_path, victim):
    twin = trained(digits, 4)
    twin.step_phase()
    twin.step_phase()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError):
        restore_checkpoint(victim, bad)
    assert [victim.step().loss for _ in range(4)] == [twin.step().loss for _ in range(4)]


def test_data_that_differs_from_the_checkpoints_is_refused(tmp_path, good_bytes, victim):
    path = tmp_path / "ck.pt"
    path.write_bytes(good_bytes)  # and "auto" meant mnist where it was saved, say
    _edit(path, lambda s: s.update(dataset="mnist", perm=torch.randperm(60000)))
    before = fingerprint(victim)
    with pytest.raises(CheckpointError, match=r"trained on mnist \(60,000 training images\).*digits \(1,437\)"):
        restore_checkpoint(victim, path)
    assert_same(fingerprint(victim), before)


def test_a_failure_while_restoring_puts_the_previous_state_back(digits, tmp_path, good_bytes, monkeypatch):
    t, twin = trained(digits, 4), trained(digits, 4)
    path = tmp_path / "ck.pt"
    path.write_bytes(good_bytes)
    state = load_checkpoint(path)
    monkeypatch.setattr(torch, "set_rng_state", lambda s: (_ for _ in ()).throw(RuntimeError("simulated")))
    with pytest.raises(CheckpointError, match="simulated"):
        apply_checkpoint(t, state, path)
    monkeypatch.undo()
    assert_same(fingerprint(t), fingerprint(twin))
    assert [t.step().loss for _ in range(3)] == [twin.step().loss for _ in range(3)]


# ----------------------------------------------------------------- hostile files
class _Touch:
    """Unpickling this would create `target`: what a malicious checkpoint would do."""

    def __init__(self, how: str, target: str) -> None:
        self.how, self.target = how, target

    def __reduce__(self):
        if self.how == "system":
            return os.system, (f"touch {self.target}",)
        if self.how == "eval":
            return eval, (f"open({self.target!r}, 'w')",)
        return open, (self.target, "w")


@pytest.mark.parametrize(
    "how,writer",
    [("system", "torch"), ("open", "torch"), ("eval", "torch"), ("system", "pickle2"), ("open", "pickle2"), ("system", "pickle4")],
)
def test_a_file_that_would_run_code_is_refused_without_running_it(digits, tmp_path, victim, how, writer):
    target = tmp_path / "PWNED"
    payload = {"format": FORMAT, "version": 1, "model": _Touch(how, str(target))}
    path = tmp_path / "evil.pt"
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=int(writer[-1])))
    before = fingerprint(victim)
    with pytest.raises(CheckpointError) as err:
        restore_checkpoint(victim, path)
    assert not target.exists()
    assert str(path) in str(err.value) and ("not data" in str(err.value) or "damaged" in str(err.value))
    if writer != "pickle4":
        assert "refused without running anything" in str(err.value)
    assert_same(fingerprint(victim), before)
