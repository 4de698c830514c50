"""AutogradPanel shows the loss's grad_fn graph down to all ten parameters."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QTreeWidgetItem, QTreeWidgetItemIterator

from lenet_viz.app.panels.autograd import HINT, AutogradPanel
from lenet_viz.training.config import LossKind, TrainConfig
from lenet_viz.training.trainer import Trainer
from lenet_viz.training.types import Phase

PARAMS = [f"{layer}.{kind}" for layer in ("conv1", "conv2", "fc1", "fc2", "fc3") for kind in ("weight", "bias")]


@pytest.fixture
def panel(qtbot) -> AutogradPanel:
    widget = AutogradPanel()
    qtbot.addWidget(widget)
    return widget


def trainer_after_loss(loss: LossKind) -> Trainer:
    trainer = Trainer(TrainConfig(dataset="random", eval_every=0, threads=1, loss=loss))
    while trainer.step_phase() is not Phase.LOSS:
        pass
    return trainer


def items(panel: AutogradPanel) -> list[QTreeWidgetItem]:
    found, it = [], QTreeWidgetItemIterator(panel.tree)
    while it.value():
        found.append(it.value())
        it += 1
    return found


def test_hint_before_any_loss(panel):
    trainer = Trainer(TrainConfig(dataset="random", eval_every=0, threads=1))
    trainer.step_phase()  # zero_grad
    trainer.step_phase()  # forward: output exists, loss does not
    panel.show(trainer.snapshot())
    assert [i.text(0) for i in items(panel)] == [HINT]


@pytest.mark.parametrize(
    ("loss", "chain"),
    [
        (LossKind.MSE, ["MseLossBackward0", "AddmmBackward0"]),
        (LossKind.CROSS_ENTROPY, ["NllLossBackward0", "LogSoftmaxBackward0", "AddmmBackward0"]),
    ],
)
def test_tree_after_loss_reaches_every_parameter(panel, loss, chain):
    snap = trainer_after_loss(loss).snapshot()
    panel.show(snap)
    root = panel.tree.topLevelItem(0)
    assert panel.tree.topLevelItemCount() == 1
    assert root.text(0) == snap.autograd.name == chain[0]
    node = root
    for name in chain[1:]:  # the tutorial's next_functions[0][0] walk, visible and expanded
        assert node.isExpanded()
        node = next(node.child(i) for i in range(node.childCount()) if node.child(i).text(0) == name)
    leaves = sorted(i.text(0) for i in items(panel) if i.text(0).startswith("AccumulateGrad"))
    assert leaves == sorted(f"AccumulateGrad → {p}" for p in PARAMS)


def test_rebuilds_only_when_structure_changes(panel):
    trainer = trainer_after_loss(LossKind.CROSS_ENTROPY)
    panel.show(trainer.snapshot())
    root = panel.tree.topLevelItem(0)
    trainer.step()  # a new iteration's graph: new objects, same structure
    while trainer.step_phase() is not Phase.LOSS:
        pass
    panel.show(trainer.snapshot())
    assert panel.tree.topLevelItem(0) is root

    trainer.apply_config(trainer.config.replace(loss=LossKind.MSE))
    trainer.step()  # the loss change takes effect at the next iteration boundary
    while trainer.step_phase() is not Phase.LOSS:
        pass
    panel.show(trainer.snapshot())
    assert panel.tree.topLevelItem(0).text(0) == "MseLossBackward0"
    panel.clear()
    assert [i.text(0) for i in items(panel)] == [HINT]
