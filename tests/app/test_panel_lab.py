"""LabPanel: one box per bug with its explanation; ticking emits the chosen set."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextDocumentFragment

from lenet_viz.app.panels.lab import LabPanel
from lenet_viz.training.bugs import BUGS, CATALOGUE
from lenet_viz.training.config import TrainConfig


def test_one_named_box_and_explanation_per_bug(make_panel):
    panel = make_panel(LabPanel, (380, 420))
    assert list(panel.boxes) == list(BUGS)
    for bug in CATALOGUE:
        assert panel.boxes[bug.name].text() == bug.title
        shown = QTextDocumentFragment.fromHtml(panel.explanations[bug.name].text()).toPlainText()
        assert shown == f"{bug.name} · {bug.explanation}"  # the name --bug takes, then what it does
    assert panel.bugs() == frozenset()
    panel.show()


def test_ticking_emits_the_whole_set_and_unticking_removes(make_panel, qtbot):
    panel = make_panel(LabPanel, (380, 420))
    panel.show()
    with qtbot.waitSignal(panel.bugs_changed) as first:
        box = panel.boxes["lr_x100"]  # on its text, where a user clicks (the box's row is wider than its text)
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(box.fontMetrics().averageCharWidth() * 4, box.height() // 2))
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


def test_the_lab_fits_a_narrow_dock_and_every_explanation_shows_all_its_lines(make_panel):
    """Found in a screenshot at 1280x800: one box's text made the panel 401 px wide, cut off in its ~390-px
    dock (explanations clipped on the right), and a style-sheet margin left lines out of the wrapped height."""
    panel = make_panel(LabPanel, (360, 520))
    assert panel.minimumSizeHint().width() <= 300
    for label in panel.explanations.values():
        assert label.height() >= label.heightForWidth(label.width())
