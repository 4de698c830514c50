"""A learning rate that blows LeNet up, in the app: paused at the right iteration, told why, drawn
without a NaN anywhere it matters, and recoverable (lower the rate, Apply, R).

digits, lr 5, momentum 0.9, seed 0 diverges deterministically at iteration 9 (loss NaN; the
weights have grown to ~5e17 by then).  Headless exit code 3 is tested in tests/test_cli.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app_driver import LONG, Ledger, ask, check_consistent, open_window
from lenet_viz.app.main_window import MainWindow
from lenet_viz.app.panels.loss import DIVERGED_TITLE

DIVERGES = dict(dataset="digits", lr=5.0, momentum=0.9, batch_size=64, eval_every=0, seed=0)
AT = 9


def finite_ranges(w: MainWindow) -> bool:
    plots = [w.loss_panel.plot, w.gradient_panel.grad_plot, w.gradient_panel.ratio_plot]
    ranges = [r for p in plots for r in p.vb.viewRange()] + [w.loss_panel.accuracy_view.viewRange()[1]]
    return all(math.isfinite(v) for r in ranges for v in r)


def drawn_finite(w: MainWindow) -> bool:
    """Every curve holds only finite points (NaN/Inf masked out before they reach pyqtgraph)."""
    curves = [w.loss_panel.loss_curve, w.loss_panel.smooth_curve, w.loss_panel.batch_acc_curve,
              *w.gradient_panel.grad_curves.values(), *w.gradient_panel.ratio_curves.values()]
    return all(c.yData is None or np.isfinite(c.yData).all() and np.isfinite(c.xData).all() for c in curves)


def run_into_divergence(qtbot, w: MainWindow, at: int) -> None:
    with qtbot.waitSignal(w.worker.diverged, timeout=LONG) as blocker:
        qtbot.keyClick(w, Qt.Key.Key_Space)
    iteration, loss = blocker.args
    assert iteration == at and not math.isfinite(loss)


@pytest.fixture
def diverged(qtbot, tmp_path, monkeypatch):
    ledger = Ledger().install(monkeypatch)
    w = open_window(qtbot, tmp_path, **DIVERGES)
    errors: list[str] = []
    w.worker.errorOccurred.connect(errors.append)
    run_into_divergence(qtbot, w, AT)
    yield w, ledger
    w.close()
    assert not w.worker.isRunning() and errors == []


def test_divergence_pauses_there_and_says_what_to_do(qtbot, diverged):
    w, ledger = diverged
    state = check_consistent(qtbot, w, ledger)
    assert state.iteration == AT and state.weights_finite and not w.worker.running
    text = w.banner.text.text()
    assert w.banner.isVisibleTo(w)
    assert f"diverged at iteration {AT}" in text and "nan" in text.lower()
    assert "lower the learning rate (e.g. to 0.5)" in text and "press R" in text
    assert w.actions_by_name["run"].text() == "Run"
    # the curves: NaN never reaches pyqtgraph, the view stays finite, the title says what happened
    loss = w.history.column("loss")
    assert len(loss) == AT and not math.isfinite(loss[-1]) and np.isfinite(loss[:-1]).all()
    assert list(w.loss_panel.loss_curve.xData) == list(range(1, AT))
    assert drawn_finite(w) and finite_ranges(w)
    assert w.loss_panel.plot.titleLabel.text == DIVERGED_TITLE
    # images: the weights are finite, so is everything drawn from them
    for item in w.feature_panel.mosaic_items.values():
        assert np.isfinite(np.nan_to_num(item.image, nan=0.0)).all()
    assert np.isfinite(w.filter_panel.image_item.image[~np.isnan(w.filter_panel.image_item.image)]).all()
    assert w.parameter_panel.table.item(10, 2).text() == "61,706"
    # every view mode and stepping through the phases after divergence still draws
    for mode in ("gradient", "last update", "weights"):
        w.filter_panel.set_mode(mode)
    for _ in range(5):
        qtbot.keyClick(w, Qt.Key.Key_P)
    state = check_consistent(qtbot, w, ledger)
    assert drawn_finite(w) and finite_ranges(w)


def test_lower_lr_apply_and_reset_trains_again(qtbot, diverged):
    w, ledger = diverged
    w.form.lr.setText("0.01")
    qtbot.mouseClick(w.form.apply_button, Qt.MouseButton.LeftButton)
    assert w.form.error.isHidden()
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: w.session.iteration == 0 and w.session.diverged is None, timeout=LONG)
    assert check_consistent(qtbot, w, ledger).iteration == 0
    for _ in range(20):
        qtbot.keyClick(w, Qt.Key.Key_N)
    state = check_consistent(qtbot, w, ledger)
    assert state.iteration == 20 and state.config.lr == 0.01
    loss = w.history.column("loss")
    assert np.isfinite(loss).all() and w.history.column("lr")[-1] == 0.01
    assert "diverged" not in (w.loss_panel.plot.titleLabel.text or "")  # the warning went with the reset
    assert drawn_finite(w) and finite_ranges(w)


def test_lower_lr_and_continue_is_honest(qtbot, diverged):
    """Continuing from blown-up weights diverges again even at a tiny rate (verified headless:
    every one of 20 further iterations at lr 0.01).  The app must stay paused, keep counting
    and keep saying so, without ever touching the weights."""
    w, ledger = diverged
    w.form.lr.setText("0.001")
    w.form.apply()
    for k in range(1, 4):
        with qtbot.waitSignal(w.worker.diverged, timeout=LONG) as blocker:
            qtbot.keyClick(w, Qt.Key.Key_N)
        assert blocker.args[0] == AT + k
        state = check_consistent(qtbot, w, ledger)
        assert state.iteration == AT + k and state.weights_finite and state.config.lr == 0.001
        assert f"diverged at iteration {AT + k}" in w.banner.text.text() and "e.g. to 0.0001" in w.banner.text.text()
    assert drawn_finite(w) and finite_ranges(w)


def test_unapplied_bad_text_in_the_form_does_not_break_the_warning(qtbot, tmp_path, monkeypatch):
    """The banner's advice comes from the rate that diverged, not from whatever is typed in the form."""
    ledger = Ledger().install(monkeypatch)
    w = open_window(qtbot, tmp_path, **DIVERGES)
    w.form.lr.setText("abc")  # typed, never applied
    run_into_divergence(qtbot, w, AT)
    assert "e.g. to 0.5" in w.banner.text.text()
    assert check_consistent(qtbot, w, ledger).config.lr == 5.0
    w.close()


def test_divergence_right_after_a_lr_change_mid_run(qtbot, tmp_path, monkeypatch):
    """Raising the rate while running: the worker pauses at the first bad iteration, whatever it is."""
    ledger = Ledger().install(monkeypatch)
    w = open_window(qtbot, tmp_path, **{**DIVERGES, "lr": 0.01})
    w.worker.play()
    qtbot.waitUntil(lambda: w.session.iteration >= 5, timeout=LONG)
    with qtbot.waitSignal(w.worker.diverged, timeout=LONG) as blocker:
        w.form.lr.setText("10")
        w.form.apply()
    state = check_consistent(qtbot, w, ledger)
    assert state.iteration == blocker.args[0] and state.weights_finite and state.config.lr == 10.0
    assert ask(qtbot, w.worker, lambda t: t.diverged)
    assert drawn_finite(w) and finite_ranges(w)
    w.close()
