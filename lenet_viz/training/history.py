"""Bounded per-iteration metric history, decimated so memory and plotting cost stay flat.

Up to `capacity` points are kept at full resolution.  When full, neighbouring pairs are
averaged into one point and the stride doubles, so 10^6 iterations still fit in
`capacity` rows and a plot of them costs the same as a plot of the first few thousand.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .types import StepStats

#: Exponential smoothing of the loss curve (a ~50-iteration window).
SMOOTHING = 0.98


def stats_columns(stats: StepStats) -> list[str]:
    """Column names of a history fed with stats shaped like `stats`."""
    return (
        ["iteration", "loss", "loss_smooth", "accuracy", "samples_seen", "lr"]
        + [f"grad/{k}" for k in stats.grad_norms]
        + [f"weight/{k}" for k in stats.weight_norms]
        + [f"ratio/{k}" for k in stats.update_ratios]
    )


class MetricHistory:
    """Per-iteration scalars as columns; `column(name)` returns a read-only view."""

    def __init__(self, capacity: int = 16384, eval_capacity: int = 4096) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.columns: list[str] = []
        self._data = np.empty((0, 0))
        self._n = 0
        self.stride = 1
        self._pending = np.empty(0)
        self._pending_count = 0
        self._ema: float | None = None
        self.evals: deque[tuple[int, float]] = deque(maxlen=eval_capacity)
        self.version = 0  # bumps on every change, so views redraw only when needed

    def __len__(self) -> int:
        return self._n

    def append(self, stats: StepStats) -> None:
        if not self.columns:
            self.columns = stats_columns(stats)
            self._index = {c: i for i, c in enumerate(self.columns)}
            self._data = np.full((self.capacity, len(self.columns)), np.nan)
            self._pending = np.zeros(len(self.columns))
        loss = stats.loss
        if math.isfinite(loss):
            self._ema = loss if self._ema is None else SMOOTHING * self._ema + (1 - SMOOTHING) * loss
        row = np.fromiter(
            (
                stats.iteration, loss, self._ema if self._ema is not None else math.nan,
                stats.accuracy, stats.samples_seen, stats.lr,
                *stats.grad_norms.values(), *stats.weight_norms.values(), *stats.update_ratios.values(),
            ),
            dtype=np.float64,
            count=len(self.columns),
        )
        self._push(row)

    def extend(self, many: list[StepStats]) -> None:
        for s in many:
            self.append(s)

    def add_eval(self, iteration: int, accuracy: float) -> None:
        self.evals.append((int(iteration), float(accuracy)))
        self.version += 1

    def column(self, name: str) -> np.ndarray:
        if not self.columns:
            return np.empty(0)
        view = self._data[: self._n, self._index[name]]
        view.flags.writeable = False
        return view

    def has(self, name: str) -> bool:
        return name in self.columns

    def eval_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.evals:
            return np.empty(0), np.empty(0)
        a = np.asarray(self.evals, dtype=np.float64)
        return a[:, 0], a[:, 1]

    def clear(self) -> None:
        version = self.version
        self.__init__(self.capacity, self.evals.maxlen or 4096)  # type: ignore[misc]
        self.version = version + 1

    def _push(self, row: np.ndarray, weight: int = 1) -> None:
        # Raw rows wait in a bucket until `stride` of them can be averaged into one point,
        # so every stored point is the mean of `stride` consecutive iterations; the
        # iteration column keeps the bucket's last iteration.
        if self.stride == weight and self._pending_count == 0:
            self._write(row)
            return
        self._pending += row * weight
        self._pending_count += weight
        if self._pending_count == self.stride:
            point = self._pending / self.stride
            point[0] = row[0]
            self._pending[:] = 0
            self._pending_count = 0
            self._write(point)

    def _write(self, point: np.ndarray) -> None:
        if self._n == self.capacity:
            # Full: average neighbouring pairs, double the stride, and let the incoming
            # point (worth the old stride) wait for its partner.
            half = self.capacity // 2
            merged = (self._data[0::2] + self._data[1::2]) / 2
            merged[:, 0] = self._data[1::2, 0]
            self._data[:half] = merged
            self._data[half:] = np.nan
            self._n = half
            self.stride *= 2
            self.version += 1
            self._push(point, weight=self.stride // 2)
            return
        self._data[self._n] = point
        self._n += 1
        self.version += 1

    # -- checkpoints: plain types only (loadable with torch.load(weights_only=True)) --
    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "columns": list(self.columns),
            "data": self._data[: self._n].tolist(),
            "stride": self.stride,
            "pending": self._pending.tolist(),
            "pending_count": self._pending_count,
            "ema": self._ema,
            "evals": [list(e) for e in self.evals],
        }

    def load_state_dict(self, state: dict) -> None:
        version = self.version
        self.__init__(int(state["capacity"]))  # type: ignore[misc]
        self.version = version
        cols = list(state["columns"])
        if cols:
            self.columns = cols
            self._index = {c: i for i, c in enumerate(cols)}
            self._data = np.full((self.capacity, len(cols)), np.nan)
            rows = np.asarray(state["data"], dtype=np.float64).reshape(-1, len(cols))
            self._data[: len(rows)] = rows
            self._n = len(rows)
            self._pending = np.asarray(state["pending"], dtype=np.float64)
        self.stride = int(state["stride"])
        self._pending_count = int(state["pending_count"])
        self._ema = state["ema"]
        self.evals.extend((int(i), float(a)) for i, a in state["evals"])
        self.version += 1

    def copy(self) -> "MetricHistory":
        other = MetricHistory(self.capacity)
        other.load_state_dict(self.state_dict())
        return other
