"""TimelinePanel: dragging previews, settling chooses, the end follows the run, continue and live."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from lenet_viz.app.panels.timeline import TimelinePanel


@pytest.fixture
def panel(make_panel) -> TimelinePanel:
    return make_panel(TimelinePanel, (600, 40))


def test_the_handle_follows_the_run_while_at_the_end(panel, qtbot):
    with qtbot.assertNotEmitted(panel.chosen), qtbot.assertNotEmitted(panel.scrubbed):
        panel.show(100)
        panel.show(250)
    assert (panel.iteration, panel.readout.text()) == (250, "iteration 250 of 250  (live)")
    assert not panel.continue_button.isEnabled()


def test_dragging_scrubs_and_releasing_chooses(panel, qtbot):
    panel.show(500)
    scrubbed, chosen = [], []
    panel.scrubbed.connect(scrubbed.append)
    panel.chosen.connect(chosen.append)
    panel.slider.setSliderDown(True)
    for value in (400, 120, 37):
        panel.slider.setSliderPosition(value)  # what a drag does: sliderMoved while down
    panel.slider.setSliderDown(False)  # released
    assert scrubbed == [400, 120, 37] and chosen == [37]
    assert panel.readout.text() == "iteration 37 of 500" and not panel.following
    panel.show(600)  # not at the end: it stays where the user left it
    assert (panel.iteration, panel.readout.text()) == (37, "iteration 37 of 600")


def test_keys_choose_at_once_and_set_iteration_is_silent(panel, qtbot):
    panel.show(10)
    with qtbot.assertNotEmitted(panel.chosen):
        panel.set_iteration(5)
    with qtbot.waitSignal(panel.chosen) as got:
        qtbot.keyClick(panel.slider, Qt.Key.Key_Left)
    assert got.args == [4]


def test_continue_from_here_and_back_to_live(panel, qtbot):
    panel.show(90)
    panel.set_iteration(30)
    with qtbot.waitSignal(panel.continue_requested) as got:
        panel.continue_button.click()
    assert got.args == [30]
    with qtbot.waitSignal(panel.live_requested), qtbot.assertNotEmitted(panel.chosen):
        panel.live_button.click()
    assert panel.iteration == 90 and panel.following
