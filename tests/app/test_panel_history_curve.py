"""HistoryCurve draws long histories cheaply without losing what a user would see: every run's
extremes, the first and last point, log-safe values, full-data autorange, detail when zoomed."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest

from lenet_viz.app.panels import history_curve as history_curve_module
from lenet_viz.app.panels import history_plot as history_plot_module
from lenet_viz.app.panels.history_curve import TAIL_MAX, HistoryCurve, history_curve
from lenet_viz.app.panels.history_plot import extent, peak_points, snapped_bounds

N = 20_000


@pytest.fixture
def plot(qtbot) -> pg.PlotWidget:
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def noisy(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(1, n + 1, dtype=float), rng.lognormal(-3, 0.5, n)


def runs(lo: int, hi: int, ds: int) -> list[tuple[int, int]]:
    starts = [lo] + list(range(lo - lo % ds + ds, hi, ds))
    return list(zip(starts, [*starts[1:], hi]))


@pytest.mark.parametrize("lo", [0, 37])
def test_peak_points_keep_each_runs_min_and_max_and_the_ends(lo):
    x, y = noisy(5000)
    px, py = peak_points(x, y, lo, len(x), 100)
    ds = (len(x) - lo) // 100
    expected = runs(lo, len(x), ds)
    assert len(px) == len(py) == 2 * len(expected)
    for k, (a, b) in enumerate(expected):
        assert (py[2 * k], py[2 * k + 1]) == (y[a:b].min(), y[a:b].max())
        assert (px[2 * k], px[2 * k + 1]) == (x[a], x[b - 1])
    assert (px[0], px[-1]) == (x[lo], x[-1])
    assert py.min() == y[lo:].min() and py.max() == y[lo:].max()


def test_peak_points_runs_stay_put_while_points_are_appended():
    x, y = noisy(5000)
    before = peak_points(x, y, 0, 4900, 100)
    after = peak_points(x, y, 0, 4990, 100)  # the same run length (49): only the last run may change
    assert len(after[1]) > len(before[1])
    np.testing.assert_array_equal(after[1][: len(before[1]) - 2], before[1][:-2])


def test_peak_points_leave_short_data_alone():
    x, y = noisy(150)
    px, py = peak_points(x, y, 10, 150, 100)
    np.testing.assert_array_equal(px, x[10:])
    np.testing.assert_array_equal(py, y[10:])


def test_snapped_bounds_widen_outwards_and_hold_while_data_creeps():
    lo, hi = snapped_bounds(3.0, 1000.0, 500, 8)
    assert lo <= 3.0 and hi >= 1000.0
    assert hi - 1000.0 < 2 * 8 * 1000 / 500 and lo > 3.0 - 2 * 8 * 1000 / 500  # at most 16 px wider a side
    assert snapped_bounds(3.0, 1003.0, 500, 8) == (lo, hi)  # 3 more iterations: same range
    assert snapped_bounds(None, None, 500, 8) == (None, None)
    assert snapped_bounds(2.0, 2.0, 500, 8) == (2.0, 2.0)


def test_extent_on_a_log_axis_ignores_what_it_cannot_place():
    assert extent(np.array([0.0, 0.01, 10.0, -1.0]), log=True) == pytest.approx((-2.0, 1.0))
    assert extent(np.array([0.0, -1.0]), log=True) == (None, None)
    assert extent(np.array([-1.0, 2.0])) == (-1.0, 2.0)


def test_long_curve_draws_about_two_points_a_pixel_with_every_extreme(plot):
    x, y = noisy()
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    ox, oy = curve.getOriginalDataset()
    assert np.shares_memory(ox, x) and np.shares_memory(oy, y)  # what was given, not a copy
    dx, dy = curve.getData()
    width = plot.getPlotItem().vb.width()
    assert len(dx) <= 3 * width < len(x)
    assert (dx[0], dx[-1]) == (x[0], x[-1])
    assert (dy.min(), dy.max()) == (y.min(), y.max())


def test_log_mode_maps_only_what_is_drawn(plot):
    x, y = noisy()
    y[[5, 500, 9000]] = 0.0  # the caller should have dropped these (finite_xy); still never drawn as -inf
    plot.getPlotItem().setLogMode(y=True)
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    dx, dy = curve.getData()
    assert np.isfinite(dx).all() and np.isfinite(dy).all()
    assert dy.max() == pytest.approx(np.log10(y.max()))
    assert dy.min() == pytest.approx(np.log10(y[y > 0].min()))
    short = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    short.setData(x[:50], y[10:60])
    np.testing.assert_allclose(short.getData()[1], np.log10(y[10:60]))


def test_appending_strokes_only_a_short_tail_after_an_unchanged_body(plot):
    x, y = noisy()
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x[:-30], y[:-30])
    body = curve.body.getData()
    for end in range(len(x) - 27, len(x) + 1, 3):  # ten frames of three new points
        curve.setData(x[:end], y[:end])
        bx, by = curve.body.getData()
        tx, ty = curve.tail.getData()
        assert len(tx) <= TAIL_MAX
        dx, dy = curve.getData()
        np.testing.assert_array_equal(np.r_[bx, tx[1:]], dx)  # body and tail share one point
        np.testing.assert_array_equal(np.r_[by, ty[1:]], dy)
    assert body[0] is bx and body[1] is by  # never re-set: its cached pixels stay valid


def test_a_changed_past_rebuilds_the_body(plot):
    x, y = noisy()
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    y2 = y.copy()
    y2[100] = 10.0  # e.g. the history merged old points
    curve.setData(x, y2)
    assert curve.body.getData()[1].max() == 10.0 == curve.getData()[1].max()


def test_zooming_in_draws_the_visible_part_in_detail_and_autorange_still_sees_everything(plot):
    x, y = noisy()
    item = plot.getPlotItem()
    curve = history_curve(item, pg.mkPen("w"))
    curve.setData(x, y)
    coarse = len(curve.getData()[0])
    item.vb.setXRange(1000, 1400, padding=0)  # disables x autorange, as a mouse zoom does
    dx, dy = curve.getData()
    assert dx[0] <= 1000 and dx[-1] >= 1400 and dx[-1] < 1500
    np.testing.assert_array_equal(dy[(dx >= 1000) & (dx <= 1400)], y[999:1400])  # 400 points: all drawn
    assert curve.dataBounds(0)[0] <= 1 and curve.dataBounds(0)[1] >= N
    item.vb.autoRange()
    (x0, x1), _ = item.vb.viewRange()
    assert x0 <= 1 and x1 >= N
    item.vb.enableAutoRange()
    plot.grab()  # autorange runs before a paint
    assert len(curve.getData()[0]) == coarse  # following the data again: the whole history, reduced


def test_autorange_is_told_only_when_the_bounds_change(plot, monkeypatch):
    x, y = noisy()
    vb = plot.getPlotItem().vb
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x[:-3], y[:-3])
    told = []
    monkeypatch.setattr(vb, "itemBoundsChanged", lambda item: told.append(item))
    curve.setData(x, y)  # three more points: still inside the snapped range
    assert told == []
    y2 = y.copy()
    y2[-1] = 100.0  # a new extreme
    curve.setData(x, y2)
    assert told == [curve]
    curve.hide()  # a legend click: the next update tells the view to leave this curve out
    curve.setData(x, y2)
    assert told == [curve, curve]


def test_new_pen_reaches_the_cached_body(plot):
    x, y = noisy()
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    curve.setPen(pg.mkPen("#ff0000", width=2))
    assert curve.body.opts["pen"].color().name() == "#ff0000" == curve.tail.opts["pen"].color().name()


def test_context_menu_transforms_fall_back_to_pyqtgraph(plot):
    x, y = noisy(2000)
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    curve.setDerivativeMode(True)
    curve.setData(x, y)
    dx, dy = curve.getData()
    assert len(dx) > 0 and curve.body.getData()[0] is not None and len(curve.body.getData()[0]) == 0
    np.testing.assert_allclose(dy[:5], np.diff(y)[:5])  # pyqtgraph's dy/dx, unreduced at this size


def test_empty_data_clears_everything(plot):
    x, y = noisy()
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    curve.setData([], [])
    assert curve.getData() == (None, None) and curve.getOriginalDataset() == (None, None)
    assert len(curve.body.getData()[0]) == 0


def test_a_curve_outside_a_view_still_works():
    curve = HistoryCurve(pg.mkPen("w"))
    x, y = noisy(5000)
    curve.setData(x, y)
    dx, dy = curve.getData()
    assert dy.max() == y.max() and dx[-1] == x[-1]


def test_a_transform_after_a_per_frame_update_sees_the_newest_data(plot):
    x, y = noisy(2000)
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"))
    curve.setData(x, y)
    y2 = y * 2  # a per-frame update, which pyqtgraph's own pipeline never saw
    curve.setData(x, y2)
    plot.getPlotItem().ctrl.derivativeCheck.setChecked(True)  # the context menu's Transforms > dy/dx
    np.testing.assert_allclose(curve.getData()[1][:5], np.diff(y2)[:5])
    assert np.shares_memory(curve.getOriginalDataset()[1], y2)
    plot.getPlotItem().ctrl.derivativeCheck.setChecked(False)  # back to plain lines: the strokes draw again
    dx, dy = curve.getData()
    assert (dx[-1], dy.max()) == (x[-1], y2.max()) and len(curve.body.getData()[0]) > 0
    assert not curve.curve.isVisible() and not curve.scatter.isVisible()


def test_symbols_are_drawn_by_pyqtgraph_with_every_point(plot):
    x, y = noisy(50)
    curve = history_curve(plot.getPlotItem(), pg.mkPen("w"), symbol="o", symbolBrush="y")
    curve.setData(x, y)
    _, sy = curve.scatter.getData()
    np.testing.assert_array_equal(sy, y)
    assert curve.scatter.isVisible() and curve.curve.isVisible()
    assert curve.tail.getData()[0] is None or len(curve.tail.getData()[0]) == 0  # nothing drawn twice
    curve.setSymbol(None)
    assert not curve.scatter.isVisible() and len(curve.tail.getData()[0]) == len(x)


def test_no_private_pyqtgraph_name_is_read_written_or_shadowed(qtbot):
    """A private attribute of pyqtgraph pins a version and breaks silently on upgrade; one of ours
    named like one of theirs would overwrite it.  Only `import pyqtgraph as pg`, no submodules."""
    classes = [c for c in vars(pg).values() if isinstance(c, type)]
    theirs = {n for c in classes for k in c.__mro__ if k.__module__.startswith("pyqtgraph") for n in vars(k)
              if n.startswith("_") and not n.startswith("__")}
    for item in (pg.PlotDataItem(), pg.PlotCurveItem(), pg.AxisItem("left")):  # and what they set on themselves
        theirs |= {n for n in vars(item) if n.startswith("_")}
    assert {"_dataset", "_getDisplayDataset"} <= theirs  # the scan sees pyqtgraph's privates
    for module in (history_curve_module, history_plot_module):
        tree = ast.parse(Path(module.__file__).read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not names & theirs, module.__name__
        imports = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imports += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imports if m and m.startswith("pyqtgraph.")], module.__name__
