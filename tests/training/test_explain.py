"""The backward formula of a conv1 gradient cell, with the batch's real numbers; the hand update beside optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lenet_viz.data import load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def make(digits, **kw) -> Trainer:
    kw.setdefault("momentum", 0.0)
    return Trainer(TrainConfig(dataset="digits", eval_every=0, threads=1, **kw), dataset=digits)


def after_backward(t: Trainer) -> Trainer:
    while t.step_phase() is not Phase.BACKWARD:
        pass
    return t


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize(("f", "r", "c"), [(0, 0, 0), (2, 1, 3), (5, 4, 4), (3, 2, 0)])
def test_formula_sum_equals_the_gradient(digits, loss, f, r, c):
    t = after_backward(make(digits, loss=loss))
    e = t.explain_conv1_grad(f, r, c)
    grad = t.model.conv1.weight.grad
    assert e.weight_grad == float(grad[f, 0, r, c])
    assert abs(e.total - e.weight_grad) <= 1e-5 * max(1.0, abs(e.weight_grad))
    assert abs(e.total - e.weight_grad) <= 1e-4 * float(grad.abs().max())  # far below one grad's size
    assert e.bias_grad == float(t.model.conv1.bias.grad[f])
    assert abs(e.bias_total - e.bias_grad) <= 1e-5 * max(1.0, abs(e.bias_grad))


def test_the_maps_are_the_terms_of_the_sum(digits):
    t = after_backward(make(digits, batch_size=8))
    f, r, c = 4, 3, 1
    e = t.explain_conv1_grad(f, r, c)
    x = t._batch[0].numpy()
    up = t._conv1_tap.upstream.numpy()
    assert e.batch_size == 8 and e.image.shape == (32, 32) and e.patch.shape == e.upstream.shape == (28, 28)
    np.testing.assert_array_equal(e.image, x[0, 0])
    np.testing.assert_array_equal(e.patch, x[0, 0, r : r + 28, c : c + 28])
    np.testing.assert_array_equal(e.upstream, up[0, f])
    np.testing.assert_allclose(e.product, e.patch * e.upstream, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(e.per_image.sum(), e.total, rtol=1e-5)
    np.testing.assert_allclose(e.batch_product.sum(), e.total, rtol=1e-4, atol=1e-9)
    terms = sum(float((x[b, 0, r : r + 28, c : c + 28].astype(np.float64) * up[b, f]).sum()) for b in range(8))
    assert e.total == pytest.approx(terms, rel=1e-12)


def test_explain_refuses_clearly_without_gradients(digits):
    t = make(digits)
    with pytest.raises(ValueError, match="run BACKWARD first"):
        t.explain_conv1_grad(0, 0, 0)
    after_backward(t)
    with pytest.raises(IndexError, match="filter 6"):
        t.explain_conv1_grad(6, 0, 0)
    t.step_phase()  # UPDATE: the gradient is still there to explain
    assert t.explain_conv1_grad(1, 1, 1).weight_grad == float(t.model.conv1.weight.grad[1, 0, 1, 1])
    t.step_phase()  # ZERO_GRAD
    with pytest.raises(ValueError, match="run BACKWARD first"):
        t.explain_conv1_grad(0, 0, 0)


def test_explain_works_with_graph_recording_off(digits):
    t = make(digits)
    t.record_graph = False
    t.step()
    e = t.explain_conv1_grad(1, 2, 3)
    assert abs(e.total - e.weight_grad) <= 1e-5


def test_hand_update_equals_optimizer_step_and_touches_nothing(digits):
    t = after_backward(make(digits, lr=0.05))
    before = [p.detach().clone() for p in t.model.parameters()]
    state = {k: v for k, v in t.optimizer.state_dict().items()}
    cmp = t.compare_manual_update()
    assert cmp.lr == 0.05
    assert list(cmp.manual) == list(cmp.optim) == [n for n, _ in t.model.named_parameters()]
    for (name, p), w in zip(t.model.named_parameters(), before):
        assert torch.equal(p.detach(), w)  # live weights untouched
        expected = (-0.05 * p.grad).numpy()
        np.testing.assert_allclose(cmp.manual[name], expected, rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(cmp.optim[name], expected, rtol=1e-4, atol=1e-8)
        assert cmp.max_abs_diff[name] <= 1e-6 * max(1.0, float(w.abs().max()))
    assert t.optimizer.state_dict() == state


def test_hand_update_is_what_manual_mode_applies(digits):
    t = after_backward(make(digits, update="manual", lr=0.1))
    cmp = t.compare_manual_update()
    t.step_phase()  # UPDATE, done by hand by the trainer
    np.testing.assert_array_equal(t.snapshot().conv1_update, cmp.manual["conv1.weight"])


def test_compare_refuses_without_gradients(digits):
    with pytest.raises(ValueError, match=r"conv1.weight.grad is None: run BACKWARD first"):
        make(digits).compare_manual_update()
