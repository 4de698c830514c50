"""GradientPanel plots each layer's combined gradient norm and update ratio, log-safe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_viz.app.panels.gradients import LAYER_COLORS, GradientPanel
from lenet_viz.model import LAYERS
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.history import MetricHistory
from lenet_viz.training.trainer import Trainer
from lenet_viz.training.types import StepStats

PARAMS = [f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")]


@pytest.fixture(scope="module")
def history() -> MetricHistory:
    trainer = Trainer(TrainConfig(dataset="random", eval_every=0, threads=1))
    for _ in range(30):
        trainer.step()
    return trainer.history


@pytest.fixture
def panel(make_panel) -> GradientPanel:
    return make_panel(GradientPanel, (700, 450))


def original(curve) -> tuple[np.ndarray, np.ndarray]:
    x, y = curve.getOriginalDataset()
    return (np.empty(0), np.empty(0)) if y is None else (x, y)


def test_one_curve_per_layer_in_the_shared_palette(panel):
    assert list(panel.grad_curves) == list(LAYERS) == list(panel.ratio_curves) == list(LAYER_COLORS)
    for layer, curve in panel.grad_curves.items():
        assert curve.opts["pen"].color().name() == LAYER_COLORS[layer]
        assert curve.name() == layer


def test_gradient_curves_combine_weight_and_bias(panel, history):
    panel.show(history)
    x = history.column("iteration")
    for layer in LAYERS:
        w, b = history.column(f"grad_norm/{layer}.weight"), history.column(f"grad_norm/{layer}.bias")
        gx, gy = original(panel.grad_curves[layer])
        np.testing.assert_array_equal(gx, x)
        np.testing.assert_allclose(gy, np.sqrt(w**2 + b**2), rtol=1e-12)
        assert np.all(gy > 0)


def test_ratio_curves_are_the_ratio_columns(panel, history):
    panel.show(history)
    for layer in LAYERS:
        rx, ry = original(panel.ratio_curves[layer])
        np.testing.assert_array_equal(rx, history.column("iteration"))
        np.testing.assert_array_equal(ry, history.column(f"update_ratio/{layer}"))


def synthetic(grads: list[float], ratios: list[float]) -> MetricHistory:
    """Weight grads and ratios as given (all layers alike), bias grads zero."""
    h = MetricHistory()
    for i, (g, r) in enumerate(zip(grads, ratios), start=1):
        h.append(StepStats(
            iteration=i, epoch=0, loss=1.0, accuracy=0.5,
            grad_norms={p: (g if p.endswith("weight") else 0.0) for p in PARAMS},
            weight_norms={p: 1.0 for p in PARAMS},
            update_ratios={layer: r for layer in LAYERS},
            lr=0.01, samples_seen=i,
        ))
    return h


def test_log_axes_drop_zero_and_nan(panel, qtbot):
    h = synthetic([0.5, 0.0, math.nan, 0.25, math.inf], [1e-3, 0.0, math.nan, 2e-3, -1.0])
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(h)
    gx, gy = original(panel.grad_curves["conv1"])
    np.testing.assert_array_equal(gx, [1, 4])
    np.testing.assert_array_equal(gy, [0.5, 0.25])
    rx, ry = original(panel.ratio_curves["fc3"])
    np.testing.assert_array_equal(rx, [1, 4])
    np.testing.assert_array_equal(ry, [1e-3, 2e-3])
    for plot in (panel.grad_plot, panel.ratio_plot):
        plot.vb.autoRange()
        assert all(math.isfinite(v) for r in plot.vb.viewRange() for v in r)
    assert not panel.grab().isNull()


def test_healthy_reference_line_sits_at_1e_minus_3(panel):
    assert panel.healthy_line.value() == pytest.approx(-3)  # log10 view coordinates
    # The tag moved from the line (where it covered curves and was clipped) into the legend row.
    assert panel.legend.getLabel(panel.healthy_sample).text == "0.001 healthy"


def test_healthy_line_stays_in_view_for_tiny_updates(panel, qtbot):
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(synthetic([0.1, 0.2, 0.1], [1e-7, 2e-7, 1e-7]))
    panel.ratio_plot.vb.autoRange()
    (_, _), (y0, y1) = panel.ratio_plot.vb.viewRange()
    assert y0 < -6.7 and y1 >= -3  # log10: both the 1e-7 updates and the 1e-3 reference


def test_log_axis_labels_decades_before_minor_ticks(panel):
    axis = panel.grad_plot.getAxis("left")
    lo, hi = math.log10(0.04), math.log10(0.9)  # about 1.4 decades: pyqtgraph alone labels every tick
    levels = axis.tickValues(lo, hi, 150)
    assert levels[0] == (1.0, [pytest.approx(-1.0)])
    assert len(levels[1][1]) > 5  # 0.05 ... 0.9: drawn, labelled only if there is room


def test_skips_unchanged_history_and_clears(panel, history, monkeypatch):
    panel.show(history)
    calls = []
    monkeypatch.setattr(panel.grad_curves["fc1"], "setData", lambda *a, **k: calls.append(a))
    panel.show(history)
    assert calls == []
    monkeypatch.undo()
    panel.clear()
    assert all(len(original(c)[1]) == 0 for c in (*panel.grad_curves.values(), *panel.ratio_curves.values()))
    panel.show(history)
    assert len(original(panel.grad_curves["fc1"])[1]) == len(history)


def test_axis_labels_are_plain_words(panel):
    """A rotated "‖∇‖" was unreadable at axis size, and some fonts lack the glyphs."""
    assert panel.grad_plot.getAxis("left").labelText == "gradient norm"
    assert panel.ratio_plot.getAxis("left").labelText == "update / weight"
