"""The engine does what the tutorial prints, phase by phase."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lenet_viz.data import load_dataset
from lenet_viz.training import ConfigError, Phase, TrainConfig, Trainer

TUTORIAL_SHAPES = [
    ("conv1.weight", (6, 1, 5, 5)), ("conv1.bias", (6,)),
    ("conv2.weight", (16, 6, 5, 5)), ("conv2.bias", (16,)),
    ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
    ("fc2.weight", (84, 120)), ("fc2.bias", (84,)),
    ("fc3.weight", (10, 84)), ("fc3.bias", (10,)),
]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def make(digits, **kw) -> Trainer:
    kw.setdefault("eval_every", 0)
    return Trainer(TrainConfig(dataset="digits", **kw), dataset=digits)


def weights(t: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in t.model.parameters()]


def test_tutorial_parameters(digits):
    t = make(digits)
    assert [(n, tuple(p.shape)) for n, p in t.model.named_parameters()] == TUTORIAL_SHAPES
    assert sum(p.numel() for p in t.model.parameters()) == 61_706
    rows = t.snapshot().params
    assert [(r.name, r.shape) for r in rows] == TUTORIAL_SHAPES
    assert all(r.grad_norm is None for r in rows)


@pytest.mark.parametrize("bugs", [frozenset(), frozenset({"skip_zero_grad"})])
def test_the_parameter_table_after_update_is_the_norms_of_the_tensors_now(digits, bugs):
    """After UPDATE the table reuses the iteration's norms: they must be those of .grad and the weights now."""
    t = make(digits, bugs=bugs, eval_every=0)
    for _ in range(3):
        t.step()
        rows = t.snapshot().params
        for row, (name, p) in zip(rows, t.model.named_parameters()):
            assert row.name == name
            assert row.weight_norm == float(torch.linalg.vector_norm(p.detach()))
            assert row.grad_norm == float(torch.linalg.vector_norm(p.grad))


def test_phases_walk_the_tutorial(digits):
    t = make(digits, lr=0.1, momentum=0.0)
    t.step()  # so that .grad exists before zero_grad clears it
    assert t.model.conv1.bias.grad is not None
    before = weights(t)
    assert t.phase is Phase.ZERO_GRAD
    assert t.step_phase() is Phase.ZERO_GRAD
    assert all(p.grad is None for p in t.model.parameters())
    assert t.step_phase() is Phase.FORWARD
    assert t.step_phase() is Phase.LOSS
    assert t.snapshot().loss is not None and t.model.conv1.bias.grad is None
    assert t.step_phase() is Phase.BACKWARD
    assert t.model.conv1.bias.grad is not None
    grads = [p.grad.clone() for p in t.model.parameters()]
    for a, b in zip(before, weights(t)):  # no weight moved yet
        assert torch.equal(a, b)
    assert t.iteration == 1
    assert t.step_phase() is Phase.UPDATE
    assert t.iteration == 2 and t.phase is Phase.ZERO_GRAD
    for w0, w1, g in zip(before, weights(t), grads):  # plain SGD: exactly -lr * grad
        torch.testing.assert_close(w1 - w0, -0.1 * g, rtol=1e-5, atol=1e-7)
    snap = t.snapshot()
    np.testing.assert_allclose(snap.conv1_update, (-0.1 * grads[0]).numpy(), rtol=1e-5, atol=1e-7)


def test_step_finishes_current_iteration_from_mid_phase(digits):
    t = make(digits)
    t.step_phase()
    t.step_phase()
    stats = t.step()
    assert stats.iteration == 1 and t.iteration == 1 and t.phase is Phase.ZERO_GRAD
    assert t.step().iteration == 2


