"""AutogradGraphPanel draws Snapshot.autograd_graph as a layered DAG coloured by gradient norm."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QGraphicsSimpleTextItem

from lenet_viz.app.panels.autograd_graph import HINT, AutogradGraphPanel, NodeItem
from lenet_viz.app.panels.common import LUT, NO_GRAD_FILL, decade_range, norm_colour
from lenet_viz.data import load_dataset
from lenet_viz.training import Phase, TrainConfig, Trainer

PARAMS = [f"{layer}.{kind}" for layer in ("conv1", "conv2", "fc1", "fc2", "fc3") for kind in ("weight", "bias")]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def trainer(digits) -> Trainer:
    return Trainer(TrainConfig(dataset="digits", eval_every=0, threads=1), dataset=digits)


@pytest.fixture
def panel(make_panel) -> AutogradGraphPanel:
    return make_panel(AutogradGraphPanel, (700, 900))


def run_until(t: Trainer, phase: Phase) -> None:
    while t.step_phase() is not phase:
        pass


def texts(panel: AutogradGraphPanel) -> list[list[str]]:
    return [[t.text() for t in panel.nodes[k].texts] for k in sorted(panel.nodes)]


def test_hint_before_the_first_loss(panel, trainer):
    panel.show(trainer.snapshot().autograd_graph)
    assert panel.nodes == {}
    assert [i.text() for i in panel.scene.items() if isinstance(i, QGraphicsSimpleTextItem)] == [HINT]


def test_after_loss_every_node_once_with_shapes_and_no_gradient(panel, trainer):
    run_until(trainer, Phase.LOSS)
    graph = trainer.snapshot().autograd_graph
    panel.show(graph)
    assert len(panel.nodes) == len(graph.nodes) == 27
    rows = texts(panel)
    assert rows[0] == ["NllLossBackward0", "scalar", "‖grad‖ —"]
    assert sorted(r[0] for r in rows if r[1].startswith("AccumulateGrad")) == sorted(PARAMS)
    conv1 = next(r for r in rows if r[0] == "conv1.weight")
    assert conv1[1] == "AccumulateGrad  6×1×5×5"
    assert ["ConvolutionBackward0", "64×6×28×28", "‖grad‖ —"] in rows
    assert all(panel.nodes[k].brush().color() == NO_GRAD_FILL for k in panel.nodes)
    # No norms, no scale: the bar is grey and names no decades (it read "1e-1 … 1e0" of nothing).
    assert panel.legend.ticks == [] and panel.legend.labels(panel.legend.fontMetrics()) == []
    picture = panel.legend.grab().toImage()
    assert picture.pixelColor(picture.width() // 2, 10) == NO_GRAD_FILL
    arrows = [i for i in panel.scene.items() if type(i).__name__ == "QGraphicsPathItem" and not isinstance(i, NodeItem)]
    assert len(arrows) == len(graph.edges)


def test_after_backward_nodes_are_annotated_and_coloured_by_norm(panel, trainer):
    run_until(trainer, Phase.BACKWARD)
    graph = trainer.snapshot().autograd_graph
    panel.show(graph)
    decades = decade_range([n.grad_norm for n in graph.nodes])
    assert panel.legend.ticks == [f"1e{d}" for d in range(decades[0], decades[1] + 1)]
    assert panel.legend.ticks[-1] == "1e0"  # d loss / d loss = 1 is the top of the scale
    picture = panel.legend.grab().toImage()
    assert picture.pixelColor(picture.width() // 2, 10) != NO_GRAD_FILL  # the viridis bar, now it scales something
    for node in graph.nodes:
        item = panel.nodes[node.id]
        assert item.texts[2].text() == f"‖grad‖ = {node.grad_norm:.3g}"
        assert item.brush().color() == norm_colour(node.grad_norm, decades)
    assert panel.nodes[0].brush().color() == LUT[255]
    smallest = min(graph.nodes, key=lambda n: n.grad_norm)
    expected = round((math.log10(smallest.grad_norm) - decades[0]) / (decades[1] - decades[0]) * 255)
    assert panel.nodes[smallest.id].brush().color() == LUT[expected]
    assert panel.nodes[0].texts[0].brush().color() == QColor("#111111")  # dark ink on yellow


def test_the_scale_says_which_iterations_gradients_colour_the_boxes(panel, trainer):
    """Running, the norms are recorded a few times a second: the panel names their iteration."""
    run_until(trainer, Phase.LOSS)
    panel.show(trainer.snapshot().autograd_graph)
    assert panel.legend_title.text() == "‖grad‖ reaching each node\n(log colour scale)"  # no norms yet
    trainer.step()
    trainer.step()
    trainer.record_graph = False
    trainer.step()  # iteration 3, not recorded: the boxes keep iteration 2's norms
    graph = trainer.snapshot().autograd_graph
    panel.show(graph)
    assert graph.norms_at == 2
    assert panel.legend_title.text() == "‖grad‖ reaching each node\nin iteration 2 (log scale)"
    panel._hovered(0)
    assert "reached it in iteration 2:" in panel.details.text()


def test_a_backward_nobody_recorded_is_not_called_no_gradient_yet(panel, trainer):
    """Found in a screenshot: the Graph dock raised after a run in which it was hidden said "no gradient
    yet (before backward...)" of a loss whose backward had run.  It now says the norms were not recorded."""
    from lenet_viz.app.panels.autograd_graph import UNRECORDED

    trainer.record_graph = False  # running with the Graph dock hidden
    trainer.step()
    trainer.step()
    graph = trainer.snapshot().autograd_graph
    assert graph.unrecorded and graph.norms_at is None
    panel.show(graph)
    assert panel.legend_title.text() == "‖grad‖ reaching each node\nnot recorded: step to see it"
    panel._hovered(0)
    assert UNRECORDED in panel.details.text() and "no gradient yet" not in panel.details.text()
    trainer.step_phase()  # zero_grad: now there really is no gradient
    graph = trainer.snapshot().autograd_graph
    assert not graph.unrecorded
    panel.show(graph)
    panel._hovered(0)
    assert "no gradient yet" in panel.details.text()
    trainer.record_graph = True  # a step with the dock shown records, and the boxes say so
    trainer.step()
    graph = trainer.snapshot().autograd_graph
    assert not graph.unrecorded and graph.norms_at == 3


