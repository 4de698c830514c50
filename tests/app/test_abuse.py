"""Thousands of random commands against a real window and worker: nothing breaks, nothing is lost.

A seeded random sequence of everything a user can do (run, pause, toggle, step, step a phase,
reset, apply good and bad settings, change the speed limit, resize, hide and show docks, pick
probes, switch and click filters, keyboard shortcuts, drains and event-loop turns), with the whole state checked
for consistency every few hundred commands and at the end (see app_driver.check_consistent).
"""

from __future__ import annotations

import gc
import logging
import random
import threading
from collections import Counter

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtWidgets import QApplication

from app_driver import Ledger, ask, check_consistent, engine_state, open_window
from lenet_viz.app import main_window
from lenet_viz.app.main_window import MainWindow
from lenet_viz.app.panels.filters import FILTERS
from lenet_viz.training import LossKind, OptimizerKind, TrainConfig, Trainer, UpdateMode
from lenet_viz.training import trainer as trainer_module

KEYS = (Qt.Key.Key_Space, Qt.Key.Key_N, Qt.Key.Key_Right, Qt.Key.Key_P, Qt.Key.Key_Period, Qt.Key.Key_R)
#: Field text and choices the form must refuse, each with the field its reason names.
BAD_FORM = (
    ("lr", "abc"), ("lr", ""), ("lr", "nan"), ("lr", "inf"), ("lr", "-1"), ("lr", "0"), ("lr", "1e9"),
    ("momentum", "1.5"), ("momentum", "-0.1"), ("momentum", "x"), ("manual+momentum", "0.9"), ("manual+adam", ""),
)
SPEEDS = (0.0, 0.0, 0.0, 2.0, 40.0, 400.0)  # mostly unlimited; 0 is "unlimited"


