"""LabPanel: one box per bug with its explanation; ticking emits the chosen set."""

from __future__ import annotations

from PySide6.QtCore import Qt

from lenet_viz.app.panels.lab import LabPanel
from lenet_viz.training.bugs import BUGS, CATALOGUE
from lenet_viz.training.config import TrainConfig


def test_one_named_box_and_explanation_per_bug(make_panel):
    panel = make_panel(LabPanel, (380, 420))
    assert list(panel.boxes) == list(BUGS)
    for bug in CATALOGUE:
        assert panel.boxes[bug.name].text() == f"{bug.title}  ({bug.name})"
        assert panel.explanations[bug.name].text() == bug.explanation
    assert panel.bugs() == frozenset()
    panel.show()


def test_ticking_emits_the_whole_set_and_unticking_removes(make_panel, qtbot):
    panel = make_panel(LabPanel, (380, 420))
    panel.show()
    with qtbot.waitSignal(panel.bugs_changed) as first:
        qtbot.mouseClick(panel.boxes["lr_x100"], Qt.MouseButton.LeftButton)
    assert first.args == [frozenset({"lr_x100"})]
    with qtbot.waitSignal(panel.bugs_changed) as second:
        panel.boxes["skip_zero_grad"].click()
    assert second.args == [frozenset({"lr_x100", "skip_zero_grad"})]
    assert TrainConfig(bugs=second.args[0]).bugs == {"lr_x100", "skip_zero_grad"}  # what the engine accepts
    with qtbot.waitSignal(panel.bugs_changed) as third:
        panel.boxes["lr_x100"].click()
    assert third.args == [frozenset({"skip_zero_grad"})]


def test_show_reflects_the_engine_without_emitting(make_panel, qtbot):
    panel = make_panel(LabPanel)
    with qtbot.assertNotEmitted(panel.bugs_changed):
        panel.show(frozenset({"raw_pixels", "double_softmax"}))
    assert panel.bugs() == {"raw_pixels", "double_softmax"}
    assert panel.boxes["raw_pixels"].isChecked() and not panel.boxes["lr_x100"].isChecked()
    panel.show(frozenset())
    assert panel.bugs() == frozenset()
