"""Time travel in the real window (issue #13): the run is recorded, the timeline shows the past exactly,
"Continue from here" rewinds into a new branch and the abandoned line stays as a ghost."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt

from app_driver import FAST, LONG
from lenet_viz.app.main_window import MainWindow
from lenet_viz.app.panels.run_tree import NOT_RECORDING, WAITING
from lenet_viz.training import Recording, TrainConfig, Trainer

CONFIG = TrainConfig(**{**FAST, "dataset": "digits", "eval_every": 0})


def recorded_window(qtbot, tmp_path, record=True) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(CONFIG, settings=settings, record=tmp_path / "run.lvz" if record else None)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.session.info is not None, timeout=LONG)
    return w


def steps(qtbot, w: MainWindow, n: int) -> None:
    target = w.session.iteration + n
    for _ in range(n):
        qtbot.keyClick(w, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.session.iteration == target and w.snapshot.iteration == target, timeout=LONG)


def reference_losses(n: int) -> tuple[list[float], Trainer]:
    torch.set_num_threads(1)
    t = Trainer(CONFIG)
    return [t.step().loss for _ in range(n)], t


def test_scrubbing_shows_the_exact_past_while_the_run_stays_where_it_is(qtbot, tmp_path):
    w = recorded_window(qtbot, tmp_path)
    assert w.session.recording == str(tmp_path / "run.lvz")
    steps(qtbot, w, 30)
    w.time_travel.timeline.set_iteration(10)
    w.time_travel.scrub(10, exact=True)
    qtbot.waitUntil(lambda: w.session.scrubbed is not None and w.session.scrubbed.iteration == 10, timeout=LONG)
    _, ref = reference_losses(10)
    shown = w.filter_panel.mosaic.item.image  # what the filter inspector draws now
    assert shown is not None
    np.testing.assert_array_equal(w.session.view.conv1_weight, ref.model.conv1.weight.detach().numpy())
    assert "Looking back at iteration 10" in w.phase_strip.story.text() and w.session.iteration == 30
    assert w.time_travel.line.isVisible() and w.time_travel.line.value() == 10
    w.time_travel.live()
    w.refresh()
    assert w.session.view.iteration == 30 and not w.time_travel.line.isVisible()


def test_continue_from_here_branches_exactly_and_leaves_a_ghost(qtbot, tmp_path):
    w = recorded_window(qtbot, tmp_path)
    steps(qtbot, w, 30)
    original = w.history.column("loss").copy()
    original_smooth = w.history.column("loss_smooth").copy()
    original_accuracy = w.history.column("accuracy").copy()
    w.time_travel.continue_from(10)
    qtbot.waitUntil(lambda: w.session.iteration == 10 and w.session.branch == 2, timeout=LONG)
    assert len(w.history) == 10 and "new branch" in w.notice.text()
    qtbot.waitUntil(lambda: 1 in w.time_travel.ghost_curves and len(w.time_travel.ghost_curves[1][0].getData()[0]) == 30,
                    timeout=LONG)  # the run tree reads the recording and draws the abandoned branch
    loss_ghost, accuracy_ghost, grad_ghost = w.time_travel.ghost_curves[1]
    ghost_x, ghost_y = loss_ghost.getData()
    assert ghost_x[-1] == 30 and len(ghost_y) == 30
    np.testing.assert_array_equal(ghost_y, original_smooth)  # the engine's own smoothing, recomputed from the file
    np.testing.assert_array_equal(accuracy_ghost.getData()[1], original_accuracy * 100)
    assert len(grad_ghost.getData()[0]) == 30  # the abandoned line's gradient norms, behind the live ones
    tree = w.time_travel.runs
    qtbot.waitUntil(lambda: tree.shown() == {1, 2}, timeout=LONG)  # the new branch, once the writer committed it
    assert tree.tree.topLevelItem(0).child(0).text(1) == "iteration 10"
    tree.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Unchecked)  # hide the ghost from the run list
    assert len(loss_ghost.getData()[0] if loss_ghost.getData()[0] is not None else []) == 0
    steps(qtbot, w, 5)
    np.testing.assert_array_equal(w.history.column("loss"), original[:15])  # bit for bit: same settings, same run
    def branches() -> int:
        with Recording.open(tmp_path / "run.lvz") as rec:
            return len(rec.branches())

    qtbot.waitUntil(lambda: branches() == 2, timeout=LONG)  # the writer commits within about half a second


def test_an_unrecorded_run_says_so_instead_of_pretending(qtbot, tmp_path):
    w = recorded_window(qtbot, tmp_path, record=False)
    steps(qtbot, w, 3)
    w.time_travel.scrub(1)
    w.refresh()
    assert w.banner.isVisible() and "not recorded" in w.banner.text.text()
    assert w.session.view.iteration == 3
    runs = w.time_travel.runs  # the Runs dock says why it is empty, instead of bare column headers
    assert runs.tree.topLevelItemCount() == 0 and not runs.note.isHidden() and runs.note.text() == NOT_RECORDING


def test_a_recorded_runs_dock_waits_for_the_first_branch_then_lists_it(qtbot, tmp_path):
    w = recorded_window(qtbot, tmp_path)
    runs = w.time_travel.runs
    assert runs.note.text() == WAITING  # never "not recorded" of a run that is
    steps(qtbot, w, 3)
    qtbot.waitUntil(lambda: runs.tree.topLevelItemCount() == 1, timeout=LONG)
    assert runs.note.isHidden() and runs.note.text() == WAITING


def test_the_filters_over_the_run_export_as_a_gif_and_a_png_strip(qtbot, tmp_path):
    from PIL import Image

    w = recorded_window(qtbot, tmp_path)
    steps(qtbot, w, 40)
    qtbot.waitUntil(lambda: Recording.open(tmp_path / "run.lvz").last_iteration() == 40, timeout=LONG)
    gif = w.time_travel.export_filters(tmp_path / "filters.gif", "gif")
    png = w.time_travel.export_filters(tmp_path / "filters.png", "png")
    with Image.open(gif) as g:
        frames = g.n_frames
        assert frames >= 3  # keyframes at 0, 16, 32, ...
    with Image.open(png) as p:
        assert p.width > 0 and p.height % frames == 0  # one row of the six filters per moment, top to bottom
    (tmp_path / "x").mkdir()
    unrecorded = recorded_window(qtbot, tmp_path / "x", record=False)
    assert unrecorded.time_travel.export_filters(tmp_path / "none.gif", "gif") is None
    unrecorded.refresh()
    assert "not recorded" in unrecorded.banner.text.text() and not (tmp_path / "none.gif").exists()
