"""ParameterTable shows the tutorial's ten tensors, and grad norms only once backward() ran."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QFont

from lenet_viz.app.panels.common import LAYER_COLORS
from lenet_viz.app.panels.parameters import ParameterTable
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.trainer import Trainer
from lenet_viz.training.types import Phase

TUTORIAL_SHAPES = [
    "6×1×5×5", "6", "16×6×5×5", "16", "120×400", "120", "84×120", "84", "10×84", "10",
]


@pytest.fixture
def trainer() -> Trainer:
    return Trainer(TrainConfig(dataset="random", eval_every=0, threads=1))


@pytest.fixture
def panel(make_panel) -> ParameterTable:
    return make_panel(ParameterTable)


def column(panel: ParameterTable, col: int) -> list[str]:
    return [panel.table.item(r, col).text() for r in range(panel.table.rowCount())]


def run_to(trainer: Trainer, phase: Phase) -> None:
    """Run phases until `phase` is the one that just ran."""
    while trainer.step_phase() is not phase:
        pass


def test_ten_rows_and_a_bold_total(panel, trainer):
    panel.show(trainer.snapshot())
    assert panel.table.rowCount() == 11
    assert column(panel, 0)[:10] == [p.name for p in trainer.snapshot().params]
    assert column(panel, 1)[:10] == TUTORIAL_SHAPES
    counts = [int(c.replace(",", "")) for c in column(panel, 2)[:10]]
    assert sum(counts) == 61_706
    assert [panel.table.item(10, c).text() for c in range(3)] == ["total", "", "61,706"]
    assert panel.table.item(10, 0).font().weight() == QFont.Weight.Bold
    assert column(panel, 3)[:10] == [f"{p.weight_norm:.4g}" for p in trainer.snapshot().params]


def test_grad_norm_is_none_until_backward(panel, trainer):
    trainer.step()  # grads exist after a full iteration...
    run_to(trainer, Phase.ZERO_GRAD)  # ...and are None again after zero_grad(set_to_none=True)
    snap = trainer.snapshot()
    panel.show(snap)
    assert column(panel, 4)[:10] == ["None"] * 10
    assert panel.header.text() == "after zero_grad() · next: forward"

    run_to(trainer, Phase.LOSS)
    panel.show(trainer.snapshot())
    assert column(panel, 4)[:10] == ["None"] * 10

    run_to(trainer, Phase.BACKWARD)
    snap = trainer.snapshot()
    panel.show(snap)
    assert all(p.grad_norm is not None and p.grad_norm > 0 for p in snap.params)
    assert column(panel, 4)[:10] == [f"{p.grad_norm:.4g}" for p in snap.params]
    assert panel.header.text() == "after backward() · next: update"


def test_update_changes_weights_in_place_without_new_items(panel):
    trainer = Trainer(TrainConfig(dataset="random", eval_every=0, threads=1, lr=1.0, momentum=0.0))
    run_to(trainer, Phase.BACKWARD)
    panel.show(trainer.snapshot())
    item = panel.table.item(0, 3)
    before = item.text()
    trainer.step_phase()  # UPDATE
    snap = trainer.snapshot()
    panel.show(snap)
    assert panel.table.item(0, 3) is item
    assert item.text() == f"{snap.params[0].weight_norm:.4g}" != before


def test_before_any_phase_and_clear(panel, trainer):
    panel.show(trainer.snapshot())
    assert panel.header.text() == "after start · next: zero_grad()"
    assert column(panel, 4)[:10] == ["None"] * 10
    panel.clear()
    assert panel.table.rowCount() == 0
    panel.show(trainer.snapshot())
    assert panel.table.rowCount() == 11


def test_names_shapes_and_counts_are_never_elided(panel, trainer):
    panel.resize(470, 440)
    panel.show()
    panel.show(trainer.snapshot())
    metrics = panel.table.fontMetrics()
    for col in (0, 1, 2):
        widest = max(metrics.horizontalAdvance(t) for t in column(panel, col))
        assert panel.table.columnWidth(col) >= widest + 8, f"column {col} is too narrow"
    assert panel.table.horizontalHeaderItem(3).text() == "weight\nnorm"  # two short lines, not a clipped one


def test_names_are_whole_in_a_1280_px_screens_column_and_in_their_layers_colour(qtbot, styled_parent, trainer):
    """The app's 11pt type in a 1280x800 screen's right column (the panel ~451 px wide): with a colour
    swatch before it, the name column cut conv1.weight and conv2.weight to the same "conv…ight"."""
    from lenet_viz.app.theme import dark_palette

    styled_parent.setPalette(dark_palette())  # the app's theme: the layer colours as they are
    panel = ParameterTable(styled_parent)
    styled_parent.resize(463, 322)
    panel.resize(451, 290)
    styled_parent.show()
    panel.show(trainer.snapshot())
    qtbot.wait(20)
    table = panel.table
    widest = max(table.fontMetrics().horizontalAdvance(t) for t in column(panel, 0))
    assert table.columnWidth(0) >= widest + 8  # the item's text margins: nothing is elided
    assert table.horizontalHeader().length() <= table.viewport().width()  # and nothing scrolls sideways
    for row, name in enumerate(column(panel, 0)[:-1]):
        item = table.item(row, 0)
        assert item.icon().isNull()
        assert item.foreground().color().name() == LAYER_COLORS[name.split(".")[0]]


def test_names_stay_readable_when_the_theme_turns_light(panel, trainer):
    """The layer colours are made for the dark theme: on a light table they are darkened (~4.7:1 and up
    against white), and back when the theme turns dark again."""
    from lenet_viz.app.panels.common import LIGHT_DARKER
    from lenet_viz.app.presentation import light_palette
    from lenet_viz.app.theme import dark_palette

    panel.setPalette(dark_palette())  # the app's own theme (tests keep Qt's light default otherwise)
    panel.show(trainer.snapshot())
    assert panel.table.item(0, 0).foreground().color().name() == LAYER_COLORS["conv1"]
    panel.setPalette(light_palette())  # what View ▸ Light theme does to every widget
    assert panel.table.palette().base().color().lightness() > 128
    for row, name in enumerate(column(panel, 0)[:-1]):
        expected = QColor(LAYER_COLORS[name.split(".")[0]]).darker(LIGHT_DARKER)
        assert panel.table.item(row, 0).foreground().color() == expected, name
    panel.setPalette(dark_palette())
    assert panel.table.item(0, 0).foreground().color().name() == LAYER_COLORS["conv1"]
