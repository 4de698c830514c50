"""Health: dead ReLUs measured on the training batch, and flags that rise and clear without flicker."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lenet_viz.training import TrainConfig, Trainer
from lenet_viz.training.health import INITIAL_LOSS_HOLD, HealthMonitor, flag_changes
from lenet_viz.training.types import LAYERS, RELU_LAYERS, StepStats


@pytest.fixture
def trainer() -> Trainer:
    torch.set_num_threads(1)
    return Trainer(TrainConfig(dataset="random", loss="cross_entropy", eval_every=0, batch_size=32))


def dead_by_hand(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The definition, written out: a unit is dead if its ReLU outputs 0 for every image and position."""
    with torch.no_grad():
        c1 = F.relu(model.conv1(x))
        c2 = F.relu(model.conv2(F.max_pool2d(c1, 2)))
        f1 = F.relu(model.fc1(torch.flatten(F.max_pool2d(c2, 2), 1)))
        f2 = F.relu(model.fc2(f1))
    return {"conv1": (c1 == 0).all(dim=(0, 2, 3)).numpy(), "conv2": (c2 == 0).all(dim=(0, 2, 3)).numpy(),
            "fc1": (f1 == 0).all(dim=0).numpy(), "fc2": (f2 == 0).all(dim=0).numpy()}


def test_dead_relu_fractions_of_the_training_batch(trainer):
    with torch.no_grad():  # kill some units for sure: a very negative bias
        trainer.model.conv2.bias[[1, 5, 9]] = -1e3
        trainer.model.fc1.bias[:30] = -1e3
    trainer.step_phase(), trainer.step_phase()  # ZERO_GRAD, FORWARD
    expected = dead_by_hand(trainer.model, trainer._batch[0])
    trainer.snapshot(), trainer.evaluate()  # the probe image and held-out images are not the batch
    stats = trainer.step()
    assert list(stats.dead_relu) == list(RELU_LAYERS)
    for layer, mask in expected.items():
        assert stats.dead_relu[layer] == mask.sum() / mask.size
    assert stats.dead_relu["conv2"] >= 3 / 16 and stats.dead_relu["fc1"] >= 30 / 120
    dead_units = trainer.snapshot().dead_units
    for layer, mask in expected.items():
        np.testing.assert_array_equal(dead_units[layer], mask)


def stats(iteration: int, grad: float = 0.5, ratio: float = 1e-3, dead: float = 0.0, loss: float = 2.3) -> StepStats:
    """StepStats with every layer's gradient norm, update ratio and dead fraction set to one value."""
    return StepStats(
        iteration=iteration, epoch=0, loss=loss, accuracy=0.5,
        grad_norms={f"{layer}.{kind}": (grad if kind == "weight" else 0.0) for layer in LAYERS for kind in ("weight", "bias")},
        weight_norms={}, update_ratios={layer: ratio for layer in LAYERS}, lr=0.01, samples_seen=0,
        dead_relu={layer: dead for layer in RELU_LAYERS},
    )


def run(monitor: HealthMonitor, many: list[StepStats]) -> list[tuple[str, ...]]:
    return [tuple(f.name for f in monitor.check(s)) for s in many]


def test_a_healthy_run_raises_nothing():
    monitor = HealthMonitor()
    assert run(monitor, [stats(i) for i in range(1, 300)]) == [()] * 299


@pytest.mark.parametrize(("kw", "name"), [
    ({"grad": 40.0}, "exploding_gradients"),
    ({"grad": 1e-7}, "vanishing_gradients"),
    ({"grad": 0.0}, "vanishing_gradients"),
    ({"ratio": 0.2}, "updates_too_large"),
    ({"ratio": 1e-7}, "updates_too_small"),
    ({"dead": 0.9}, "dead_relus"),
])
def test_a_sustained_problem_raises_its_flag_with_explanation_and_what_to_try(kw, name):
    monitor = HealthMonitor()
    names = run(monitor, [stats(i) for i in range(1, 21)] + [stats(i, **kw) for i in range(21, 61)])
    assert names[20] == ()  # one bad iteration is not a stretch
    assert names[-1] == (name,)
    flag = monitor.check(stats(61, **kw))[0]
    assert flag.layers == LAYERS if kw.keys() != {"dead"} else flag.layers == RELU_LAYERS
    assert flag.title and flag.explanation and flag.what_to_try and 21 < flag.since < 61
    names = run(monitor, [stats(i) for i in range(62, 140)])
    assert names[-1] == ()  # healthy again: cleared


