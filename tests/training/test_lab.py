"""The bug lab: each switch does exactly its one mistake, live, and survives a checkpoint."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from lenet_viz.data import load_dataset
from lenet_viz.model import LeNet
from lenet_viz.training import ConfigError, Phase, TrainConfig, Trainer
from lenet_viz.training.bugs import BUGS, CATALOGUE
from lenet_viz.training.checkpoint import checkpoint_config, load_checkpoint, restore_checkpoint, save_checkpoint
from lenet_viz.training.lab import label_permutation, training_labels


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-exact comparisons need one summation order
    yield
    torch.set_num_threads(before)


def make(digits, **kw) -> Trainer:
    kw.setdefault("eval_every", 0)
    return Trainer(TrainConfig(dataset="digits", **kw), dataset=digits)


def fed_inputs(trainer: Trainer) -> list[torch.Tensor]:
    """Every input conv1 receives from now on (what the network is really fed)."""
    seen: list[torch.Tensor] = []
    trainer.model.conv1.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].detach().clone()))
    return seen


# ------------------------------------------------------------------ config
def test_the_five_bugs_and_their_one_line_explanations():
    assert BUGS == ("skip_zero_grad", "lr_x100", "raw_pixels", "shuffled_labels", "double_softmax")
    assert all(b.title and b.explanation and "\n" not in b.explanation for b in CATALOGUE)


def test_unknown_bug_is_refused_naming_the_allowed_ones():
    with pytest.raises(ConfigError) as e:
        TrainConfig(bugs=frozenset({"lr_x100", "forgot_eval_mode"}))
    assert e.value.field == "bugs"
    assert "'forgot_eval_mode'" in str(e.value)
    assert all(name in str(e.value) for name in BUGS)
    with pytest.raises(ConfigError, match="set of bug names"):
        TrainConfig(bugs="lr_x100")  # a bare string would be read as letters


def test_bugs_round_trip_through_a_dict_as_a_sorted_list():
    config = TrainConfig(bugs={"raw_pixels", "lr_x100"})
    assert config.bugs == frozenset({"raw_pixels", "lr_x100"}) and isinstance(config.bugs, frozenset)
    d = config.to_dict()
    assert d["bugs"] == ["lr_x100", "raw_pixels"]
    assert TrainConfig.from_dict(d) == config
    assert TrainConfig.from_dict({k: v for k, v in d.items() if k != "bugs"}).bugs == frozenset()


# ------------------------------------------------------------------ engine
def test_skip_zero_grad_makes_grad_the_exact_sum_of_both_batches(digits):
    t = make(digits, bugs={"skip_zero_grad"}, batch_size=16, lr=0.05, momentum=0.0)
    t.step()
    first = [p.grad.clone() for p in t.model.parameters()]
    t.step_phase()  # ZERO_GRAD, skipped by the bug
    assert all(torch.equal(p.grad, g) for p, g in zip(t.model.parameters(), first))
    t.step_phase()  # FORWARD fetched batch 2; weights are those after update 1
    x, y = t._batch
    by_hand = LeNet()
    by_hand.load_state_dict(t.model.state_dict())
    F.cross_entropy(by_hand(x), y).backward()
    t.step_phase(), t.step_phase()  # LOSS, BACKWARD
    assert t.phase is Phase.UPDATE
    for p, g1, ref in zip(t.model.parameters(), first, by_hand.parameters()):
        assert torch.equal(p.grad, g1 + ref.grad)


def test_bugs_are_live_and_switch_off_at_the_next_iteration(digits):
    t = make(digits, batch_size=16)
    t.step_phase()  # mid-iteration: the change waits for the boundary
    t.apply_config(t.config.replace(bugs=frozenset({"lr_x100", "skip_zero_grad"})))
    assert t.step().lr == 0.01
    grads_before = [p.grad.clone() for p in t.model.parameters()]
    stats = t.step()
    assert stats.lr == pytest.approx(1.0) and stats.bugs == {"lr_x100", "skip_zero_grad"}
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(1.0)
    assert not torch.equal(t.model.conv1.bias.grad, grads_before[1])  # accumulated on top
    t.apply_config(t.config.replace(bugs=frozenset()))
    assert t.step_phase() is Phase.ZERO_GRAD
    assert all(p.grad is None for p in t.model.parameters())  # zero_grad runs again
    assert t.step().lr == 0.01 and t.optimizer.param_groups[0]["lr"] == 0.01


def test_raw_pixels_feeds_0_to_255_in_training_evaluation_and_the_probe(digits):
    t = make(digits, bugs={"raw_pixels"})
    seen = fed_inputs(t)
    t.step()
    t.evaluate(100)
    for x in seen:
        assert float(x.min()) == pytest.approx(0.0, abs=1e-3) and float(x.max()) == pytest.approx(255.0, rel=1e-5)
    snap = t.snapshot()
    raw = (digits.test_images[snap.probe_index, 0] * digits.pixel_std + digits.pixel_mean) * 255
    assert snap.probe_image == pytest.approx(raw.numpy(), rel=1e-5, abs=1e-3)
    t.apply_config(t.config.replace(bugs=frozenset()))
    t.step()
    assert float(seen[-1].max()) == pytest.approx(float(digits.train_images.max()), rel=1e-6)  # normalized again


def test_shuffled_labels_are_one_seeded_permutation_of_the_training_labels_only(digits):
    config = TrainConfig(dataset="digits", bugs={"shuffled_labels"}, seed=3)
    labels, _ = training_labels(digits, config)
    again, _ = training_labels(digits, config.replace())
    assert torch.equal(labels, again) and torch.equal(labels, digits.train_labels[label_permutation(len(labels), 3)])
    assert torch.equal(labels.sort().values, digits.train_labels.sort().values)  # same class balance
    assert (labels != digits.train_labels).float().mean() > 0.8
    assert training_labels(digits, config.replace(seed=4))[0].tolist() != labels.tolist()
    t = Trainer(config.replace(eval_every=0), dataset=digits)
    assert torch.equal(t._train_y, labels)
    t.apply_config(t.config.replace(bugs=frozenset()))
    t.step()
    assert torch.equal(t._train_y, digits.train_labels)  # switched off: the true labels again


def test_shuffled_labels_are_memorized_while_held_out_stays_at_chance(digits):
    few = dataclasses.replace(digits, train_images=digits.train_images[:64].clone(), train_labels=digits.train_labels[:64].clone())
    t = Trainer(TrainConfig(dataset="digits", bugs={"shuffled_labels"}, optimizer="adam", lr=3e-3, momentum=0.0,
                            batch_size=64, eval_every=0), dataset=few)
    for _ in range(60):
        stats = t.step()
    assert stats.accuracy == 1.0  # the whole (wrongly labelled) training set, memorized
    assert t.evaluate() < 0.25  # 360 held-out digits: chance is 0.10


def test_double_softmax_feeds_probabilities_to_cross_entropy(digits):
    t = make(digits, bugs={"double_softmax"}, batch_size=16)
    for _ in range(3):
        t.step_phase()  # ZERO_GRAD, FORWARD, LOSS
    x, y = t._batch
    with torch.no_grad():
        expected = F.cross_entropy(F.softmax(t.model(x), dim=1), y).item()
    assert t.snapshot().loss == expected
    assert t.step().loss == expected


def test_checkpoints_keep_the_bugs_and_resume_exactly(digits, tmp_path):
    t = make(digits, bugs={"shuffled_labels", "lr_x100"}, batch_size=16, lr=0.001)
    for _ in range(3):
        t.step()
    path = save_checkpoint(t, tmp_path / "lab.pt")
    expected = [t.step().loss for _ in range(3)]
    state = load_checkpoint(path)
    assert state["config"]["bugs"] == ["lr_x100", "shuffled_labels"]
    assert checkpoint_config(state, TrainConfig()).bugs == {"lr_x100", "shuffled_labels"}
    fresh = make(digits, batch_size=16)
    restore_checkpoint(fresh, path)
    assert fresh.config.bugs == {"lr_x100", "shuffled_labels"} and fresh.effective_lr == pytest.approx(0.1)
    assert [fresh.step().loss for _ in range(3)] == expected
    assert all(math.isfinite(v) for v in expected)