def test_step_stats_are_plain_and_complete(digits):
    t = make(digits)
    s = t.step()
    assert isinstance(s.loss, float) and 0 <= s.accuracy <= 1
    assert list(s.grad_norms) == [n for n, _ in TUTORIAL_SHAPES] == list(s.weight_norms)
    assert list(s.update_ratios) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert all(isinstance(v, float) and v > 0 for v in s.grad_norms.values())
    expected = t.model.conv1.weight.grad.norm().item()
    assert s.grad_norms["conv1.weight"] == pytest.approx(expected, rel=1e-5)
    assert s.samples_seen == 64 and s.lr == 0.01 and s.epoch == 0


def test_manual_update_equals_optim_sgd(digits):
    a = make(digits, lr=0.05, momentum=0.0, update="manual")
    b = make(digits, lr=0.05, momentum=0.0, update="optim")
    for _ in range(20):
        sa, sb = a.step(), b.step()
        assert sa.loss == pytest.approx(sb.loss, rel=1e-5, abs=1e-6)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_same_seed_same_losses(digits):
    a, b, c = make(digits, seed=3), make(digits, seed=3), make(digits, seed=4)
    la = [a.step().loss for _ in range(40)]
    assert la == [b.step().loss for _ in range(40)]
    assert la != [c.step().loss for _ in range(40)]


def test_epochs_cover_every_sample_once(digits):
    t = make(digits, batch_size=500)
    seen = [t.step() for _ in range(3)]
    assert [s.epoch for s in seen] == [0, 0, 0] and seen[-1].samples_seen == 1437
    assert t.step().epoch == 1


def test_snapshot_is_a_copy_and_has_every_layer(digits):
    t = make(digits)
    t.step()
    snap = t.snapshot()
    shapes = {k: v.shape for k, v in snap.activations.items()}
    assert shapes == {
        "conv1": (6, 28, 28), "pool1": (6, 14, 14), "conv2": (16, 10, 10), "pool2": (16, 5, 5),
        "fc1": (120,), "fc2": (84,), "output": (10,), "probabilities": (10,),
    }
    assert math.isclose(float(snap.activations["probabilities"].sum()), 1, rel_tol=1e-5)
    assert snap.probe_image.shape == (32, 32) and snap.prediction == int(snap.activations["output"].argmax())
    w = snap.conv1_weight.copy()
    t.step()
    np.testing.assert_array_equal(snap.conv1_weight, w)  # the future did not leak in
    assert not np.array_equal(t.snapshot().conv1_weight, w)


def test_a_snapshot_made_later_shows_the_moment_it_was_asked_for(digits):
    """snapshot_later() reads now and runs the probe's forward pass later (on the training process's
    sending thread): steps taken meanwhile, an accumulating gradient included, do not leak in."""
    import dataclasses

    t = make(digits, bugs=frozenset({"skip_zero_grad"}))  # .grad accumulates in place
    t.step()
    t.step_phase()  # ZERO_GRAD (skipped by the bug), so FORWARD is next
    now = t.snapshot()
    later = t.snapshot_later()
    t.step()
    t.step()
    made = later()
    for field in dataclasses.fields(now):
        a, b = getattr(now, field.name), getattr(made, field.name)
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), field.name
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name
    assert not np.array_equal(t.snapshot().activations["output"], made.activations["output"])
    assert not np.array_equal(t.snapshot().conv1_grad, made.conv1_grad)


def test_probe_selection_wraps(digits):
    t = make(digits)
    t.set_probe(-1)
    assert t.probe_index == t.num_probes - 1 == 359
    assert t.snapshot().probe_label == int(digits.test_labels[359])


def test_autograd_chain_reaches_every_parameter(digits):
    t = make(digits, loss="mse")
    assert t.snapshot().autograd is None
    for _ in range(3):
        t.step_phase()
    root = t.snapshot().autograd
    assert root is not None and root.name == "MseLossBackward0"
    assert root.children[0].name == "AddmmBackward0"  # loss.grad_fn.next_functions[0][0]: fc3

    def leaves(node):
        if node.name == "AccumulateGrad":
            yield node.parameter
        for c in node.children:
            yield from leaves(c)

    assert sorted(leaves(root)) == sorted(n for n, _ in TUTORIAL_SHAPES)


