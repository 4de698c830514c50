"""Bounded per-iteration metric history, decimated so memory and plotting cost stay flat.

Up to `capacity` points are kept at full resolution.  When full, neighbouring pairs are
averaged into one point and the stride doubles, so 10^6 iterations still fit in
`capacity` rows and a plot of them costs the same as a plot of the first few thousand.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .types import StepStats, metric_columns

#: Exponential smoothing of the loss curve (a ~50-iteration window).
SMOOTHING = 0.98
#: Largest capacity and column count a loaded history may declare (LeNet's: 16384 x 31, 4 MB).
MAX_CAPACITY, MAX_COLUMNS = 1 << 16, 256
EVAL_CAPACITY = 4096
STATE_KEYS = frozenset({"capacity", "columns", "data", "stride", "pending", "pending_count", "ema", "evals"})
#: Columns that are finite in every honest history (loss, gradients and ratios turn NaN when training diverges).
_FINITE = ("iteration", "accuracy", "samples_seen", "lr", "weight_norm/")
#: Column prefixes of histories saved before the names were shared with the CSV (read, then renamed).
_LEGACY = {"grad/": "grad_norm/", "weight/": "weight_norm/", "ratio/": "update_ratio/"}


def columns_for(params: Iterable[str], layers: Iterable[str]) -> list[str]:
    """Column names of a history of a model with these parameter and layer names."""
    params = list(params)
    return (
        ["iteration", "loss", "loss_smooth", "accuracy", "samples_seen", "lr"]
        + metric_columns(params, params, layers)
    )


def stats_columns(stats: StepStats) -> list[str]:
    """Column names of a history fed with stats shaped like `stats`."""
    return columns_for(stats.grad_norms, stats.update_ratios)


class MetricHistory:
    """Per-iteration scalars as columns; `column(name)` returns a read-only view."""

    def __init__(self, capacity: int = 16384, eval_capacity: int = EVAL_CAPACITY) -> None:
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

    def load_state_dict(self, state: dict, *, columns: Sequence[str] | None = None) -> None:
        """Adopt a state from `state_dict`, all of it checked first (it may come from someone else's file).

        `columns`, when given, are the exact columns the state must have (or none, before the
        first iteration).  ValueError says what is wrong; on error this history is unchanged.
        """
        if isinstance(state, dict) and isinstance(state.get("columns"), list):
            state = {**state, "columns": [_renamed(c) for c in state["columns"]]}
        checked = check_state(state, columns)
        version = self.version
        self.__init__(checked["capacity"])  # type: ignore[misc]
        self.version = version
        cols = checked["columns"]
        if cols:
            self.columns = cols
            self._index = {c: i for i, c in enumerate(cols)}
            self._data = np.full((self.capacity, len(cols)), np.nan)
            rows = checked["data"]
            self._data[: len(rows)] = rows
            self._n = len(rows)
            self._pending = checked["pending"]
        self.stride = checked["stride"]
        self._pending_count = checked["pending_count"]
        self._ema = checked["ema"]
        self.evals.extend(checked["evals"])
        self.version += 1

    def truncated(self, iteration: int) -> "MetricHistory":
        """A copy holding only the points up to `iteration` (a run rewound there goes on from it)."""
        other = self.copy()
        if other.columns:
            keep = int(np.searchsorted(other._data[: other._n, 0], iteration, side="right"))
            other._data[keep:] = np.nan
            other._n = keep
            other._pending[:] = 0
            other._pending_count = 0
            other._ema = float(other._data[keep - 1, 2]) if keep else None  # the smoothed loss goes on from there
        while other.evals and other.evals[-1][0] > iteration:
            other.evals.pop()
        other.version += 1
        return other

    def copy(self) -> "MetricHistory":
        """An independent copy (our own data: no need to validate it again)."""
        other = copy.copy(self)
        other._data, other._pending = self._data.copy(), self._pending.copy()
        other.columns, other.evals = list(self.columns), deque(self.evals, maxlen=self.evals.maxlen)
        if self.columns:
            other._index = dict(self._index)
        return other


def _renamed(column: Any) -> Any:
    for old, new in _LEGACY.items():
        if isinstance(column, str) and column.startswith(old):
            return new + column[len(old):]
    return column


def check_state(state: Any, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """A history state, validated and converted (arrays, ints, floats); ValueError naming what is wrong.

    Bounds come first, so a hostile state costs no more memory than an honest full history.
    """
    if not isinstance(state, dict) or set(state) != STATE_KEYS:
        keys = sorted(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"expected the keys {sorted(STATE_KEYS)}, found {keys}")
    capacity = _whole(state["capacity"], "capacity", 2, MAX_CAPACITY)
    if capacity % 2:
        raise ValueError(f"capacity must be even, not {capacity}")
    cols = state["columns"]
    if not (isinstance(cols, list) and len(cols) <= MAX_COLUMNS and all(isinstance(c, str) for c in cols)
            and len(set(cols)) == len(cols)):
        raise ValueError(f"its columns must be at most {MAX_COLUMNS} distinct names")
    if cols and columns is not None and cols != list(columns):
        raise ValueError(f"its columns {_clip(cols)} are not the expected {_clip(list(columns))}")
    stride = _whole(state["stride"], "stride", 1, 1 << 40)
    if stride & (stride - 1):
        raise ValueError(f"stride must be a power of two, not {stride}")
    pending_count = _whole(state["pending_count"], "pending_count", 0, stride - 1)
    data, pending = state["data"], state["pending"]
    if not isinstance(data, list) or len(data) > capacity or (data and not cols):
        raise ValueError(f"its data must be a list of at most {capacity} rows of its {len(cols)} columns")
    rows = _numbers(data, "data", (len(data), len(cols)))
    pending_arr = _numbers(pending, "pending", (len(cols),))
    finite = [i for i, c in enumerate(cols) if c.startswith(_FINITE)]
    if not np.isfinite(rows[:, finite]).all():
        raise ValueError("its iteration, accuracy, samples_seen, lr and weight columns must be finite")
    if len(rows) and (rows[0, 0] < 0 or (np.diff(rows[:, 0]) <= 0).any()):
        raise ValueError("its iterations must be >= 0 and increasing")
    ema = state["ema"]
    if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (int, float)) or not math.isfinite(ema)):
        raise ValueError(f"its smoothed loss must be a finite number or None, not {ema!r}")
    evals = state["evals"]
    if not isinstance(evals, list) or len(evals) > EVAL_CAPACITY:
        raise ValueError(f"its evaluations must be a list of at most {EVAL_CAPACITY} pairs")
    pairs = _numbers(evals, "evals", (len(evals), 2))
    if not (np.isfinite(pairs).all() and (pairs[:, 0] >= 0).all() and ((0 <= pairs[:, 1]) & (pairs[:, 1] <= 1)).all()):
        raise ValueError("its evaluations must be (iteration >= 0, accuracy in [0, 1]) pairs")
    return {
        "capacity": capacity, "columns": list(cols), "data": rows, "stride": stride, "pending": pending_arr,
        "pending_count": pending_count, "ema": None if ema is None else float(ema),
        "evals": [(int(i), float(a)) for i, a in pairs],
    }


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _numbers(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """`value` (a list, or a list of lists) as float64 of exactly `shape`; no text, booleans or ragged rows."""
    try:
        array = np.array(value) if isinstance(value, list) else None
    except (ValueError, TypeError):  # ragged
        array = None
    if array is None or (array.size and array.dtype.kind not in "fiu"):
        raise ValueError(f"its {name} must be a list of numbers shaped {shape}")
    if array.size == 0 == math.prod(shape):
        return np.empty(shape)
    if array.shape != shape:
        raise ValueError(f"its {name} must be numbers shaped {shape}, not {array.shape}")
    return array.astype(np.float64)


def _clip(names: list[str]) -> str:
    return str(names) if len(names) <= 8 else f"[{', '.join(names[:6])}, ... {len(names)} in all]"
