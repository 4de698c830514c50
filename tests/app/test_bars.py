"""The bar charts of the feature maps: what is drawn, per colour, frame after frame."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_viz.app.panels.bars import Bars


def drawn(item) -> dict[int, float]:  # noqa: ANN001 - a QGraphicsPathItem
    """{bar index: height} of the closed rectangles a path item draws (bars are 0.8 wide at x = k)."""
    bars = {}
    for polygon in item.path().toSubpathPolygons():
        xs = [p.x() for p in polygon]
        ys = [p.y() for p in polygon]
        assert max(xs) - min(xs) == pytest.approx(0.8)
        assert min(ys) == 0.0
        bars[round((min(xs) + max(xs)) / 2)] = max(ys)
    return bars


def by_colour(bars: Bars) -> dict[str, dict[int, float]]:
    return {bars._brush: drawn(bars), **{colour: drawn(item) for colour, item in bars._others.items()}}


def test_one_colour_bars_follow_their_heights_every_frame(qtbot) -> None:
    bars = Bars(120, "#3cb44b")
    rng = np.random.default_rng(0)
    for _ in range(3):  # the outline is reused: each frame must still draw its own heights
        heights = rng.random(120).astype(np.float32) + 0.01
        bars.setOpts(height=heights)
        shown = drawn(bars)
        assert sorted(shown) == list(range(120))
        np.testing.assert_allclose([shown[k] for k in range(120)], heights, rtol=1e-6)


def test_a_bar_that_changes_colour_moves_to_that_colour_only(qtbot) -> None:
    bars = Bars(10, "#888888")
    heights = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    first = ["#888888"] * 10
    first[3] = "#00ff00"  # the prediction
    bars.setOpts(height=heights, brushes=first)
    shown = by_colour(bars)
    assert sorted(shown["#00ff00"]) == [3]
    assert sorted(shown["#888888"]) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    moved = ["#888888"] * 10
    moved[6] = "#00ff00"  # the same colours, another bar: the next probe's prediction
    bars.setOpts(brushes=moved)
    shown = by_colour(bars)
    assert shown["#00ff00"] == pytest.approx({6: float(heights[6])})
    assert sorted(shown["#888888"]) == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    second = ["#888888"] * 10
    second[5], second[7] = "#ff0000", "#ffff00"  # a wrong prediction, and the label
    bars.setOpts(height=heights[::-1].copy(), brushes=second)
    shown = by_colour(bars)
    assert shown["#00ff00"] == {}  # a colour no longer used draws nothing
    assert shown["#ff0000"] == pytest.approx({5: float(heights[::-1][5])})
    assert shown["#ffff00"] == pytest.approx({7: float(heights[::-1][7])})
    assert sorted(shown["#888888"]) == [0, 1, 2, 3, 4, 6, 8, 9]
    bars.setOpts(height=heights, brushes=first)  # back: the bars follow the new heights, not the old frame's
    shown = by_colour(bars)
    assert shown["#00ff00"] == pytest.approx({3: float(heights[3])})
    assert shown["#ff0000"] == {} and shown["#ffff00"] == {}
