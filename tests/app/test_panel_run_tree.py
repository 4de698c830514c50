"""RunTreePanel: branches under their parents, ticks that survive updates, the current one bold."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from lenet_viz.app.panels.run_tree import RunTreePanel
from lenet_viz.training.recording import RecordedBranch


def branch(id_: int, parent: int | None, fork: int, last: int, label: str = "") -> RecordedBranch:
    return RecordedBranch(id_, parent, fork, last, 0.0, label)


@pytest.fixture
def panel(make_panel) -> RunTreePanel:
    return make_panel(RunTreePanel, (400, 200))


def rows(item, depth: int = 0) -> list[tuple]:
    out = [(depth, item.text(0), item.text(1), item.text(2), item.checkState(0) == Qt.CheckState.Checked, item.font(0).bold())]
    for i in range(item.childCount()):
        out += rows(item.child(i), depth + 1)
    return out


def test_branches_hang_under_the_run_they_forked_from(panel):
    panel.show([branch(1, None, 0, 3000), branch(2, 1, 1200, 2500), branch(3, 2, 2000, 2100, "lr 0.1")], current=3)
    assert rows(panel.tree.topLevelItem(0)) == [
        (0, "run 1", "the start", "3,000", True, False),
        (1, "branch 2", "iteration 1,200", "2,500", True, False),
        (2, "lr 0.1", "iteration 2,000", "2,100", True, True),
    ]


def test_ticks_go_out_and_survive_updates(panel, qtbot):
    panel.show([branch(1, None, 0, 100), branch(2, 1, 50, 80)], current=2)
    ghost = panel.tree.topLevelItem(0)
    with qtbot.waitSignal(panel.visibility_changed) as got:
        ghost.setCheckState(0, Qt.CheckState.Unchecked)
    assert got.args == [1, False]
    with qtbot.assertNotEmitted(panel.visibility_changed):
        panel.show([branch(1, None, 0, 100), branch(2, 1, 50, 140), branch(3, None, 0, 5)], current=3)
    assert panel.shown() == {2, 3} and panel.tree.topLevelItemCount() == 2
    assert panel.tree.topLevelItem(0).child(0).text(2) == "140"


def test_double_click_chooses_a_branch(panel, qtbot):
    panel.show([branch(1, None, 0, 100), branch(2, 1, 50, 80)], current=2)
    child = panel.tree.topLevelItem(0).child(0)
    with qtbot.waitSignal(panel.branch_chosen) as got:
        panel.tree.itemDoubleClicked.emit(child, 0)
    assert got.args == [2]
