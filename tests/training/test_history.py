"""The metric history stays bounded and honest however long training runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_viz.training import MetricHistory, StepStats


def stats(i: int, loss: float | None = None) -> StepStats:
    return StepStats(
        iteration=i, epoch=0, loss=float(i) if loss is None else loss, accuracy=0.5,
        grad_norms={"conv1.weight": 2.0 * i}, weight_norms={"conv1.weight": 1.0},
        update_ratios={"conv1": 1e-3}, lr=0.01, samples_seen=64 * i,
    )


def test_columns_follow_the_stats():
    h = MetricHistory(capacity=8)
    for i in range(1, 4):
        h.append(stats(i))
    assert len(h) == 3
    np.testing.assert_array_equal(h.column("iteration"), [1, 2, 3])
    np.testing.assert_array_equal(h.column("grad_norm/conv1.weight"), [2, 4, 6])
    assert h.has("update_ratio/conv1") and not h.has("update_ratio/fc9")
    assert not h.column("loss").flags.writeable


def test_decimation_keeps_memory_bounded_and_means_exact():
    h = MetricHistory(capacity=8)
    for i in range(1, 1001):
        h.append(stats(i))
    assert len(h) <= 8 and h.stride >= 128
    it, loss = h.column("iteration"), h.column("loss")
    assert np.all(np.diff(it) > 0) and it[-1] <= 1000
    # every point is the mean of the `stride` consecutive iterations ending at its iteration
    np.testing.assert_allclose(loss, it - (h.stride - 1) / 2)


def test_smoothed_loss_ignores_nan():
    h = MetricHistory(capacity=8)
    h.append(stats(1, loss=1.0))
    h.append(stats(2, loss=math.nan))
    h.append(stats(3, loss=1.0))
    assert np.isnan(h.column("loss")[1])
    np.testing.assert_array_equal(h.column("loss_smooth"), [1.0, 1.0, 1.0])


def test_state_round_trip_and_copy():
    h = MetricHistory(capacity=8)
    for i in range(1, 20):
        h.append(stats(i))
    h.add_eval(10, 0.9)
    c = h.copy()
    for name in h.columns:
        np.testing.assert_array_equal(c.column(name), h.column(name))
    assert c.stride == h.stride and list(c.evals) == [(10, 0.9)]
    h.append(stats(20))
    c.append(stats(20))
    np.testing.assert_array_equal(c.column("loss"), h.column("loss"))


def test_clear_and_odd_capacity():
    h = MetricHistory(capacity=4)
    h.append(stats(1))
    v = h.version
    h.clear()
    assert len(h) == 0 and h.version > v and h.column("loss").size == 0
    with pytest.raises(ValueError):
        MetricHistory(capacity=5)
