"""FormulaPanel draws Trainer.explain_conv1_grad: the window, the upstream map, their product, the sums."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lenet_viz.app.panels.formula import EQUATION_PT, HINT, FormulaPanel
from lenet_viz.data import load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer


@pytest.fixture(scope="module")
def explanation():
    t = Trainer(TrainConfig(dataset="digits", eval_every=0, threads=1), dataset=load_dataset("digits"))
    while t.step_phase() is not Phase.BACKWARD:
        pass
    return t.explain_conv1_grad(2, 1, 3)


@pytest.fixture
def panel(make_panel) -> FormulaPanel:
    return make_panel(FormulaPanel, (1100, 480))


def test_maps_and_numbers_of_the_explanation(panel, explanation):
    e = explanation
    panel.show(e)
    np.testing.assert_array_equal(panel.input_map.item.image, e.image)
    np.testing.assert_array_equal(panel.upstream_map.item.image, e.upstream)
    np.testing.assert_array_equal(panel.product_map.item.image, e.product)
    np.testing.assert_array_equal(panel.batch_map.item.image, e.batch_product)
    assert panel.window.isVisible() and panel.window.rect().getRect() == (3, 1, 28, 28)  # x = col, y = row
    lo, hi = panel.upstream_map.item.getLevels()
    assert lo == -hi and hi == pytest.approx(np.abs(e.upstream).max())  # zero is white
    text = panel.equation.text()
    assert f"conv1.weight.grad[2,0,1,3] = <b>{e.weight_grad:.6g}</b>" in text
    assert f"= <b>{e.total:.6g}</b>" in text
    assert f"conv1.bias.grad[2] = <b>{e.bias_grad:.6g}</b>" in text
    assert text.count("✓ equal") == 2 and "✗" not in text
    assert f"{e.per_image[0]:.6g}" in text and "(63 more)" in text
    assert panel.batch_map.title.text == "product, Σ over 64 images"
    assert panel.cell == (2, 1, 3)


def test_a_gradient_that_accumulated_is_called_out(panel, explanation):
    doubled = dataclasses.replace(explanation, weight_grad=2 * explanation.weight_grad)
    panel.show(doubled)
    text = panel.equation.text()
    assert "✗ differs by" in text and text.count("✓ equal") == 1
    assert "skip_zero_grad" in text


def test_hint_and_messages_clear_the_maps(panel, explanation):
    panel.show(explanation)
    panel.show(None)
    assert panel.equation.text() == HINT
    assert panel.product_map.item.image is None and not panel.window.isVisible()
    panel.show_message("conv1.weight.grad is None: run BACKWARD first, then click a gradient cell")
    assert panel.equation.text().startswith("conv1.weight.grad is None")


def test_picking_a_cell_by_hand_asks_for_it_selecting_does_not(qtbot, panel):
    with qtbot.assertNotEmitted(panel.cell_requested):
        panel.select(4, 2, 0)
    assert panel.cell == (4, 2, 0)
    with qtbot.waitSignal(panel.cell_requested, timeout=1000) as blocker:
        panel.spins[2].setValue(3)
    assert blocker.args == [4, 2, 3]


def test_the_equation_stays_large_under_the_apps_11pt_stylesheet(qtbot, styled_parent, explanation):
    panel = FormulaPanel(styled_parent)
    styled_parent.show()
    qtbot.waitExposed(styled_parent)
    panel.show(explanation)
    panel.equation.ensurePolished()
    assert panel.equation.font().pointSize() == EQUATION_PT
