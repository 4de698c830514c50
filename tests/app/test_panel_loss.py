"""LossPanel draws exactly the history's numbers, survives divergence, and stays cheap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_viz.app.panels.loss import LossPanel
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.history import MetricHistory
from lenet_viz.training.trainer import Trainer
from lenet_viz.training.types import StepStats


@pytest.fixture(scope="module")
def trained() -> Trainer:
    trainer = Trainer(TrainConfig(dataset="random", eval_every=10, eval_samples=64, threads=1))
    for _ in range(40):
        trainer.step()
    return trainer


@pytest.fixture
def panel(make_panel) -> LossPanel:
    return make_panel(LossPanel, (700, 450))


def stats(iteration: int, loss: float, accuracy: float = 0.5) -> StepStats:
    return StepStats(
        iteration=iteration, epoch=0, loss=loss, accuracy=accuracy,
        grad_norms={"conv1.weight": 0.1}, weight_norms={"conv1.weight": 1.0},
        update_ratios={"conv1": 1e-3}, lr=0.01, samples_seen=iteration * 64,
    )


def data(curve) -> tuple[np.ndarray, np.ndarray]:
    """The arrays the panel gave the curve (an emptied curve holds None)."""
    x, y = curve.getOriginalDataset()
    return (np.empty(0), np.empty(0)) if y is None else (x, y)


def test_curves_are_the_history_columns(panel, trained):
    h = trained.history
    panel.show(h)
    x, y = data(panel.loss_curve)
    np.testing.assert_array_equal(x, h.column("iteration"))
    np.testing.assert_array_equal(y, h.column("loss"))
    np.testing.assert_array_equal(data(panel.smooth_curve)[1], h.column("loss_smooth"))
    np.testing.assert_allclose(data(panel.batch_acc_curve)[1], h.column("accuracy") * 100)
    assert len(x) == 40 and np.all(np.isfinite(y)) and y[0] > 0


def test_eval_points_after_evaluation(panel, trained):
    h = trained.history
    panel.show(h)
    ex, ey = data(panel.eval_curve)
    np.testing.assert_array_equal(ex, [10, 20, 30, 40])
    np.testing.assert_allclose(ey, h.eval_arrays()[1] * 100)
    assert np.all((0 <= ey) & (ey <= 100))


def test_displayed_data_matches_when_visible(panel, trained, qtbot):
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(trained.history)
    panel.plot.vb.autoRange()
    np.testing.assert_array_equal(panel.loss_curve.getData()[1], trained.history.column("loss"))


def test_nan_and_inf_loss_are_dropped_and_view_stays_finite(panel, qtbot):
    h = MetricHistory()
    for i, loss in enumerate([2.3, 2.0, math.nan, 1.5, math.inf, -math.inf, 1.0], start=1):
        h.append(stats(i, loss))
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(h)
    panel.plot.vb.autoRange()
    x, y = data(panel.loss_curve)
    np.testing.assert_array_equal(x, [1, 2, 4, 7])
    np.testing.assert_array_equal(y, [2.3, 2.0, 1.5, 1.0])
    sx, sy = data(panel.smooth_curve)  # the smooth curve also stops where the loss is not a number
    np.testing.assert_array_equal(sx, [1, 2, 4, 7])
    np.testing.assert_allclose(sy, h.column("loss_smooth")[[0, 1, 3, 6]])
    (x0, x1), (y0, y1) = panel.plot.vb.viewRange()
    assert all(map(math.isfinite, (x0, x1, y0, y1)))
    assert y0 < 1.0 and y1 > 2.3
    assert not panel.grab().isNull()


def test_title_says_when_training_diverged(panel):
    h = MetricHistory()
    h.append(stats(1, 2.0))
    panel.show(h)
    assert "diverged" not in panel.plot.titleLabel.text
    h.append(stats(2, math.nan))
    panel.show(h)
    assert "diverged" in panel.plot.titleLabel.text
    panel.clear()
    assert "diverged" not in panel.plot.titleLabel.text


def test_unchanged_history_does_no_setdata(panel, trained, monkeypatch):
    h = trained.history
    panel.show(h)
    calls = []
    for curve in (panel.loss_curve, panel.smooth_curve, panel.eval_curve, panel.batch_acc_curve):
        monkeypatch.setattr(curve, "setData", lambda *a, **k: calls.append(a))
    for _ in range(5):
        panel.show(h)
    assert calls == []


def test_clear_and_a_cleared_history_empty_the_plot(panel):
    h = MetricHistory()
    h.append(stats(1, 2.0))
    h.add_eval(1, 0.5)
    panel.show(h)
    assert len(data(panel.loss_curve)[1]) == 1
    h.clear()  # restarts version: the panel must still notice
    panel.show(h)
    assert len(data(panel.loss_curve)[1]) == 0 and len(data(panel.eval_curve)[1]) == 0
    h.append(stats(1, 3.0))
    panel.show(h)
    panel.clear()
    assert len(data(panel.loss_curve)[1]) == 0
    panel.show(h)  # after clear() the same history is drawn again
    np.testing.assert_array_equal(data(panel.loss_curve)[1], [3.0])


def test_hundred_thousand_iterations_render(panel, qtbot):
    h = MetricHistory()
    rng = np.random.default_rng(0)
    losses = 2.3 * np.exp(-np.arange(100_000) / 20_000) + rng.random(100_000) * 0.1
    for i, loss in enumerate(losses, start=1):
        h.append(stats(i, float(loss), accuracy=min(1.0, i / 100_000)))
    assert len(h) <= h.capacity
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(h)
    x, y = data(panel.loss_curve)
    assert x[-1] == 100_000 and len(y) == len(h)
    assert not panel.grab().isNull()


def test_no_title_row_until_training_diverges(panel):
    panel.show()
    assert not panel.plot.titleLabel.isVisible()  # the dock already says "Loss & accuracy"
    h = MetricHistory()
    h.append(stats(1, math.nan))
    panel.show(h)
    assert panel.plot.titleLabel.isVisible()


def test_the_legend_reflows_instead_of_clipping(panel):
    panel.show()
    panel.resize(1200, 450)
    assert panel.legend.columnCount == 4
    panel.resize(420, 450)
    assert panel.legend.columnCount == 2  # two entries a line, balanced
    assert panel.legend.boundingRect().width() <= 420


def test_held_out_dots_are_reset_only_when_an_evaluation_arrives(panel, monkeypatch):
    h = MetricHistory()
    h.append(stats(1, 2.0))
    h.add_eval(1, 0.25)
    panel.show(h)
    calls = []
    original_set = panel.eval_curve.setData
    monkeypatch.setattr(panel.eval_curve, "setData", lambda *a, **k: (calls.append(a), original_set(*a, **k)))
    h.append(stats(2, 1.5))
    panel.show(h)
    assert calls == []  # a new iteration, no new evaluation
    np.testing.assert_array_equal(data(panel.loss_curve)[1], [2.0, 1.5])
    h.add_eval(2, 0.5)
    panel.show(h)
    assert len(calls) == 1
    np.testing.assert_array_equal(data(panel.eval_curve)[1], [25.0, 50.0])
