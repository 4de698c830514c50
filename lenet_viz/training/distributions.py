"""Histograms over time, bounded: what the distribution heatmaps draw (iteration x value, colour = count).

Torch-free: the engine fills one (Trainer.distributions), and the app's GUI process keeps its own
from the HistogramSample that rides on every sampled StepStats.

Memory is fixed: at most `capacity` columns per (kind, layer).  When full, neighbouring columns
are averaged pairwise and the stride doubles, as MetricHistory does for scalars, so 100k
iterations sampled every 50 fit in 512 columns (~1.8 MB for 15 heatmaps of 60 bins) and a
column is always the mean of `stride` consecutive samples.  Bin edges are fixed per run:
a sample with other edges (a reset re-bins) starts the history afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import HistogramSample

#: Kinds binned by log10 of the magnitude (training/histograms.py says why).
LOG_KINDS = ("grad", "activation")


@dataclass(frozen=True)
class Distribution:
    """One heatmap: copies, safe to keep and draw."""

    kind: str  # "weight", "grad" or "activation"
    layer: str
    iterations: np.ndarray  # (T,) int64, the last iteration of each column
    counts: np.ndarray  # (T, bins) float32, mean count per bin over the column's samples
    edges: np.ndarray  # (bins + 1,) in axis units (log10 |value| for LOG_KINDS)
    stride: int = 1  # histograms averaged into each column (1: every column is one iteration's)

    @property
    def log_magnitude(self) -> bool:
        return self.kind in LOG_KINDS

    def value_range(self, bin_index: int) -> tuple[float, float]:
        """The values a bin holds, in the kind's own units (|value| for log kinds)."""
        lo, hi = float(self.edges[bin_index]), float(self.edges[bin_index + 1])
        return (10.0**lo, 10.0**hi) if self.log_magnitude else (lo, hi)


class DistributionHistory:
    """Columns of histograms per (kind, layer), decimated to at most `capacity`."""

    def __init__(self, capacity: int = 512) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.keys: tuple[tuple[str, str], ...] = ()
        self.edges = np.empty((0, 0))
        self._counts = np.empty((0, 0, 0), dtype=np.float32)
        self._iterations = np.empty(0, dtype=np.int64)
        self._n = 0
        self.stride = 1
        self._sum = np.empty((0, 0))  # samples waiting to make up one column of `stride`
        self._waiting = 0
        self._last = 0
        self.version = 0  # bumps on every change, so views redraw only when needed

    def __len__(self) -> int:
        """Columns a distribution has now (the incomplete newest one included)."""
        return self._n + (self._waiting > 0)

    @property
    def nbytes(self) -> int:
        return self._counts.nbytes + self._iterations.nbytes + self._sum.nbytes + self.edges.nbytes

    def append(self, sample: HistogramSample) -> None:
        if sample.keys != self.keys or not np.array_equal(sample.edges, self.edges):
            self._start(sample)
        self._sum += sample.counts
        self._waiting += 1
        self._last = sample.iteration
        if self._waiting == self.stride:
            column = self._sum / self.stride
            self._sum[:] = 0
            self._waiting = 0
            self._write(column, self._last)
        self.version += 1

    def _start(self, sample: HistogramSample) -> None:
        version = self.version
        self.__init__(self.capacity)  # type: ignore[misc]
        self.version = version
        self.keys = sample.keys
        self.edges = np.array(sample.edges, dtype=np.float64)
        self._counts = np.zeros((self.capacity, *sample.counts.shape), dtype=np.float32)
        self._iterations = np.zeros(self.capacity, dtype=np.int64)
        self._sum = np.zeros(sample.counts.shape, dtype=np.float64)

    def _write(self, column: np.ndarray, iteration: int) -> None:
        if self._n == self.capacity:  # full: halve by averaging pairs; the new column waits for a partner
            half = self.capacity // 2
            self._counts[:half] = (self._counts[0::2] + self._counts[1::2]) / 2
            self._iterations[:half] = self._iterations[1::2]
            self._n = half
            self.stride *= 2
            self._sum = column * (self.stride // 2)
            self._waiting = self.stride // 2
            return
        self._counts[self._n] = column
        self._iterations[self._n] = iteration
        self._n += 1

    def distribution(self, kind: str, layer: str) -> Distribution:
        """The heatmap of one (kind, layer); empty arrays before the first sample."""
        if (kind, layer) not in self.keys:
            return Distribution(kind, layer, np.empty(0, np.int64), np.empty((0, 0), np.float32), np.empty(0))
        k = self.keys.index((kind, layer))
        counts, iterations = self._counts[: self._n, k], self._iterations[: self._n]
        if self._waiting:  # the newest samples, before they make a full column: shown at once
            counts = np.concatenate([counts, (self._sum[k] / self._waiting)[None].astype(np.float32)])
            iterations = np.append(iterations, self._last)
        return Distribution(kind, layer, iterations.copy(), counts.copy(), self.edges[k].copy(), self.stride)

    def clear(self) -> None:
        version = self.version
        self.__init__(self.capacity)  # type: ignore[misc]
        self.version = version + 1
