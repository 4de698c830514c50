"""HealthPanel: each flag with its explanation and what to try; dead ReLU bars per layer."""

from __future__ import annotations

import pytest
import torch

from lenet_viz.app.panels.health import ALL_CLEAR, HealthPanel
from lenet_viz.training import TrainConfig, Trainer
from lenet_viz.training.types import RELU_LAYERS


@pytest.fixture(scope="module")
def raw_pixels_stats():
    """Iteration 1 and 2 of a run fed raw 0-255 pixels: flagged at once."""
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(dataset="digits", eval_every=0, histogram_every=0, batch_size=32, bugs={"raw_pixels"}))
    return [trainer.step() for _ in range(2)]


def visible(panel, widget) -> bool:
    return widget.isVisibleTo(panel)


def test_flags_show_title_explanation_and_what_to_try(make_panel, raw_pixels_stats):
    panel = make_panel(HealthPanel, (420, 520))
    panel.show()
    stats = raw_pixels_stats[0]
    panel.show(stats)
    names = [f.name for f in stats.flags]
    assert "initial_loss" in names and "exploding_gradients" in names
    assert not visible(panel, panel.all_clear)
    shown = [label for label in panel.flag_labels if visible(panel, label)]
    assert len(shown) == len(stats.flags)
    for label, flag in zip(shown, stats.flags):
        text = label.text()
        assert flag.title in text and flag.explanation.replace("'", "&#x27;") in text
        assert "Try:" in text and flag.what_to_try.replace("'", "&#x27;") in text
        assert f"since iteration {flag.since}" in text
    for layer in RELU_LAYERS:
        bar = panel.dead_bars[layer]
        assert bar.format() == f"{stats.dead_relu[layer]:.0%} dead"
        assert bar.value() == round(stats.dead_relu[layer] * 1000)


def test_all_clear_when_no_flag_and_after_clear(make_panel, raw_pixels_stats):
    panel = make_panel(HealthPanel)
    panel.show()
    healthy = Trainer(TrainConfig(dataset="random", eval_every=0, histogram_every=0, batch_size=8)).step()
    assert healthy.flags == ()
    panel.show(healthy)
    assert visible(panel, panel.all_clear) and panel.all_clear.text() == ALL_CLEAR
    assert not any(visible(panel, label) for label in panel.flag_labels)
    panel.show(raw_pixels_stats[1])
    assert not visible(panel, panel.all_clear)
    panel.clear()
    assert visible(panel, panel.all_clear) and panel.dead_bars["fc1"].format() == "–"
