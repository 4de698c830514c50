"""The full GUI app, measured: what watching costs training, and whether the window keeps up.

One `measure()` call (one interleaved round) opens the real MainWindow offscreen at a desktop
size, lets it train flat out with every panel drawing, and reads:

- the training rate from the worker's own clock: a `worker.call()` marker runs between two
  iterations at the start and at the end of the timed window and reads (time, iteration, the
  worker thread's CPU time) there, so neither launch nor warm-up nor GUI lag blur it;
- GUI stalls: a 5 ms precise QTimer on the GUI thread, lateness of every tick (p50/p99/max).
  Qt's glib dispatcher runs timers only when no posted event is pending, so this is "how long
  until the event loop was idle", the strictest reading.  `gui_busy_ms` is the same probe in
  GUI-thread CPU time: what the stall would be on an idle machine, steady while other people's
  processes take the cores;
- display fps: drains that brought a new snapshot per second (each one is drawn), and the
  wall and CPU time of each panel's `show()`, so a slow frame names its panel;
- step latency: paused, press N (the Step action) and time until the window's snapshot, the
  loss curve and the gradient curves all hold the new iteration and pending paints are done;
- RSS over the round (`soak.app_rss_mb`: the GUI process plus the training process), and launch time and the long soak in child processes
  (`app_launch`; launch once per process: it does not vary by round).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..training import StepStats, TrainConfig
from ..training.messages import RunStarted, SnapshotTaken, Stats
from .app_launch import TIMEOUT_S, launch, soak
from . import jobs
from .soak import app_rss_mb

__all__ = ["measure", "soak", "AppRun", "stall_stats"]

PROBE_MS = 5  # the stall probe's period: finer than a 60 Hz frame, coarse enough to cost nothing
WINDOW_SIZE = (1600, 960)  # the app's first-launch size on a desktop (offscreen's screen is 800 × 800)
WARMUP_S = 1.0  # running, untimed: first draws of every curve and pyqtgraph's lazy set-up happen here
STEP_REPEATS = 30
#: Points the loss and gradient curves hold when timing starts.  A session past ~16k iterations
#: always holds 8k-16k (MetricHistory halves at 16,384), and plotting cost grows with points, so
#: a short round starting from an empty history would time only the cheap first minute.
HISTORY_POINTS = 15_000
PANELS = ("loss_panel", "gradient_panel", "feature_panel", "filter_panel", "parameter_panel", "autograd_panel")

_launch: dict[str, Any] = {}  # launch figures, measured once per process


def measure(config: TrainConfig, dataset: Dataset, iterations: int, threads: int) -> dict[str, Any]:
    """One round: `iterations` timed iterations in the full app with the worker at `threads` torch threads."""
    del dataset  # the app loads its own data, as it does for a user (that cost is launch, not timed)
    config = config.replace(threads=threads)
    run = AppRun(config)
    try:
        run.prefill(HISTORY_POINTS)
        result = run.train(iterations)
        drawing = run.train(max(20, iterations // 4), drawing=True)  # a user drawing a digit meanwhile (#14)
        result["while_drawing"] = {k: drawing[k] for k in ("gui_stall_ms", "iters_per_s", "display_fps")}
        result["step_latency_ms"] = run.step_latency(STEP_REPEATS)
        undrawn = run.train_undrawn(iterations)  # last: the window's history misses these iterations
        result["undrawn"] = {k: undrawn[k] for k in ("iters_per_s", "worker_cpu_ms_per_iter", "gui_cpu_share")}
    finally:
        run.close()
    if not _launch:
        _launch.update(launch(config))
    return {**result, **_launch}


def stall_stats(lateness_ms: list[float]) -> dict[str, float]:
    """p50 / p99 / max of probe lateness in ms (0 when there were no ticks)."""
    a = np.asarray(lateness_ms or [0.0])
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def _qt():  # noqa: ANN202 - the QApplication, created offscreen unless one exists
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


class _Pen:
    """Real mouse events on the drawing canvas: a circle traced over and over, lifted every 40 moves."""

    def __init__(self, window: Any) -> None:
        from PySide6.QtTest import QTest  # noqa: F401 - checked here, used in move()

        window.docks["drawing"].raise_()
        self.canvas, self.k = window.probe_tools.drawing.canvas, 0

    def move(self) -> None:
        import math

        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        c, k = self.canvas, self.k
        side = min(c.width(), c.height())
        x = c.width() / 2 + side * 0.3 * math.cos(k / 6)
        y = c.height() / 2 + side * 0.3 * math.sin(k / 6)
        point = QPoint(round(x), round(y))
        if k % 40 == 0:
            QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
        elif k % 40 == 39:
            QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
        else:
            QTest.mouseMove(c, point)
        self.k += 1


class AppRun:
    """One MainWindow's life: built, shown, first snapshot drawn; then trained, stepped, closed."""

    def __init__(self, config: TrainConfig) -> None:
        from PySide6.QtCore import QSettings

        from ..app.main_window import MainWindow, style_application

        self.app = _qt()
        style_application(self.app)  # antialiasing and the theme: what a user's frames cost
        self._settings_dir = tempfile.TemporaryDirectory(prefix="lenet-viz-bench-")  # never the user's settings
        settings = QSettings(str(Path(self._settings_dir.name) / "settings.ini"), QSettings.Format.IniFormat)
        # Every app run is recorded (as for a user): the figures include the recording's cost.
        self.window = w = MainWindow(config, settings=settings, record=Path(self._settings_dir.name) / "bench.lvz",
                                     freeze_launch=True)  # as run_app() makes it
        self.timing = False  # collect per-panel times and frames only inside the timed window
        self.frames = self.plot_frames = 0
        # Per panel, wall ms and GUI-thread CPU ms of each show(): CPU time is what a panel
        # costs; wall time adds what other threads and processes took meanwhile.
        self.panel_ms: dict[str, list[tuple[float, float]]] = {name: [] for name in (*PANELS, "refresh")}
        self._refresh_start = (0.0, 0.0)
        drain = w.worker.drain  # wrapped before the event loop runs: no drain is missed

        def watched():  # noqa: ANN202
            self._refresh_start = (time.perf_counter(), time.thread_time())
            events = drain()
            if self.timing:
                self.frames += any(isinstance(e, (SnapshotTaken, RunStarted)) for e in events)
                self.plot_frames += any(isinstance(e, Stats) for e in events)
            return events

        w.worker.drain = watched
        for name in PANELS:
            self._time(getattr(w, name), "show", name)
        self._time(w, "_show_text", "refresh", since_drain=True)  # the last call of refresh()
        w.resize(*WINDOW_SIZE)
        w.show()
        self.wait(lambda: w.snapshot is not None and w.session.info is not None, "the first snapshot")

    def _time(self, owner: Any, method: str, name: str, since_drain: bool = False) -> None:
        inner: Callable[..., Any] = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = self._refresh_start if since_drain else (time.perf_counter(), time.thread_time())
            out = inner(*args, **kwargs)
            if self.timing and args:  # show() without arguments is QWidget.show()
                self.panel_ms[name].append(((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000))
            return out

        setattr(owner, method, timed)

    # ------------------------------------------------------------------ event loop
    def wait(
        self, done: Callable[[], bool], what: str, tick_ms: int = 1, on_tick: Callable[[], None] | None = None
    ) -> None:
        """Run the event loop until `done()`, checking every `tick_ms` on a precise timer."""
        from PySide6.QtCore import QEventLoop, Qt, QTimer

        if done():
            return
        loop, timer = QEventLoop(), QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(tick_ms)
        deadline = time.perf_counter() + TIMEOUT_S

        def tick() -> None:
            if on_tick is not None:
                on_tick()
            if done() or time.perf_counter() > deadline:
                loop.quit()

        timer.timeout.connect(tick)
        timer.start()
        loop.exec()
        timer.stop()
        if not done():
            raise TimeoutError(f"app benchmark: no {what} within {TIMEOUT_S:.0f} s")

    def mark(self) -> tuple[float, int, float]:
        """(time, iteration, worker-thread CPU s), read in the worker between two iterations."""
        future = self.window.worker.call(jobs.clock_mark)
        self.wait(future.done, "benchmark marker from the worker")
        return future.result()

    def iteration(self) -> int:
        return self.window.session.iteration

    # ------------------------------------------------------------------ measurements
    def prefill(self, points: int) -> None:
        """Step once, then put `points` earlier iterations (numbered below zero: noisy copies of
        that real one) in the window's history, so the plots draw what a long session draws."""
        w = self.window
        w.actions_by_name["step"].trigger()
        future = w.worker.call(jobs.last_stats)
        self.wait(lambda: future.done() and len(w.history) > 0, "the first iteration")
        real = future.result()
        rng = np.random.default_rng(0)
        noise = rng.lognormal(0.0, 0.3, size=(points, 3))

        def fake(k: int) -> StepStats:
            a, b, c = noise[k]
            return replace(
                real, iteration=k - points, loss=real.loss * a, accuracy=min(1.0, real.accuracy * b),
                grad_norms={n: v * b for n, v in real.grad_norms.items()},
                update_ratios={n: v * c for n, v in real.update_ratios.items()},
            )

        w.history.clear()
        w.history.extend([fake(k) for k in range(points)] + [real])

    def train(self, iterations: int, drawing: bool = False) -> dict[str, Any]:
        """Run flat out; time `iterations` iterations after a warm-up, probing the GUI every PROBE_MS.
        `drawing`: meanwhile the mouse draws on the "Your digit" canvas (a stroke every probe tick, so the
        drawing becomes the probe again and again, as a user's does)."""
        w = self.window
        pen = _Pen(w) if drawing else None
        self.frames = self.plot_frames = 0  # this call's frames only
        w.worker.play()
        warm_until = time.perf_counter() + WARMUP_S
        self.wait(lambda: time.perf_counter() >= warm_until and self.iteration() > 0, "warm-up")
        lateness: list[float] = []
        busy: list[float] = []  # GUI-thread CPU ms per probe interval: the stall on an idle machine
        rss = [app_rss_mb(w.worker)]
        last = [time.perf_counter(), time.thread_time()]

        def probe() -> None:
            now, cpu = time.perf_counter(), time.thread_time()
            lateness.append(max(0.0, (now - last[0]) * 1000 - PROBE_MS))
            busy.append((cpu - last[1]) * 1000)
            last[:] = [now, cpu]
            if len(lateness) % 20 == 0:
                rss.append(app_rss_mb(w.worker))
            if pen is not None:
                pen.move()

        t0, i0, worker_cpu0 = self.mark()
        cpu0, gui_cpu0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        self.timing, last[:] = True, [time.perf_counter(), time.thread_time()]
        self.wait(lambda: self.iteration() >= i0 + iterations, "progress", PROBE_MS, probe)
        self.timing = False
        t1, i1, worker_cpu1 = self.mark()
        cpu, gui_cpu, wall = time.process_time() - cpu0, time.thread_time() - gui_cpu0, time.perf_counter() - wall0
        if w.worker.process:  # training CPU is the other process's: add its training thread
            cpu += worker_cpu1 - worker_cpu0
        rss.append(app_rss_mb(w.worker))
        w.worker.pause()
        n, secs = i1 - i0, t1 - t0
        rate = n / secs
        config = w.session.config  # type: ignore[union-attr]
        return {
            "iters_per_s": rate,
            "samples_per_s": rate * config.batch_size,
            "timed_iterations": n,
            "cpu_ms_per_iter": cpu / n * 1000,  # GUI and training: what training in the app costs the machine
            "worker_cpu_ms_per_iter": (worker_cpu1 - worker_cpu0) / n * 1000,
            "gui_cpu_share": gui_cpu / wall,  # of one core, spent by the GUI thread while training
            "gui_stall_ms": stall_stats(lateness),
            "gui_busy_ms": stall_stats(busy),  # the same probe in GUI CPU time: robust to a busy machine
            "probe_ticks": len(lateness),
            "display_fps": self.frames / wall,
            "plot_fps": self.plot_frames / wall,
            "refresh_ms": {k: _summary(v) for k, v in self.panel_ms.items()},
            "rss_mb": {"start": rss[0], "peak": max(rss), "end": rss[-1], "growth": rss[-1] - rss[0]},
            "rss_over_iterations": n,
            "history_points": {"start": HISTORY_POINTS + 1, "end": len(w.history), "stride": w.history.stride},
            "threads": config.threads,
            "training_in": "process" if w.worker.process else "thread",
        }

    def train_undrawn(self, iterations: int) -> dict[str, Any]:
        """Train as `train` does with the window drawing nothing: its display stopped, every event still
        received from the training process (unpickled by the worker thread) and dropped.  Against `train`,
        what drawing the panels costs the training; against the engine alone, what the training process,
        its pipe and the recording cost.  The window's history then misses these iterations."""
        from PySide6.QtCore import QTimer

        w, newest = self.window, [0]

        def drop() -> None:
            for event in w.worker.drain():  # resolves the markers' futures too
                if isinstance(event, Stats):
                    newest[0] = event.stats.iteration

        sink = QTimer()
        sink.setInterval(w.timer.interval())
        sink.timeout.connect(drop)
        w.timer.stop()
        w.worker.snapshotReady.disconnect(w.refresh)
        sink.start()
        try:
            w.worker.play()
            warm_until = time.perf_counter() + WARMUP_S
            self.wait(lambda: time.perf_counter() >= warm_until, "warm-up", 20)
            t0, i0, worker_cpu0 = self.mark()
            gui_cpu0 = time.thread_time()
            self.wait(lambda: newest[0] >= i0 + iterations, "progress", 20)
            t1, i1, worker_cpu1 = self.mark()
            gui_cpu = time.thread_time() - gui_cpu0
            w.worker.pause()
            self.wait(lambda: not w.worker.running, "pause", 20)
        finally:
            sink.stop()
            w.worker.snapshotReady.connect(w.refresh)
            w.timer.start()
        return {"iters_per_s": (i1 - i0) / (t1 - t0), "worker_cpu_ms_per_iter": (worker_cpu1 - worker_cpu0) / (i1 - i0) * 1000,
                "gui_cpu_share": gui_cpu / (t1 - t0)}

    def step_latency(self, repeats: int) -> dict[str, float]:
        """Paused, press N `repeats` times; ms until every panel shows the new iteration (painted)."""
        w = self.window
        self.wait(lambda: not w.worker.running, "pause")
        step = w.actions_by_name["step"]
        times: list[float] = []
        for _ in range(repeats):
            _, at, _ = self.mark()  # the trainer's iteration, after everything queued before
            self.wait(lambda: self._shows(at), "the paused iteration on screen")
            self.app.processEvents()  # its paints too, so they are not timed as the step's
            start = time.perf_counter()
            step.trigger()  # what the N key does
            self.wait(lambda: self._shows(at + 1), "the stepped iteration on screen")
            self.app.processEvents()  # the paints those changes scheduled
            self.app.processEvents()
            times.append((time.perf_counter() - start) * 1000)
        return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)), "max": max(times)}

    def _shows(self, iteration: int) -> bool:
        """The snapshot, the loss curve and the gradient curves all end at `iteration`."""
        w = self.window
        if w.snapshot is None or w.snapshot.iteration != iteration:
            return False
        if w.history.stride != 1:  # decimated: a curve's last point closes a bucket, not this iteration
            return True
        curves = (w.loss_panel.loss_curve, w.gradient_panel.grad_curves["conv1"])
        ends = [c.getOriginalDataset()[0] for c in curves]
        return all(x is not None and len(x) > 0 and x[-1] == iteration for x in ends)

    def close(self) -> None:
        self.window.close()  # stops and waits for the worker
        self.window.deleteLater()
        self.app.processEvents()
        self._settings_dir.cleanup()


def _summary(times: list[tuple[float, float]]) -> dict[str, float]:
    """Calls, wall mean/p99/max and CPU mean/p99 (ms) of one panel's show() or of refresh()."""
    wall, cpu = np.asarray(times or [(0.0, 0.0)]).T
    pct = np.percentile
    return {"calls": len(times), "mean": float(wall.mean()), "p99": float(pct(wall, 99)), "max": float(wall.max()),
            "cpu_mean": float(cpu.mean()), "cpu_p99": float(pct(cpu, 99))}
