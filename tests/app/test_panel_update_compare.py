"""UpdateComparePanel: the hand-written update and optimizer.step(), side by side, differing by ~0."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_viz.app.panels.update_compare import HINT, UpdateComparePanel
from lenet_viz.data import load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer


@pytest.fixture(scope="module")
def comparison():
    t = Trainer(TrainConfig(dataset="digits", eval_every=0, threads=1, lr=0.05, momentum=0.0), dataset=load_dataset("digits"))
    while t.step_phase() is not Phase.BACKWARD:
        pass
    return t.compare_manual_update()


def test_rows_show_both_update_sizes_and_their_difference(make_panel, comparison):
    panel = make_panel(UpdateComparePanel, (600, 420))
    panel.show(comparison)
    assert panel.table.rowCount() == 10
    cells = [[panel.table.item(r, c).text() for c in range(4)] for r in range(10)]
    assert [row[0] for row in cells] == list(comparison.manual)
    conv1 = cells[0]
    assert conv1[1] == conv1[2] == f"{float(np.linalg.norm(comparison.manual['conv1.weight'])):.4g}"
    for row in cells:
        assert row[3] == "0" or float(row[3]) < 1e-6
    assert "f.data.sub_(f.grad.data * 0.05)" in panel.caption.text()
    assert "optim.SGD(net.parameters(), lr=0.05).step()" in panel.caption.text()
    assert ("identical" in panel.caption.text()) == all(v == 0 for v in comparison.max_abs_diff.values())
    panel.show(None)
    assert panel.table.rowCount() == 0 and panel.caption.text() == HINT


def test_the_table_fits_a_1280_px_screens_column_without_scrolling_sideways(qtbot, styled_parent, comparison):
    """The app's 11pt type in a ~320-px column: one-line headers ("‖optimizer.step()‖") made it ~450 px wide."""
    from PySide6.QtWidgets import QScrollArea

    panel = UpdateComparePanel()
    dock = QScrollArea(styled_parent)  # as the app's dock holds it: the panel grows to its minimum, the dock scrolls
    dock.setWidgetResizable(True)
    dock.setWidget(panel)
    dock.resize(323, 287)
    styled_parent.show()
    panel.show(comparison)
    qtbot.wait(50)
    header = panel.table.horizontalHeader()
    assert header.length() <= panel.table.viewport().width()
    metrics = panel.table.fontMetrics()
    for col in range(4):  # every cell whole
        widest = max(metrics.horizontalAdvance(panel.table.item(r, col).text()) for r in range(10))
        assert panel.table.columnWidth(col) >= widest + 6
