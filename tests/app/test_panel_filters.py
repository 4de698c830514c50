"""FilterInspector against the live conv1 of a Trainer, phase by phase as the tutorial runs it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from lenet_viz.app.panels.filters import FILTERS, FilterInspector, format_number
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.trainer import Trainer
from lenet_viz.training.types import Phase


@pytest.fixture
def trainer() -> Trainer:
    return Trainer(TrainConfig(dataset="random", momentum=0.0, eval_every=0))


@pytest.fixture
def inspector(make_panel) -> FilterInspector:
    return make_panel(FilterInspector)


def run_until(trainer: Trainer, phase: Phase) -> None:
    while trainer.step_phase() is not phase:
        pass


def cells(image: np.ndarray) -> np.ndarray:
    return np.stack([FILTERS.cell(image, k) for k in range(FILTERS.n)])


def test_weights_mode_shows_the_actual_conv1_weights(inspector, trainer) -> None:
    trainer.step()
    inspector.show(trainer.snapshot())
    weights = trainer.model.conv1.weight.detach().numpy().squeeze(1)
    assert inspector.mode == "weights"
    np.testing.assert_array_equal(cells(inspector.image_item.image), weights)
    m = np.abs(weights).max()
    lo, hi = inspector.colorbar.levels()  # a steady scale: the next nice number up from max |w|
    assert tuple(inspector.image_item.getLevels()) == pytest.approx((lo, hi)) and lo == -hi
    assert m <= hi <= 1.25 * m
    shown = hi
    for _ in range(3):  # weights move a little every iteration: the scale (and its bar's numbers) stays
        trainer.step()
        inspector.show(trainer.snapshot())
        assert inspector.colorbar.levels()[1] == shown
    trainer.model.conv1.weight.data.mul_(3)  # a value past the scale: it grows at once
    inspector.show(trainer.snapshot())
    assert inspector.colorbar.levels()[1] >= 3 * m > shown


def test_gradient_is_none_after_zero_grad_and_the_real_grad_after_backward(inspector, trainer) -> None:
    inspector.set_mode("gradient")
    run_until(trainer, Phase.BACKWARD)
    inspector.show(trainer.snapshot())
    grad = trainer.model.conv1.weight.grad.numpy().squeeze(1)
    np.testing.assert_array_equal(cells(inspector.image_item.image), grad)
    assert not inspector.none_text.isVisible()
    m = np.abs(grad).max()
    lo, hi = inspector.image_item.getLevels()
    assert lo == -hi and m <= hi <= 1.25 * m and inspector.colorbar.levels() == pytest.approx((lo, hi))

    run_until(trainer, Phase.ZERO_GRAD)  # finish the iteration, then zero_grad(set_to_none=True)
    assert trainer.model.conv1.weight.grad is None
    inspector.show(trainer.snapshot())
    assert inspector.image_item.image is None  # no stale gradient under the message
    assert inspector.none_text.isVisible()
    assert inspector.none_text.toPlainText() == "conv1.weight.grad is None — run BACKWARD"
    assert inspector.value_at(0, 0, 0) is None


def test_last_update_is_after_minus_before_and_minus_lr_grad(inspector, trainer) -> None:
    inspector.set_mode("last update")
    inspector.show(trainer.snapshot())
    assert inspector.image_item.image is None and inspector.none_text.toPlainText() == "no update yet — run UPDATE"
    run_until(trainer, Phase.BACKWARD)
    before = trainer.model.conv1.weight.detach().clone().numpy().squeeze(1)
    grad = trainer.model.conv1.weight.grad.clone().numpy().squeeze(1)
    run_until(trainer, Phase.UPDATE)
    after = trainer.model.conv1.weight.detach().numpy().squeeze(1)
    inspector.show(trainer.snapshot())
    shown = cells(inspector.image_item.image)
    np.testing.assert_allclose(shown, after - before, atol=1e-7)
    np.testing.assert_allclose(shown, -trainer.config.lr * grad, atol=1e-7)  # plain SGD, momentum 0
    assert not inspector.none_text.isVisible()


def test_switching_mode_redraws_the_same_snapshot(inspector, trainer) -> None:
    run_until(trainer, Phase.BACKWARD)
    snap = trainer.snapshot()
    inspector.show(snap)
    np.testing.assert_array_equal(cells(inspector.image_item.image), snap.conv1_weight[:, 0])
    inspector.set_mode("gradient")
    np.testing.assert_array_equal(cells(inspector.image_item.image), snap.conv1_grad[:, 0])
    assert [b.isChecked() for b in inspector.mode_buttons.buttons()] == [False, True, False]
    np.testing.assert_array_equal(inspector.displayed_tensor(snap), snap.conv1_grad[:, 0])
    with pytest.raises(ValueError):
        inspector.set_mode("bias")


def test_mode_buttons_switch_the_mode(qtbot, inspector) -> None:
    button = next(b for b in inspector.mode_buttons.buttons() if b.text() == "last update")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert inspector.mode == "last update"


def test_bias_table_shows_none_before_backward_and_numbers_after(inspector, trainer) -> None:
    inspector.show(trainer.snapshot())
    table = inspector.bias_table
    assert [table.verticalHeaderItem(r).text() for r in range(2)] == ["bias", "bias.grad"]
    bias = trainer.model.conv1.bias.detach().numpy()
    assert [table.item(0, c).text() for c in range(6)] == [format_number(float(b)) for b in bias]
    assert [table.item(1, c).text() for c in range(6)] == ["None"] * 6
    run_until(trainer, Phase.BACKWARD)
    inspector.show(trainer.snapshot())
    bias_grad = trainer.model.conv1.bias.grad.numpy()
    texts = [table.item(1, c).text() for c in range(6)]
    assert texts == [format_number(float(g)) for g in bias_grad]
    np.testing.assert_allclose([float(t) for t in texts], bias_grad, rtol=1e-2, atol=1e-4)


def test_value_at_reads_the_shown_tensor(inspector, trainer) -> None:
    snap = trainer.snapshot()
    inspector.show(snap)
    assert inspector.value_at(3, 2, 4) == pytest.approx(float(snap.conv1_weight[3, 0, 2, 4]))
    assert inspector.value_at(6, 0, 0) is None and inspector.value_at(0, 5, 0) is None


def _scene_point(inspector: FilterInspector, k: int, row: int, col: int) -> QPointF:
    x, y, _, _ = FILTERS.rect(k)
    return inspector.mosaic.view.mapViewToScene(QPointF(x + col + 0.5, y + row + 0.5))


def test_hover_label_reads_the_value_under_the_mouse(qtbot, inspector, trainer) -> None:
    snap = trainer.snapshot()
    inspector.resize(900, 500)
    inspector.show()
    qtbot.waitExposed(inspector)
    inspector.show(snap)
    qtbot.mouseMove(inspector.graphics.viewport(), inspector.graphics.mapFromScene(_scene_point(inspector, 3, 2, 4)))
    qtbot.waitUntil(lambda: inspector.value_label.text().startswith("filter 3"), timeout=2000)
    expected = float(snap.conv1_weight[3, 0, 2, 4])
    assert inspector.value_label.text() == f"filter 3, row 2, col 4: weight = {expected:.6g}"


def test_clicking_filter_3_emits_3_and_frames_it(qtbot, inspector, trainer) -> None:
    inspector.resize(900, 500)
    inspector.show()
    qtbot.waitExposed(inspector)
    inspector.show(trainer.snapshot())
    pos = inspector.graphics.mapFromScene(_scene_point(inspector, 3, 2, 2))
    with qtbot.waitSignal(inspector.filter_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(inspector.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [3]
    assert inspector.selected == 3
    assert inspector.mosaic.frame.isVisible()
    x, y, w, h = FILTERS.rect(3)
    assert inspector.mosaic.frame.rect().getRect() == (x, y, w, h)


def test_a_click_on_a_gradient_tap_emits_its_cell_for_the_formula_panel(qtbot, inspector, trainer) -> None:
    inspector.resize(900, 500)
    inspector.show()
    qtbot.waitExposed(inspector)
    inspector.set_mode("gradient")
    inspector.show(trainer.snapshot())
    pos = inspector.graphics.mapFromScene(_scene_point(inspector, 4, 1, 3))
    with qtbot.waitSignal(inspector.cell_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(inspector.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [4, 1, 3]


def test_a_click_off_the_filters_emits_nothing(qtbot, inspector) -> None:
    inspector.resize(900, 500)
    inspector.show()
    qtbot.waitExposed(inspector)
    with qtbot.assertNotEmitted(inspector.filter_clicked):
        # QPoint(0, 0) would mean "the centre" to QTest; (3, 3) is the black margin above the title
        qtbot.mouseClick(inspector.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(3, 3))


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.16341, "0.1634"), (-0.16341, "-0.1634"), (0.0013, "0.0013"), (9.904e-4, "9.9e-4"), (-5.95e-5, "-6.0e-5"), (0.0, "0.0000")],
)
def test_format_number_is_the_tutorials_four_decimals_or_short_scientific(value, text) -> None:
    assert format_number(value) == text


def test_all_six_bias_values_fit_their_cells_in_a_480_px_dock(inspector, trainer) -> None:
    inspector.resize(476, 420)
    inspector.show()
    run_until(trainer, Phase.BACKWARD)
    inspector.show(trainer.snapshot())
    table = inspector.bias_table
    metrics = table.fontMetrics()
    for r in range(2):
        for c in range(6):
            text = table.item(r, c).text()
            assert metrics.horizontalAdvance(text) + 6 <= table.columnWidth(c), f"{text!r} is elided"