class Abuser:
    """Fires random commands at one window; remembers the settings the engine must end up with."""

    def __init__(self, qtbot, w: MainWindow, rng: random.Random) -> None:
        self.qtbot, self.w, self.rng = qtbot, w, rng
        self.fired: Counter[str] = Counter()
        self.applied: TrainConfig = w.form.current_config()  # what the engine should be running
        self.refused = 0
        w.form.config_applied.connect(self._on_applied)
        self.commands = {
            "play": lambda: w.worker.play(),
            "pause": lambda: w.worker.pause(),
            "toggle": lambda: w.actions_by_name["run"].trigger(),
            "step": lambda: w.actions_by_name["step"].trigger(),
            "phase": lambda: w.actions_by_name["phase"].trigger(),
            "reset": lambda: w.actions_by_name["reset"].trigger(),
            "key": lambda: qtbot.keyClick(w, rng.choice(KEYS)),
            "apply": self.apply_valid,
            "apply_bad": self.apply_invalid,
            "speed": self.speed,
            "resize": lambda: w.resize(rng.randint(240, 1800), rng.randint(180, 1100)),
            "dock": lambda: rng.choice(list(w.docks.values())).toggleViewAction().trigger(),  # View menu
            "probe_button": lambda: w.feature_panel.probe_buttons[rng.choice(("next", "previous", "random"))].click(),
            "probe_index": lambda: w.worker.set_probe(rng.randint(-500, 500)),
            "filter_mode": lambda: rng.choice(w.filter_panel.mode_buttons.buttons()).click(),
            "filter_click": self.click_filter,
            "drain": w.refresh,
            "events": QApplication.processEvents,
            "wait": lambda: qtbot.wait(rng.randint(1, 30)),  # let a run run; the display timer drains
        }
        weights = {"play": 6, "pause": 4, "toggle": 4, "step": 8, "phase": 10, "reset": 2, "key": 10, "apply": 4,
                   "apply_bad": 3, "speed": 2, "resize": 2, "dock": 1, "probe_button": 4, "probe_index": 3,
                   "filter_mode": 3, "filter_click": 3, "drain": 10, "events": 12, "wait": 3}
        self.names = list(weights)
        self.weights = [weights[n] for n in self.names]

    def _on_applied(self, config: TrainConfig) -> None:
        self.applied = config

    def fire(self, n: int) -> None:
        for name in self.rng.choices(self.names, self.weights, k=n):
            self.commands[name]()
            self.fired[name] += 1
            if self.rng.random() < 0.5:
                QApplication.processEvents()

    # ------------------------------------------------------------ the form
    def random_config(self) -> TrainConfig:
        rng = self.rng
        update = rng.choice(list(UpdateMode))
        manual = update is UpdateMode.MANUAL
        return self.applied.replace(
            lr=float(f"{10 ** rng.uniform(-4, -1):.3g}"),
            momentum=0.0 if manual else rng.choice((0.0, 0.5, 0.9)),
            batch_size=rng.randint(1, 32),
            optimizer=OptimizerKind.SGD if manual else rng.choice(list(OptimizerKind)),
            loss=rng.choice(list(LossKind)),
            update=update,
            seed=rng.randrange(1000) if rng.random() < 0.2 else self.applied.seed,
        )

    def press_apply(self) -> None:
        """The three ways a user applies: the button, Return in the lr field, Return in momentum."""
        f, how = self.w.form, self.rng.randrange(3)
        if how == 0:
            self.qtbot.mouseClick(f.apply_button, Qt.MouseButton.LeftButton)
        else:
            self.qtbot.keyClick(f.lr if how == 1 else f.momentum, Qt.Key.Key_Return)

    def apply_valid(self) -> None:
        config = self.random_config()
        self.w.form.set_config(config)
        self.press_apply()
        assert self.applied == config and self.w.form.error.isHidden()

    def apply_invalid(self) -> None:
        f = self.w.form
        what, text = self.rng.choice(BAD_FORM)
        before = self.applied
        self.w.form.set_config(before)
        if what == "manual+momentum":
            f.update_mode.setCurrentIndex(f.update_mode.findData(UpdateMode.MANUAL))
            f.optimizer.setCurrentIndex(f.optimizer.findData(OptimizerKind.SGD))
            f.momentum.setText(text)
        elif what == "manual+adam":
            f.update_mode.setCurrentIndex(f.update_mode.findData(UpdateMode.MANUAL))
            f.optimizer.setCurrentIndex(f.optimizer.findData(OptimizerKind.ADAM))
            f.momentum.setText("0")
        else:
            getattr(f, what).setText(text)
        with self.qtbot.assertNotEmitted(f.config_applied):
            self.press_apply()
        field = {"manual+momentum": "momentum", "manual+adam": "update"}.get(what, what)
        assert not f.error.isHidden() and f.error.text().startswith(f"Not applied — {field}:"), f.error.text()
        assert self.applied is before
        self.refused += 1
        self.w.form.set_config(before)  # the user fixes the field again

    def speed(self) -> None:
        limit = self.rng.choice(SPEEDS)
        if self.rng.random() < 0.5:
            self.w.worker.set_speed_limit(limit or None)
        else:
            self.w.form.set_config(self.applied)
            self.w.form.speed.setValue(limit)
            self.press_apply()

    # ------------------------------------------------------------ the filter inspector
    def click_filter(self) -> None:
        """A real mouse click at the centre of a random conv1 filter (wherever the layout put it)."""
        fp, k = self.w.filter_panel, self.rng.randrange(FILTERS.n)
        x, y, cw, ch = FILTERS.rect(k)
        at = fp.graphics.mapFromScene(fp.mosaic.view.mapViewToScene(QPointF(x + cw / 2, y + ch / 2)))
        hit = fp.cell_at_scene(fp.graphics.mapToScene(at))
        self.qtbot.mouseClick(fp.graphics.viewport(), Qt.MouseButton.LeftButton, pos=at)
        if hit is not None and fp.graphics.viewport().rect().contains(at):
            assert fp.selected == hit[0] and self.w.feature_panel.highlight_rect.isVisible()