def test_a_graph_arriving_replaces_the_waiting_line_below_it(panel, trainer):
    """After "reading the graph…" the line below must not stay once the graph is on screen."""
    from lenet_viz.app.panels.autograd_graph import NODE_HINT
    from lenet_viz.app.panels.common import WAITING

    trainer.step()
    panel.clear(WAITING)
    assert panel.details.text() == WAITING
    panel.show(trainer.snapshot().autograd_graph)
    assert panel.details.text() == NODE_HINT and panel.nodes


def test_same_structure_only_recolours_new_structure_lays_out_again(panel, trainer):
    trainer.step()
    panel.show(trainer.snapshot().autograd_graph)
    items, scene_rect = dict(panel.nodes), panel.scene.sceneRect()
    trainer.step()
    graph = trainer.snapshot().autograd_graph
    panel.show(graph)
    assert panel.nodes == items and panel.scene.sceneRect() == scene_rect  # the same items, moved nowhere
    assert panel.nodes[3].texts[2].text() == f"‖grad‖ = {graph.nodes[3].grad_norm:.3g}"
    trainer.apply_config(trainer.config.replace(loss="mse"))
    trainer.step()
    panel.show(trainer.snapshot().autograd_graph)
    assert panel.nodes[0] is not items[0] and panel.nodes[0].texts[0].text() == "MseLossBackward0"
    panel.clear()
    assert panel.nodes == {} and panel.details.text() == HINT


def test_hover_shows_details_and_the_view_pans_and_zooms(qtbot, panel, trainer):
    trainer.step()
    graph = trainer.snapshot().autograd_graph
    panel.show()
    qtbot.waitExposed(panel)
    panel.show(graph)
    conv1 = next(n for n in graph.nodes if n.parameter == "conv1.weight")
    item = panel.nodes[conv1.id]
    panel.view.centerOn(item)
    qtbot.mouseMove(panel.view.viewport(), panel.view.mapFromScene(item.sceneBoundingRect().center()))
    qtbot.waitUntil(lambda: panel.details.text().startswith("AccumulateGrad"), timeout=2000)
    assert "parameter conv1.weight, shape 6×1×5×5" in panel.details.text()
    assert f"{conv1.grad_norm:.6g}" in panel.details.text()
    assert item.toolTip() == panel.details.text()
    trainer.step()
    newer = trainer.snapshot().autograd_graph
    panel.show(newer)  # the details follow the live numbers of the node under the mouse
    assert f"{newer.nodes[conv1.id].grad_norm:.6g}" in panel.details.text()
    assert panel.view.dragMode() == panel.view.DragMode.ScrollHandDrag
    before = panel.view.transform().m11()
    centre = QPointF(panel.view.viewport().rect().center())
    wheel = QWheelEvent(centre, panel.view.mapToGlobal(centre.toPoint()), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    panel.view.wheelEvent(wheel)
    assert panel.view.transform().m11() == pytest.approx(before * 1.2)
    assert not panel.view.auto_fit  # the user's zoom is kept when the next frame arrives


@pytest.mark.parametrize("width", [140, 240, 380, 700])
def test_the_colour_scale_labels_never_run_into_each_other(qtbot, width):
    """Found in a screenshot: six decades in a ~300-px dock were labelled "1e-21e-1 1e0 1e1 1e2"."""
    from lenet_viz.app.panels.common import LogLegend

    legend = LogLegend()
    qtbot.addWidget(legend)
    legend.resize(width, 44)
    legend.set_decades((-5, 2))  # eight decades
    metrics = legend.fontMetrics()
    labels = legend.labels(metrics)
    assert labels[0][0] == 0  # the lowest decade is always named
    spans = [(left, left + metrics.horizontalAdvance(legend.ticks[i])) for i, left in labels]
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert all(0 <= a and b <= width for a, b in spans)
    if width >= 700:
        assert len(labels) == 8  # room for every decade: every decade named
    legend.grab()  # paints with them
