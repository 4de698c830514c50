"""The Qt-free tiling and level helpers behind every mosaic image."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lenet_viz.app.panels.mosaic import (
    Grid, clamp_infinities, frame_key, robust_levels, square_grid, steady_symmetric_levels, symmetric_levels,
)
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.trainer import Trainer


def stack(n: int, h: int, w: int) -> np.ndarray:
    return np.arange(n * h * w, dtype=np.float32).reshape(n, h, w)


def test_square_grid_picks_the_tutorial_layouts() -> None:
    assert (square_grid(6, 28, 28).rows, square_grid(6, 28, 28).cols) == (2, 3)
    assert (square_grid(16, 5, 5).rows, square_grid(16, 5, 5).cols) == (4, 4)
    assert square_grid(1, 32, 32).cols == 1


def test_tile_puts_map_k_at_row_k_div_cols_col_k_mod_cols() -> None:
    g = Grid(6, 28, 28, cols=3, sep=1)
    maps = stack(6, 28, 28)
    m = g.tile(maps)
    assert m.shape == g.shape == (2 * 28 + 1, 3 * 28 + 2)
    assert m.dtype == np.float32 and m.flags.c_contiguous
    assert g.origin(4) == (29, 29)  # second row, second column
    assert g.origin(2) == (0, 58)
    for k in range(6):
        np.testing.assert_array_equal(g.cell(m, k), maps[k])
    np.testing.assert_array_equal(m[29:, 29:57], maps[4])


def test_separators_are_nan_and_only_separators() -> None:
    g = Grid(16, 10, 10, cols=4, sep=1)
    m = g.tile(stack(16, 10, 10))
    assert np.isnan(m).sum() == m.size - 16 * 100
    assert np.isnan(m[10, :]).all() and np.isnan(m[:, 32]).all()  # row after the first cells, column after the third


def test_tile_accepts_the_conv1_weight_shape() -> None:
    g = Grid(6, 5, 5, cols=3)
    w = np.random.default_rng(0).normal(size=(6, 1, 5, 5)).astype(np.float32)
    m = g.tile(w)
    np.testing.assert_array_equal(g.cell(m, 3), w[3, 0])


def test_locate_inverts_tile() -> None:
    g = Grid(6, 5, 5, cols=3, sep=1)
    assert g.locate(0.2, 0.9) == (0, 0, 0)
    assert g.locate(4.99, 7.5) == (3, 1, 4)  # x = col, y = row; row 7 is row 1 of the second grid row
    assert g.locate(13.5, 10.1) == (5, 4, 1)
    assert g.locate(5.5, 2) is None  # vertical separator
    assert g.locate(3, 5.5) is None  # horizontal separator
    assert g.locate(-0.1, 1) is None and g.locate(17.2, 1) is None and g.locate(1, 11.5) is None
    assert g.locate(float("nan"), 1) is None
    with pytest.raises(IndexError):
        g.origin(6)


def test_rect_is_x_y_width_height() -> None:
    assert Grid(6, 28, 28, cols=3).rect(4) == (29.0, 29.0, 28.0, 28.0)


def test_robust_levels_survive_nan_inf_and_constant_maps() -> None:
    a = np.array([[np.nan, np.inf], [-np.inf, 2.0], [3.0, -1.0]], dtype=np.float32)
    assert robust_levels(a) == (-1.0, 3.0)
    assert robust_levels(np.zeros((6, 28, 28))) == (0.0, 1.0)  # a dead ReLU layer
    lo, hi = robust_levels(np.full(4, 5.0))
    assert lo == 5.0 and hi > lo
    assert robust_levels(np.full(3, np.nan)) == (0.0, 1.0)
    assert robust_levels(np.array([np.inf, -np.inf])) == (0.0, 1.0)


def test_symmetric_levels() -> None:
    assert symmetric_levels(np.array([-0.2, 0.5, np.nan, np.inf])) == (-0.5, 0.5)
    assert symmetric_levels(np.array([-0.7, 0.1])) == pytest.approx((-0.7, 0.7))
    assert symmetric_levels(np.zeros(5)) == (-1.0, 1.0)  # epsilon guard: never (0, 0)


def test_steady_symmetric_levels_round_up_and_keep_while_they_fit() -> None:
    assert steady_symmetric_levels(np.array([-0.43, 0.2]), None) == (-0.5, 0.5)
    assert steady_symmetric_levels(np.array([0.0012]), None) == pytest.approx((-0.00125, 0.00125))
    assert steady_symmetric_levels(np.array([-0.5]), None) == (-0.5, 0.5)  # a step itself: no rounding
    assert steady_symmetric_levels(np.array([0.3]), (-0.5, 0.5)) == (-0.5, 0.5)  # still over half: kept
    assert steady_symmetric_levels(np.array([0.51]), (-0.5, 0.5)) == (-0.6, 0.6)  # past it: grows at once
    assert steady_symmetric_levels(np.array([0.2]), (-0.5, 0.5)) == (-0.2, 0.2)  # under half: shrinks
    assert steady_symmetric_levels(np.array([np.nan, np.inf]), None) == (-1.0, 1.0)


def test_clamp_infinities_keeps_nan() -> None:
    m = np.array([np.nan, np.inf, -np.inf, 0.5], dtype=np.float32)
    out = clamp_infinities(m, (0.0, 2.0))
    assert out is m
    assert np.isnan(m[0]) and m[1:].tolist() == [2.0, 0.0, 0.5]


def test_frame_key_tells_a_reset_with_other_weights_apart() -> None:
    t = Trainer(TrainConfig(dataset="random"))
    s = t.snapshot()
    assert frame_key(s) == frame_key(t.snapshot())
    other = dataclasses.replace(s, conv1_weight=s.conv1_weight + 1)  # same iteration/phase/probe, other weights
    assert frame_key(other) != frame_key(s)
    t.step_phase()
    assert frame_key(t.snapshot()) != frame_key(s)
