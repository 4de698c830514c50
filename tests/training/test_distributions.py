"""Histograms over time: fixed edges, end bins for outliers, bounded memory over 100k iterations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lenet_viz.training import TrainConfig, Trainer
from lenet_viz.training.distributions import DistributionHistory
from lenet_viz.training.histograms import BINS, LOG_RANGES, MAX_VALUES, WEIGHT_SPAN, bin_counts
from lenet_viz.training.types import LAYERS, HistogramSample


@pytest.fixture
def trainer() -> Trainer:
    torch.set_num_threads(1)
    return Trainer(TrainConfig(dataset="random", eval_every=0, histogram_every=5, batch_size=16))


def test_values_outside_the_edges_go_to_the_end_bins():
    values = torch.tensor([-5.0, 0.0, 0.05, 0.5, 0.99, 1.0, 7.0, float("nan"), float("inf"), float("-inf")])
    counts = bin_counts(values, 0.0, 1.0, bins=10)
    assert counts.tolist() == [5, 0, 0, 0, 0, 1, 0, 0, 0, 4]  # -5, 0, 0.05, nan, -inf | 0.5 | 0.99, 1, 7, inf


def test_samples_at_iteration_1_and_every_n(trainer):
    got = {}
    for _ in range(12):
        s = trainer.step()
        got[s.iteration] = s.histograms
    assert [i for i, h in got.items() if h is not None] == [1, 5, 10]
    sample = got[5]
    assert sample.iteration == 5 and len(sample.keys) == 15 and sample.counts.shape == (15, BINS)
    assert sample.edges.shape == (15, BINS + 1) and sample.counts.dtype == np.float32
    sums = dict(zip(sample.keys, sample.counts.sum(1)))
    numel = {layer: getattr(trainer.model, layer).weight.numel() for layer in LAYERS}
    for layer in LAYERS:
        assert sums[("weight", layer)] == sums[("grad", layer)] == min(numel[layer], MAX_VALUES)
    assert sums[("activation", "conv1")] == MAX_VALUES  # 16 x 6 x 28 x 28 values, sampled
    assert sums[("activation", "fc3")] == 16 * 10
    assert got[10].edges is got[5].edges  # fixed for the run


def test_weight_histogram_is_the_weights_on_edges_fixed_at_initialization(trainer):
    init_peak = float(trainer.model.conv1.weight.detach().abs().max())
    first = trainer.step().histograms
    edges = first.edges[0]
    assert edges[0] == pytest.approx(-WEIGHT_SPAN * init_peak) and edges[-1] == pytest.approx(WEIGHT_SPAN * init_peak)
    with torch.no_grad():
        trainer.model.conv1.weight.mul_(100)  # far beyond the edges: counted in the end bins
    for _ in range(4):
        s = trainer.step().histograms
    w = trainer.model.conv1.weight.detach().numpy().ravel()
    assert np.array_equal(s.edges, first.edges)
    expected, _ = np.histogram(np.clip(w, edges[0], edges[-1]), bins=edges)
    np.testing.assert_array_equal(s.counts[0], expected)
    assert s.counts[0, 0] + s.counts[0, -1] > 100


def test_gradient_and_activation_bins_are_log_magnitudes(trainer):
    s = trainer.step().histograms
    grad_row, act_row = s.keys.index(("grad", "fc3")), s.keys.index(("activation", "fc2"))
    assert s.edges[grad_row, 0] == LOG_RANGES["grad"][0] and s.edges[act_row, -1] == LOG_RANGES["activation"][1]
    g = trainer.model.fc3.weight.grad.abs().log10().clamp(*LOG_RANGES["grad"]).numpy().ravel()
    expected, _ = np.histogram(g, bins=s.edges[grad_row])
    np.testing.assert_array_equal(s.counts[grad_row], expected)


def test_reset_rebins_and_clears(trainer):
    for _ in range(5):
        trainer.step()
    assert len(trainer.distributions) == 2
    trainer.reset()
    assert len(trainer.distributions) == 0
    assert trainer.step().histograms is not None and len(trainer.distributions) == 1


def fake_sample(iteration: int, value: float, edges: np.ndarray) -> HistogramSample:
    keys = (("weight", "conv1"), ("grad", "conv1"))
    return HistogramSample(iteration, keys, np.full((2, 4), value, dtype=np.float32), edges)


def test_memory_stays_bounded_over_100k_iterations():
    edges = np.tile(np.linspace(0, 1, 5), (2, 1))
    history = DistributionHistory(capacity=64)
    history.append(fake_sample(50, 50.0, edges))
    size = history.nbytes
    for it in range(100, 100_001, 50):  # 2,000 samples, one every 50 iterations
        history.append(fake_sample(it, float(it), edges))
    assert history.nbytes == size
    d = history.distribution("grad", "conv1")
    assert len(d.iterations) <= 64 and d.counts.shape == (len(d.iterations), 4)
    assert d.iterations[-1] == 100_000 and np.all(np.diff(d.iterations) > 0)
    # every column is the mean of the `stride` samples it stands for
    stride = history.stride
    assert stride == 32 and d.iterations[0] == 50 * stride  # 2,000 samples / 32 = 62.5 columns
    assert d.counts[0, 0] == pytest.approx(np.mean(np.arange(1, stride + 1) * 50.0))


def test_a_distribution_is_a_copy_with_the_newest_samples_shown_at_once():
    edges = np.tile(np.linspace(-1, 1, 5), (2, 1))
    history = DistributionHistory(capacity=4)
    for it in range(1, 8):  # 4 columns fill, then merge: stride 2, the 7th sample waits for a partner
        history.append(fake_sample(it, float(it), edges))
    d = history.distribution("weight", "conv1")
    assert d.iterations.tolist() == [2, 4, 6, 7]
    assert d.counts[:, 0].tolist() == [1.5, 3.5, 5.5, 7.0]
    d.counts[:] = -1
    assert history.distribution("weight", "conv1").counts[0, 0] == 1.5
    assert d.value_range(0) == (-1.0, -0.5)
    grad = history.distribution("grad", "conv1")
    assert grad.value_range(3) == pytest.approx((10**0.5, 10.0))  # log kinds: |value| range
    history.append(fake_sample(8, 1.0, np.tile(np.linspace(0, 2, 5), (2, 1))))  # new edges: a new run
    assert history.distribution("weight", "conv1").iterations.tolist() == [8]
    assert history.distribution("activation", "fc1").counts.shape == (0, 0)


def test_stats_with_histograms_and_flags_cross_a_process_boundary(trainer):
    import pickle

    with torch.no_grad():
        trainer.model.fc1.bias.fill_(-1e3)  # every fc1 unit dead: a flag soon
    for _ in range(5):
        stats = trainer.step()
    assert stats.histograms is not None and stats.flags
    back = pickle.loads(pickle.dumps(stats))
    assert back.flags == stats.flags and back.dead_relu == stats.dead_relu == {**stats.dead_relu, "fc1": 1.0}
    np.testing.assert_array_equal(back.histograms.counts, stats.histograms.counts)
    assert back.histograms.keys == stats.histograms.keys
