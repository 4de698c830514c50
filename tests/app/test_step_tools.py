"""Inside one step and the bug lab, in the real window (issues #15 and #16): the code line that runs
next, the autograd graph after backward, the formula behind a clicked gradient cell, manual vs optim,
a lab bug switched on from its checkbox, the health flags and the distributions."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt

from app_driver import LONG, ask, open_window
from lenet_viz.app.panels.formula import HINT as FORMULA_HINT
from lenet_viz.app.panels.update_compare import HINT as COMPARE_HINT
from lenet_viz.training import Phase
from test_panel_filters import _scene_point


def show_dock(qtbot, w, name):
    dock = w.docks[name]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: w.step_tools.shown[name], timeout=LONG)


def phase(qtbot, w, times):
    target = [w.session.next_phase]
    for _ in range(times):
        qtbot.keyClick(w, Qt.Key.Key_P)
        target.append(target[-1].next())
    qtbot.waitUntil(lambda: w.snapshot.next_phase is target[-1] and w.snapshot.last_phase is target[-2], timeout=LONG)


def test_the_code_line_that_runs_next_follows_step_phase(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    show_dock(qtbot, w, "code")
    panel = w.step_tools.code
    source = panel.editor.toPlainText()
    assert "optimizer.zero_grad()" in source and "loss.backward()" in source and "optimizer.step()" in source
    for step in range(1, 6):
        phase(qtbot, w, 1)
        qtbot.waitUntil(lambda: panel.next_lines == panel.code.lines[w.snapshot.next_phase], timeout=LONG)
        lines = source.splitlines()
        if w.snapshot.next_phase is Phase.BACKWARD:
            assert any("backward()" in lines[i - 1] for i in panel.next_lines)


def test_while_running_the_graph_costs_nothing_until_its_dock_is_shown(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    assert not w.step_tools.shown["graph"]  # a tab behind the filter inspector at launch
    w.worker.play()
    qtbot.waitUntil(lambda: w.snapshot.iteration >= 3, timeout=LONG)
    loop_says = ask(qtbot, w.worker, lambda t: t.graph_in_snapshot)
    assert loop_says is False and w.snapshot.autograd_graph is None  # not in the snapshots nobody looks at
    show_dock(qtbot, w, "graph")  # the engine hears of it, and the running snapshots carry it with its norms
    qtbot.waitUntil(lambda: w.snapshot.autograd_graph is not None
                    and all(n.grad_norm is not None for n in w.snapshot.autograd_graph.nodes), timeout=LONG)
    qtbot.waitUntil(lambda: w.step_tools.graph.graph is w.snapshot.autograd_graph, timeout=LONG)
    w.docks["filters"].raise_()  # hidden again: off again
    qtbot.waitUntil(lambda: not w.step_tools.shown["graph"], timeout=LONG)
    shown_at = w.snapshot.iteration
    qtbot.waitUntil(lambda: w.snapshot.iteration > shown_at + 3 and w.snapshot.autograd_graph is None, timeout=LONG)
    w.worker.pause()


def test_after_backward_the_graph_has_norms_and_a_clicked_cell_is_explained(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    show_dock(qtbot, w, "graph")
    phase(qtbot, w, 4)  # zero_grad, forward, loss, backward
    qtbot.waitUntil(lambda: w.step_tools.graph.graph is not None and w.step_tools.graph.graph is w.snapshot.autograd_graph, timeout=LONG)
    graph = w.snapshot.autograd_graph
    names = {n.name for n in graph.nodes}
    assert "AccumulateGrad" in names and any(n.startswith("ConvolutionBackward") for n in names)
    assert all(n.grad_norm is not None and math.isfinite(n.grad_norm) for n in graph.nodes)
    leaves = {n.parameter for n in graph.nodes if n.parameter}
    assert len(leaves) == 10 and len(w.step_tools.graph.nodes) == len(graph.nodes)
    # a click on the filter inspector's gradient cell (4, 1, 3) explains it with the batch's numbers
    w.filter_panel.set_mode("gradient")
    w.docks["filters"].raise_()
    pos = w.filter_panel.graphics.mapFromScene(_scene_point(w.filter_panel, 4, 1, 3))
    qtbot.mouseClick(w.filter_panel.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: w.session.explained is not None and w.session.explained.explanation is not None, timeout=LONG)
    e = w.session.explained.explanation
    grad = ask(qtbot, w.worker, lambda t: float(t.model.conv1.weight.grad[4, 0, 1, 3]))
    assert math.isclose(e.total, grad, rel_tol=1e-4, abs_tol=1e-7) and math.isclose(e.weight_grad, grad, rel_tol=1e-6)
    assert f"{e.total:.4g}"[:4] in w.step_tools.formula.equation.text().replace("−", "-")


def test_manual_update_beside_optim_is_zero_apart_with_momentum_zero(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits", momentum=0.0)
    show_dock(qtbot, w, "compare")
    phase(qtbot, w, 4)
    qtbot.waitUntil(lambda: w.session.compared is not None and w.session.compared.comparison is not None, timeout=LONG)
    c = w.session.compared.comparison
    assert max(c.max_abs_diff.values()) < 1e-6 and c.lr == 0.01
    assert w.step_tools.compare.table.rowCount() >= 10


def test_the_formula_and_the_comparison_opened_after_a_step_show_it_at_once(qtbot, tmp_path):
    """Opened while .grad is there (here after a whole iteration, with both docks behind other tabs), they
    work it out for what is on screen instead of showing empty maps and "Run BACKWARD" hints."""
    w = open_window(qtbot, tmp_path, dataset="digits", momentum=0.0)
    assert not w.step_tools.shown["formula"] and not w.step_tools.shown["compare"]
    phase(qtbot, w, 5)  # zero_grad ... update
    show_dock(qtbot, w, "formula")
    qtbot.waitUntil(lambda: w.step_tools.formula.explanation is not None, timeout=LONG)
    e = w.step_tools.formula.explanation
    grad = ask(qtbot, w.worker, lambda t: float(t.model.conv1.weight.grad[0, 0, 0, 0]))
    assert (e.filter, e.row, e.col) == (0, 0, 0) and math.isclose(e.weight_grad, grad, rel_tol=1e-6)
    assert "∂L/∂w[0,0,0,0]" in w.step_tools.formula.equation.text()
    assert w.step_tools.formula.input_map.item.image is not None
    show_dock(qtbot, w, "compare")
    qtbot.waitUntil(lambda: w.step_tools.compare.table.rowCount() >= 10, timeout=LONG)
    assert w.step_tools.compare.caption.text() != COMPARE_HINT
    explained = w.session.explained
    w.docks["hyperparameters"].raise_()  # the formula's tab hidden, then shown at the same iteration: not asked twice
    qtbot.waitUntil(lambda: not w.step_tools.shown["formula"], timeout=LONG)
    show_dock(qtbot, w, "formula")
    qtbot.wait(300)
    assert w.session.explained is explained


def test_a_reset_takes_back_the_formula_and_the_comparison_of_weights_that_are_gone(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits", momentum=0.0)
    show_dock(qtbot, w, "compare")
    phase(qtbot, w, 4)
    w.step_tools.explain(2, 0, 0)  # as a click on the filter inspector's gradient cell does
    qtbot.waitUntil(lambda: w.session.explained is not None and w.session.explained.explanation is not None
                    and w.session.compared is not None and w.session.compared.comparison is not None, timeout=LONG)
    qtbot.waitUntil(lambda: w.step_tools.compare.table.rowCount() >= 10 and "∂L/∂w[2,0,0,0]" in w.step_tools.formula.equation.text())
    qtbot.keyClick(w, Qt.Key.Key_R)  # new weights from the seed: that gradient and that update are gone
    qtbot.waitUntil(lambda: w.step_tools.formula.equation.text() == FORMULA_HINT, timeout=LONG)
    assert w.session.iteration == 0 and w.step_tools.formula.explanation is None
    assert w.step_tools.compare.caption.text() == COMPARE_HINT and w.step_tools.compare.table.rowCount() == 0


def test_skip_zero_grad_from_the_lab_accumulates_and_the_health_panel_says_so(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    show_dock(qtbot, w, "lab")
    box = w.step_tools.lab.boxes["skip_zero_grad"]
    box.setChecked(True)  # as a click would
    qtbot.waitUntil(lambda: "skip_zero_grad" in w.session.config.bugs, timeout=LONG)
    assert "skip_zero_grad" in w.form.base_config().bugs  # a later Apply in the form keeps the bug
    show_dock(qtbot, w, "code")
    assert "zero_grad" in w.step_tools.code.editor.toPlainText()
    w.form.lr.setText("0.001")  # small steps: the gradients grow without diverging
    w.form.apply()
    for _ in range(12):
        qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == 12, timeout=LONG)
    assert w.session.config.bugs == frozenset({"skip_zero_grad"})
    grads = w.history.column("grad_norm/fc3.weight")
    assert grads[-1] > 2 * grads[0]  # .grad accumulates: the norms grow
    show_dock(qtbot, w, "health")
    w.refresh()
    assert w.step_tools.health.dead_bars["conv1"].format().endswith("dead")
    show_dock(qtbot, w, "distributions")
    assert len(w.session.distributions) >= 1  # sampled at iteration 1 (and every histogram_every)
    image = w.step_tools.distributions.images["conv1"].image
    assert image is not None and np.nansum(image) > 0