def test_hysteresis_keeps_a_flag_from_flickering():
    monitor = HealthMonitor()
    run(monitor, [stats(i, grad=40.0) for i in range(1, 30)])
    # hovering around the raise threshold (10): above the clear threshold (3) all along, so it stays up
    names = run(monitor, [stats(i, grad=6.0 if i % 2 else 15.0) for i in range(30, 200)])
    assert set(names) == {("exploding_gradients",)}
    fresh = HealthMonitor()
    names = run(fresh, [stats(i, grad=6.0 if i % 2 else 15.0) for i in range(1, 200)])
    assert set(names) == {()}  # never sustained past 10: never raised


def test_initial_loss_far_from_ln10_is_flagged_for_a_while():
    monitor = HealthMonitor()
    first = monitor.check(stats(1, loss=7.1))
    assert [f.name for f in first] == ["initial_loss"] and "7.1" in first[0].explanation and "2.303" in first[0].explanation
    names = run(monitor, [stats(i) for i in range(2, INITIAL_LOSS_HOLD + 2)])
    assert names[INITIAL_LOSS_HOLD - 2] == ("initial_loss",) and names[-1] == ()
    assert HealthMonitor().check(stats(1, loss=2.35)) == ()
    assert HealthMonitor().check(stats(1, loss=math.nan))[0].name == "initial_loss"
    assert HealthMonitor().check(stats(1, loss=0.1), cross_entropy=False) == ()  # MSE starts elsewhere


def test_flag_changes_are_one_line_each_once():
    monitor = HealthMonitor()
    raised = monitor.check(stats(1, loss=7.1))
    lines = flag_changes((), raised, 1)
    assert lines == [f"flag raised at iteration 1: Initial loss far from ln 10: {raised[0].explanation} Try: {raised[0].what_to_try}"]
    assert flag_changes(raised, raised, 2) == []
    assert flag_changes(raised, (), 201) == ["flag cleared at iteration 201: Initial loss far from ln 10"]


def test_the_trainer_flags_skip_zero_grad_and_raw_pixels():
    torch.set_num_threads(1)
    t = Trainer(TrainConfig(dataset="digits", eval_every=0, histogram_every=0, batch_size=32, bugs={"raw_pixels"}))
    first = t.step()
    assert {"initial_loss", "exploding_gradients"} <= {f.name for f in first.flags}
    assert first.bugs == {"raw_pixels"}
    t.apply_config(t.config.replace(bugs=frozenset({"skip_zero_grad"})))
    t.reset()
    seen = set()
    for _ in range(60):
        seen |= {f.name for f in t.step().flags}
    assert "exploding_gradients" in seen


def test_a_raised_flag_keeps_its_start_and_rewords_only_when_its_number_moves_a_lot():
    monitor = HealthMonitor()
    run(monitor, [stats(i, grad=40.0) for i in range(1, 40)])
    flag = monitor.check(stats(40, grad=45.0))[0]
    assert "reach 40 in" in flag.explanation
    assert monitor.check(stats(41, grad=45.0))[0] is flag  # a little noise: the same flag, no redraw
    run(monitor, [stats(i, grad=400.0) for i in range(42, 90)])
    later = monitor.check(stats(90, grad=400.0))[0]
    assert later.since == flag.since and "reach 3" in later.explanation  # EMA on its way to 400


def test_the_watched_forward_is_the_models_own_bit_for_bit(trainer):
    """The trainer's forward is LeNet.forward written out step by step (no hooks): the same output and
    the same gradients, exactly, with or without the histogram sampling."""
    from lenet_viz.training.watch import ForwardWatch

    x, y = trainer._train_x[:32], trainer._train_y[:32]
    watch = ForwardWatch(trainer.model, trainer._histograms)
    seen = []
    for sampling in (False, True):
        watch.sampling = sampling
        out = watch.forward(trainer.model, x, lambda i, o: seen.append((i, o)))
        want = trainer.model(x)
        torch.testing.assert_close(out, want, rtol=0, atol=0)
        grads = [torch.autograd.grad(F.cross_entropy(o, y), trainer.model.conv1.weight)[0] for o in (out, want)]
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    assert seen[0][0] is x and seen[0][1].shape == (32, 6, 28, 28)  # conv1's input and output, for the formula
    assert set(watch.activation_counts) == set(LAYERS)
