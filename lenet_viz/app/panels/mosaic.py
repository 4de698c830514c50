"""Qt-free helpers shared by the image panels: tiling many small maps into one mosaic, and levels.

One mosaic ImageItem per layer is ~6x faster than one item per map (DESIGN.md), so panels tile
(n, h, w) stacks into a single row-major 2-D float32 image.  Cells sit in a grid read left to
right, top to bottom; `sep` pixels of NaN separate them, which pyqtgraph draws transparent, so
the view's background shows as thin grid lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

@dataclass(frozen=True)
class Grid:
    """Where map k of an (n, h, w) stack sits in the mosaic: row k // cols, column k % cols."""

    n: int
    h: int
    w: int
    cols: int
    sep: int = 1

    @property
    def rows(self) -> int:
        return math.ceil(self.n / self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the mosaic in pixels."""
        return (self.rows * (self.h + self.sep) - self.sep, self.cols * (self.w + self.sep) - self.sep)

    def origin(self, k: int) -> tuple[int, int]:
        """(top row, left column) of cell k in mosaic pixels."""
        if not 0 <= k < self.n:
            raise IndexError(f"cell {k} outside 0..{self.n - 1}")
        r, c = divmod(k, self.cols)
        return r * (self.h + self.sep), c * (self.w + self.sep)

    def rect(self, k: int) -> tuple[float, float, float, float]:
        """(x, y, width, height) of cell k in image coordinates (x = column, y = row)."""
        top, left = self.origin(k)
        return float(left), float(top), float(self.w), float(self.h)

    def cell(self, mosaic: np.ndarray, k: int) -> np.ndarray:
        """The (h, w) view of cell k inside a mosaic built with this grid."""
        top, left = self.origin(k)
        return mosaic[top : top + self.h, left : left + self.w]

    def locate(self, x: float, y: float) -> tuple[int, int, int] | None:
        """(map index, row, col) under image point (x, y); None on a separator, outside, or an empty cell."""
        if x < 0 or y < 0 or not (math.isfinite(x) and math.isfinite(y)):
            return None
        c, col = divmod(int(x), self.w + self.sep)
        r, row = divmod(int(y), self.h + self.sep)
        k = r * self.cols + c
        if c >= self.cols or col >= self.w or row >= self.h or k >= self.n:
            return None
        return k, row, col

    def tile(self, maps: np.ndarray) -> np.ndarray:
        """Tile an (n, h, w) stack (any shape with n*h*w values) into a C-contiguous float32 mosaic.

        Separators are NaN.  A fresh array each call: the mosaics are a few KB, and a reused buffer
        would silently change an image someone still holds.
        """
        maps = np.asarray(maps, dtype=np.float32).reshape(self.n, self.h, self.w)
        out = np.full(self.shape, np.nan, dtype=np.float32)
        for k in range(self.n):
            top, left = self.origin(k)
            out[top : top + self.h, left : left + self.w] = maps[k]
        return out


def square_grid(n: int, h: int, w: int, sep: int = 1) -> Grid:
    """The most nearly square grid for n maps (6 -> 2x3, 16 -> 4x4)."""
    rows = max(1, math.isqrt(n))
    while n % rows:
        rows -= 1
    return Grid(n, h, w, cols=n // rows, sep=sep)


def finite_range(data: np.ndarray) -> tuple[float, float] | None:
    """(min, max) over the finite values, or None when there are none."""
    a = np.asarray(data)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def robust_levels(data: np.ndarray) -> tuple[float, float]:
    """min..max of the finite values; (0, 1) when nothing is finite.

    A constant layer (a dead ReLU map is all zeros) gets (v, v + 1), so it shows as the darkest colour.
    """
    r = finite_range(data)
    if r is None:
        return 0.0, 1.0
    lo, hi = r
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def per_map(maps: np.ndarray) -> np.ndarray:
    """Each map of an (n, h, w) stack scaled to 0..1 between its own finite min and max (a flat map: 0;
    NaN stays NaN, drawn transparent)."""
    a = np.asarray(maps, dtype=np.float32)
    flat = a.reshape(a.shape[0], -1)
    finite = np.isfinite(flat)
    lo = np.where(finite, flat, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, flat, -np.inf).max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    with np.errstate(invalid="ignore"):
        out = np.clip((flat - lo) / span, 0.0, 1.0)
    out[~finite] = np.nan
    return out.reshape(a.shape)


def symmetric_levels(data: np.ndarray) -> tuple[float, float]:
    """(-m, +m), m = max |finite value|, so zero sits at a diverging colormap's neutral centre."""
    r = finite_range(data)
    m = 0.0 if r is None else max(abs(r[0]), abs(r[1]))
    if m < 1e-12:
        m = 1.0
    return -m, m


#: Steps of a steady colour scale: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten.
NICE_STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def steady_symmetric_levels(data: np.ndarray, shown: tuple[float, float] | None) -> tuple[float, float]:
    """(-m, +m) like `symmetric_levels`, m rounded up to a step of NICE_STEPS and kept while it still
    fits: it grows at once when a value passes it, and shrinks only when every value is under half of it.

    A colour bar's numbers are laid out anew whenever its levels change (about 1.5 ms a frame for the
    filter inspector's, redrawn every snapshot); weights move a little every iteration, so exact
    levels changed every frame.  The image and its bar use the same levels: the scale stays true."""
    need = symmetric_levels(data)[1]
    if shown is not None and shown[1] / 2 <= need <= shown[1]:
        return shown
    e = int(np.floor(np.log10(need)))
    scaled = (lambda step: step * 10.0**e) if e >= 0 else (lambda step: step / 10.0**-e)  # 6 / 10, not 6 * 0.1
    m = next(scaled(step) for step in NICE_STEPS if scaled(step) >= need * (1 - 1e-9))
    return -float(m), float(m)


def clamp_infinities(mosaic: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Clip +-Inf into `levels` in place.  NaN stays NaN: pyqtgraph draws it transparent, like the
    separators, so a diverged map reads as "no value" rather than as a made-up colour."""
    return np.clip(mosaic, levels[0], levels[1], out=mosaic)


def frame_key(snapshot) -> tuple:
    """Identifies what a snapshot shows, cheaply.

    (iteration, last_phase, probe_index) alone repeats after a reset or a checkpoint load with other
    weights, so the conv1 weights and the probe image (a few KB) are part of the key.
    """
    return (
        snapshot.iteration,
        snapshot.last_phase,
        snapshot.probe_index,
        snapshot.probe_image.tobytes(),
        snapshot.conv1_weight.tobytes(),
    )


class FrameGate:
    """Lets a panel skip a snapshot that shows what it already shows: the same object, or the same frame_key.

    `last` is the latest snapshot offered, kept so a panel can redraw it (e.g. on a mode change).
    """

    def __init__(self) -> None:
        self.last = None
        self._key: tuple | None = None

    def is_new(self, snapshot) -> bool:
        if snapshot is self.last:
            return False
        self.last = snapshot
        key = frame_key(snapshot)
        if key == self._key:
            return False
        self._key = key
        return True