def abuse(qtbot, tmp_path, monkeypatch, caplog, *, commands: int, seed: int, check_every: int = 250) -> Abuser:
    ledger = Ledger().install(monkeypatch)
    errors: list[str] = []
    with caplog.at_level(logging.ERROR, logger="lenet_viz"):
        w = open_window(qtbot, tmp_path)
        w.worker.errorOccurred.connect(errors.append)
        triggered: Counter[str] = Counter()
        for name, action in w.actions_by_name.items():
            action.triggered.connect(lambda _=False, n=name: triggered.update([n]))
        a = Abuser(qtbot, w, random.Random(seed))
        for done in range(0, commands, check_every):
            a.fire(min(check_every, commands - done))
            check_consistent(qtbot, w, ledger, a.applied)
            assert errors == []
        # the end: everything the GUI received is still exactly what the engine did
        state = check_consistent(qtbot, w, ledger, a.applied)
        # and nothing the abuse did lingers: R and five steps replay a fresh run of these settings
        qtbot.keyClick(w, Qt.Key.Key_R)
        for _ in range(5):
            qtbot.keyClick(w, Qt.Key.Key_N)
        check_consistent(qtbot, w, ledger, a.applied)
        fresh = Trainer(a.applied)
        assert list(w.history.column("loss")) == [fresh.step().loss for _ in range(5)]
        w.close()
        assert not w.worker.isRunning()
    assert errors == [] and [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert set(a.fired) == set(a.commands), f"never fired: {set(a.commands) - set(a.fired)}"
    assert triggered["run"] and triggered["step"] and triggered["phase"] and triggered["reset"]
    print(
        f"\nabuse seed {seed}: {sum(a.fired.values())} commands {dict(a.fired)}; shortcuts/actions "
        f"{dict(triggered)}; {a.refused} bad settings refused; {ledger.resets} resets; "
        f"{ledger.stats_seen} iterations received over {ledger.drains} drains; ended at iteration {state.iteration}"
    )
    return a


@pytest.mark.timeout(300)
def test_three_thousand_random_commands(qtbot, tmp_path, monkeypatch, caplog):
    abuse(qtbot, tmp_path, monkeypatch, caplog, commands=3000, seed=0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_twenty_thousand_random_commands(qtbot, tmp_path, monkeypatch, caplog):
    abuse(qtbot, tmp_path, monkeypatch, caplog, commands=20_000, seed=1, check_every=1000)


CLOSE_MOMENTS = ("at once", "running", "mid-phase", "after reset", "after new seed", "speed-limited", "busy queue")


@pytest.mark.timeout(300)
def test_closing_at_random_moments_is_clean_and_quick(qtbot, tmp_path):
    rng = random.Random(7)
    moments = list(CLOSE_MOMENTS) + [rng.choice(CLOSE_MOMENTS) for _ in range(10 - len(CLOSE_MOMENTS))]
    for i, moment in enumerate(moments):
        (tmp_path / str(i)).mkdir()
        w = open_window(qtbot, tmp_path / str(i), seed=i)
        worker = w.worker
        if moment == "running":
            worker.play()
            qtbot.waitUntil(lambda: w.session.iteration >= 3, timeout=30000)
        elif moment == "mid-phase":
            for _ in range(rng.randint(1, 4)):
                worker.step_phase()
            ask(qtbot, worker, engine_state)
        elif moment == "after reset":
            worker.play()
            worker.reset()
        elif moment == "after new seed":
            worker.play()
            w.form.seed.setValue(1000 + i)
            w.form.apply()
        elif moment == "speed-limited":
            worker.set_speed_limit(0.5)
            worker.play()
        elif moment == "busy queue":  # hundreds of commands still waiting when the window goes
            for _ in range(300):
                rng.choice((worker.step_phase, worker.step_iteration, worker.toggle, worker.request_snapshot))()
        with qtbot.waitSignal(worker.finished, timeout=10000):
            w.close()
        assert not worker.isRunning(), moment


def test_garbage_is_collected_only_in_the_gui_thread(qtbot, tmp_path):
    """Python's cyclic GC runs in whichever thread allocates; run in the training thread it can
    destroy Qt objects there and deadlock against the GUI thread (this suite once froze so).
    While a worker runs, every collection must happen in the GUI thread; afterwards GC is as before."""
    enabled_before = gc.isenabled()
    threads: set[int] = set()

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            threads.add(threading.get_ident())

    gc.callbacks.append(seen)
    try:
        w = open_window(qtbot, tmp_path)
        w.worker.play()
        qtbot.waitUntil(lambda: w.session.iteration >= 300 and len(threads) > 0, timeout=60000)
        w.close()
    finally:
        gc.callbacks.remove(seen)
    assert threads == {threading.get_ident()}
    assert gc.isenabled() is enabled_before


def test_closing_while_the_data_is_still_loading_waits_instead_of_aborting(qtbot, tmp_path, monkeypatch):
    """Building the trainer (loading MNIST from a slow disk) cannot be cut short; a window closed
    meanwhile must wait for it: a QThread destroyed while running aborts the whole process."""
    entered, gate = threading.Event(), threading.Event()
    load = trainer_module.load_dataset

    def slow_load(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        entered.set()
        gate.wait(60)
        return load(*args, **kwargs)

    class OpenGateWhenWaiting(logging.Handler):  # the window says it is waiting: the disk answers
        def emit(self, record: logging.LogRecord) -> None:
            gate.set()

    monkeypatch.setattr(trainer_module, "load_dataset", slow_load)
    monkeypatch.setattr(main_window, "CLOSE_WAIT_MS", 50)
    handler = OpenGateWhenWaiting(logging.WARNING)
    main_window.log.addHandler(handler)
    try:
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = main_window.MainWindow(TrainConfig(dataset="random", threads=1), settings=settings)
        qtbot.addWidget(w)
        w.show()
        assert entered.wait(60)
        w.close()  # the first wait times out, the window says so, the data arrives, the thread ends
    finally:
        main_window.log.removeHandler(handler)
    assert gate.is_set() and not w.worker.isRunning() and w.isHidden()
