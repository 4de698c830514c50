"""Tens of thousands of signal emits, across threads, must neither be lost nor kill the process.

Guards the PySide6 6.12.0 / Python 3.11 bug (DESIGN.md, "Known hazards"): every
Signal.emit() dropped a reference to True and the interpreter aborted with
"Fatal Python error: bool_dealloc" after a few thousand emits.  On Python 3.11 the refcount
check catches the leak long before the abort would.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from PySide6.QtCore import QObject, QThread, Signal, Slot

from drained import drain
from lenet_viz.app.worker import TrainingWorker
from lenet_viz.training import TrainConfig

EMITS_PER_SOURCE = 10_000  # x2 signals x2 threads = 40,000 emits
LONG = 60_000


@contextmanager
def no_true_refs_lost(emits: int) -> Iterator[None]:
    """The bug freed one reference to True per emit.  Unrelated garbage (other tests' objects)
    can free a few thousand too, so collect it first, keep the collector off meanwhile, and
    allow a quarter of the emits: the bug would lose all of them (and abort first)."""
    gc.collect()
    gc.disable()
    try:
        before = sys.getrefcount(True)
        yield
        assert sys.getrefcount(True) > before - emits // 4
    finally:
        gc.enable()


class Emitter(QObject):
    number = Signal(int)
    flag = Signal(bool)


class Counter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.numbers = 0
        self.flags = 0
        self.total = 0

    @Slot(int)
    def on_number(self, n: int) -> None:
        self.numbers += 1
        self.total += n

    @Slot(bool)
    def on_flag(self, value: bool) -> None:
        self.flags += value is True


class EmittingThread(QThread):
    def __init__(self, emitter: Emitter, count: int) -> None:
        super().__init__()
        self.emitter, self.count = emitter, count

    def run(self) -> None:
        for i in range(self.count):
            self.emitter.number.emit(i)
            self.emitter.flag.emit(True)


def test_many_signals_across_threads_all_arrive(qtbot):
    emitter, counter = Emitter(), Counter()
    emitter.number.connect(counter.on_number)  # queued from the thread, direct from here
    emitter.flag.connect(counter.on_flag)
    thread = EmittingThread(emitter, EMITS_PER_SOURCE)
    with no_true_refs_lost(4 * EMITS_PER_SOURCE):
        try:
            thread.start()
            for i in range(EMITS_PER_SOURCE):
                emitter.number.emit(i)
                emitter.flag.emit(True)
            expected = 2 * EMITS_PER_SOURCE
            qtbot.waitUntil(lambda: counter.numbers == expected and counter.flags == expected, timeout=LONG)
        finally:
            thread.quit()
            assert thread.wait(5000)
    assert counter.total == 2 * sum(range(EMITS_PER_SOURCE))


def _soak_worker(qtbot, steps: int, snapshots: int, toggles: int) -> None:
    """Drive the real worker's signal paths (snapshotReady, stateChanged) many times."""
    worker = TrainingWorker(TrainConfig(dataset="random", batch_size=4, eval_every=0), torch_threads=1)
    states: list[bool] = []
    worker.stateChanged.connect(states.append)
    try:
        with qtbot.waitSignal(worker.ready, timeout=LONG):
            worker.start()
        worker.drain()
        with no_true_refs_lost(snapshots + steps + 2 * toggles):
            for _ in range(snapshots):
                with qtbot.waitSignal(worker.snapshotReady, timeout=LONG):
                    worker.request_snapshot()
                assert drain(worker).snapshot is not None
            for i in range(steps):
                with qtbot.waitSignal(worker.snapshotReady, timeout=LONG):
                    worker.step_iteration()
                assert [s.iteration for s in drain(worker).stats] == [i + 1]
            worker.set_speed_limit(0.01)  # one iteration per play, then it waits on the queue
            for _ in range(toggles):
                with qtbot.waitSignals([worker.stateChanged, worker.stateChanged], timeout=LONG):
                    worker.play()
                    worker.pause()
            qtbot.waitUntil(lambda: len(states) == 2 * toggles, timeout=LONG)
        assert states == [True, False] * toggles
    finally:
        assert worker.shutdown(5000)


def test_worker_signals_soak(qtbot):
    _soak_worker(qtbot, steps=200, snapshots=2000, toggles=1000)


@pytest.mark.slow
def test_worker_signals_long_soak(qtbot):
    _soak_worker(qtbot, steps=3000, snapshots=3000, toggles=3000)