def test_random_dataset_uses_tutorial_targets():
    t = Trainer(TrainConfig(dataset="random", loss="mse", eval_every=0))
    for _ in range(3):
        t.step_phase()
    target = t._batch_targets
    assert target is not None and target.shape == (64, 10) and target.dtype == torch.float32
    assert t.snapshot().loss == pytest.approx(torch.nn.functional.mse_loss(t._output, target).item())


def test_new_hyperparameters_wait_for_the_iteration_boundary(digits):
    t = make(digits, lr=0.01)
    t.step_phase()
    t.step_phase()
    assert t.apply_config(t.config.replace(lr=0.2, batch_size=32)) is False
    first = t.step()
    assert first.lr == 0.01 and first.samples_seen == 64
    second = t.step()
    assert second.lr == 0.2 and second.samples_seen == 96


def test_changing_seed_reinitializes(digits):
    t = make(digits)
    t.step()
    assert t.apply_config(t.config.replace(seed=9)) is True
    assert t.iteration == 0 and len(t.history) == 0


def test_switching_optimizer_takes_effect(digits):
    t = make(digits)
    t.step()
    t.apply_config(t.config.replace(optimizer="adam", lr=0.001))
    assert isinstance(t.optimizer, torch.optim.Adam)
    assert math.isfinite(t.step().loss)


@pytest.mark.parametrize(
    "field,value",
    [("lr", -1.0), ("lr", float("nan")), ("momentum", 1.0), ("batch_size", 0), ("optimizer", "rmsprop"),
     ("loss", "hinge"), ("update", "magic"), ("dataset", "cifar"), ("device", "tpu"), ("seed", -1), ("batch_size", 2.5)],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value})
    assert str(err.value).startswith(f"{field}:") and err.value.field == field


def test_manual_update_refuses_momentum():
    with pytest.raises(ConfigError, match="momentum"):
        TrainConfig(update="manual", momentum=0.9)
    with pytest.raises(ConfigError, match="update"):
        TrainConfig(update="manual", optimizer="adam", momentum=0.0)


def test_cuda_request_without_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="device: cuda is not available"):
        Trainer(TrainConfig(dataset="digits", device="cuda"), dataset=digits)


def test_divergence_is_flagged_and_weights_stay_finite(digits):
    t = make(digits, lr=10.0, momentum=0.0, loss="mse")
    for _ in range(30):
        s = t.step()
        if s.diverged:
            break
    assert s.diverged and t.diverged and not math.isfinite(s.loss) or not all(
        math.isfinite(v) for v in s.grad_norms.values()
    )
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    t.apply_config(t.config.replace(lr=1e-4))  # the user lowers lr and carries on
    assert t.step().iteration == s.iteration + 1


def test_periodic_evaluation(digits):
    t = make(digits, eval_every=5, eval_samples=100)
    stats = [t.step() for _ in range(10)]
    assert [s.eval_accuracy is not None for s in stats] == [False] * 4 + [True] + [False] * 4 + [True]
    assert stats[4].eval_accuracy == pytest.approx(t.history.eval_arrays()[1][0])


def test_state_dict_resumes_identically(digits):
    a = make(digits, seed=5)
    for _ in range(7):
        a.step()
    a.step_phase()
    a.step_phase()  # mid-iteration: the state is the start of iteration 8
    state = a.state_dict()
    rest = [a.step().loss for _ in range(30)]
    b = make(digits, seed=0)
    b.load_state_dict(state)
    assert b.iteration == 7 and b.config.seed == 5
    assert [b.step().loss for _ in range(30)] == rest
    np.testing.assert_array_equal(b.history.column("loss"), a.history.column("loss"))


def test_engine_imports_no_qt():
    import subprocess
    import sys

    code = (
        "import sys, lenet_viz.model, lenet_viz.data, lenet_viz.training; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'PyQt'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
