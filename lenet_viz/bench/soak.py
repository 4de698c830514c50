"""`python -m lenet_viz.bench.soak`: the real app, training flat out for a long time; does memory grow?

Runs the whole application offscreen — MainWindow, the worker at full speed, the 30 Hz display
timer draining and every panel drawing — for N iterations on a small, fast configuration
(the tutorial's random tensors, batch 8, one torch thread), samples the process's resident
memory every few seconds and reports, as JSON:

- iterations, wall time, iterations/s;
- RSS after a warm-up (caches, allocator pools and pyqtgraph's first draws settle in the first
  ~2,000 iterations), its peak, at the end, and the growth start -> end;
- whether anything was lost (every iteration's stats reached the window, in order) and any
  error (worker errors, divergence, exceptions in Qt slots, Qt critical messages).

Exit status: 0 when the run completed cleanly with RSS growth within --max-growth-mb, else 1
(2 for bad options).  The JSON is rewritten at every sample, so a long run that dies still
leaves its figures behind.  `--tracemalloc` adds the Python allocations that grew most
(slower; for finding a leak, not for the figures).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from ..training.messages import RunStarted, SnapshotTaken, Stats

DEFAULT_CONFIG = dict(dataset="random", batch_size=8, threads=1, eval_every=200, eval_samples=128, seed=0)


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process (this one by default) in MB, from /proc (Linux); NaN where there is none."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def app_rss_mb(worker: Any) -> float:
    """The app's whole footprint: this (GUI) process plus its training process, if it has one."""
    pid = worker.child_pid
    return rss_mb() + (rss_mb(pid) if pid is not None else 0.0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lenet_viz.bench.soak", description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=100_000, help="iterations to train (default 100000)")
    p.add_argument("--warmup", type=int, default=2000, help="iterations before the start RSS is taken (default 2000)")
    p.add_argument("--sample-every", type=float, default=5.0, metavar="S", help="seconds between RSS samples (default 5)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_CONFIG["batch_size"], help="default 8")
    p.add_argument("--dataset", default=DEFAULT_CONFIG["dataset"], help="default random (the tutorial's tensors)")
    p.add_argument("--max-growth-mb", type=float, default=50.0, help="fail above this RSS growth (default 50)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop early after this long (reported as incomplete)")
    p.add_argument("--json", type=Path, default=Path("soak.json"), help="where to write the results (default soak.json)")
    p.add_argument("--tracemalloc", action="store_true", help="also report the Python allocations that grew most")
    p.add_argument("--no-record", action="store_true", help="do not record the run (default: recorded, as the app does)")
    args = p.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0 or args.sample_every <= 0:
        p.error("--iterations must be >= 1, --warmup >= 0, --sample-every > 0")
    args.warmup = min(args.warmup, args.iterations // 2)
    return args


class Soak:
    """One soak run: owns the window, watches every drain, samples memory, decides when to stop."""

    def __init__(self, args: argparse.Namespace) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QSettings, QTimer, qInstallMessageHandler
        from PySide6.QtWidgets import QApplication

        from ..app.main_window import MainWindow
        from ..training import TrainConfig

        self.args = args
        self.app = QApplication.instance() or QApplication([])
        self.errors: list[str] = []
        self.qt_warnings = 0
        qInstallMessageHandler(self._on_qt_message)
        self._excepthook, sys.excepthook = sys.excepthook, self._on_exception  # exceptions in Qt slots
        self.config = TrainConfig(**{**DEFAULT_CONFIG, "dataset": args.dataset, "batch_size": args.batch_size})
        self._settings_dir = tempfile.TemporaryDirectory(prefix="lenet-viz-soak-")  # never the user's settings
        settings = QSettings(str(Path(self._settings_dir.name) / "settings.ini"), QSettings.Format.IniFormat)
        # As for a user, the run is recorded (time travel): its file must stay within its budget.
        self.recording = None if args.no_record else Path(self._settings_dir.name) / "soak.lvz"
        self.recording_peak = 0  # bytes, file and write-ahead log, at the RSS samples
        self.window = w = MainWindow(self.config, settings=settings, record=self.recording, freeze_launch=True)  # as run_app()
        self.received = 0  # stats the window drained, checked to run 1, 2, 3, ...
        self.gaps = 0
        self.drains = 0
        self.max_drain_gap_s = 0.0
        self._last_drain: float | None = None
        drain = w.worker.drain  # wrapped before the event loop runs, so no drain is missed

        def watched():  # noqa: ANN202
            events = drain()
            self._see(events)
            return events

        w.worker.drain = watched
        w.worker.errorOccurred.connect(lambda m: self.errors.append(f"worker error: {m}"))
        w.worker.diverged.connect(lambda i, loss: self.errors.append(f"diverged at iteration {i} (loss {loss})"))
        w.show()
        self.samples: list[tuple[float, int, float]] = []  # (seconds since start, iteration, RSS MB)
        self.t0 = time.perf_counter()
        self.t_warm: float | None = None
        self.it_warm = 0
        self.rss_warm: float | None = None
        self.rss_launch = rss_mb()
        self.gc_warm: int | None = None
        self.snapshot_warm = None
        self.started = False
        self.finished = False
        self.stopped_early = False
        self.snapshots_drawn = 0
        self.sampler = QTimer()
        self.sampler.setInterval(int(args.sample_every * 1000))
        self.sampler.timeout.connect(self.sample)
        self.watch = QTimer()  # checks progress often enough to stop close to N
        self.watch.setInterval(50)
        self.watch.timeout.connect(self._check)
        self.watch.start()

    # ------------------------------------------------------------------ events
    def _on_qt_message(self, mode, context, message: str) -> None:  # noqa: ANN001
        from PySide6.QtCore import QtMsgType

        if mode in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            self.errors.append(f"Qt: {message}")
        else:
            self.qt_warnings += 1

    def _on_exception(self, kind, value, tb) -> None:  # noqa: ANN001
        self.errors.append("".join(traceback.format_exception_only(kind, value)).strip())
        self._excepthook(kind, value, tb)

    def _see(self, events: list) -> None:
        now = time.perf_counter()
        if self._last_drain is not None:
            self.max_drain_gap_s = max(self.max_drain_gap_s, now - self._last_drain)
        self._last_drain = now
        self.drains += 1
        self.snapshots_drawn += any(isinstance(e, (SnapshotTaken, RunStarted)) for e in events)
        for e in events:
            if isinstance(e, RunStarted):
                self.received = 0
            elif isinstance(e, Stats):
                if e.stats.iteration != self.received + 1:
                    self.gaps += 1
                self.received = e.stats.iteration

    def _start(self) -> None:
        """The trainer is built and the first snapshot drawn (the window knows its dataset): go."""
        self.started = True
        self.t0 = time.perf_counter()
        self.sample()
        self.sampler.start()
        self.window.worker.play()

    @property
    def iteration(self) -> int:
        return self.received

    def _check(self) -> None:
        a = self.args
        if not self.started:
            if self.window.session.info is not None:
                self._start()
            elif self.errors:  # the trainer could not even be built
                self._finish()
            return
        if self.t_warm is None and self.iteration >= a.warmup:
            self._warm()
        timed_out = a.max_minutes is not None and time.perf_counter() - self.t0 > a.max_minutes * 60
        if self.iteration >= a.iterations or timed_out or (self.errors and not self.window.worker.running):
            self.stopped_early = self.iteration < a.iterations
            self._finish()

    def _warm(self) -> None:
        gc.collect()
        self.t_warm, self.it_warm = time.perf_counter(), self.iteration
        self.rss_warm = app_rss_mb(self.window.worker)
        self.gc_warm = len(gc.get_objects())
        if self.args.tracemalloc:
            import tracemalloc

            tracemalloc.start(12)
            self.snapshot_warm = tracemalloc.take_snapshot()

    def sample(self) -> None:
        self.samples.append((round(time.perf_counter() - self.t0, 2), self.iteration, round(app_rss_mb(self.window.worker), 1)))
        self.recording_peak = max(self.recording_peak, self._recording_bytes())
        self.write(self.results())

    def _recording_bytes(self) -> int:
        """The recording on disk now: the file and its write-ahead log."""
        if self.recording is None:
            return 0
        files = [self.recording, self.recording.with_name(self.recording.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())

    def _finish(self) -> None:
        self.watch.stop()
        self.sampler.stop()
        self.window.worker.pause()
        self.t_end = time.perf_counter()
        memory = app_rss_mb(self.window.worker)  # while the training process still exists
        self.window.close()  # stops and waits for the worker
        self.window.refresh()  # whatever the worker produced after the last timer tick
        self.finished = True
        self.samples.append((round(self.t_end - self.t0, 2), self.iteration, round(memory, 1)))
        self.write(self.results())
        self.app.quit()

    # ------------------------------------------------------------------ results
    def results(self) -> dict[str, Any]:
        a = self.args
        now = getattr(self, "t_end", time.perf_counter())
        wall = now - self.t0
        rss = [r for _, _, r in self.samples]
        end_rss = rss[-1] if rss else float("nan")
        timed_iters = self.iteration - self.it_warm
        timed_s = now - self.t_warm if self.t_warm is not None else 0.0
        out: dict[str, Any] = {
            "command": "python -m lenet_viz.bench.soak " + " ".join(sys.argv[1:]),
            "config": self.config.to_dict(),
            "finished": self.finished,
            "completed": self.finished and not self.stopped_early,
            "iterations_target": a.iterations,
            "iterations": self.iteration,
            "wall_s": round(wall, 2),
            "iters_per_s": round(self.iteration / wall, 1) if wall > 0 else 0.0,
            "iters_per_s_after_warmup": round(timed_iters / timed_s, 1) if timed_s > 0 else None,
            "warmup_iterations": self.it_warm if self.t_warm is not None else None,
            "rss_mb": {
                "launch": round(self.rss_launch, 1),
                "start": None if self.rss_warm is None else round(self.rss_warm, 1),
                "peak": max(rss) if rss else None,
                "end": end_rss,
                "growth": None if self.rss_warm is None else round(end_rss - self.rss_warm, 1),
                "max_growth_allowed": a.max_growth_mb,
            },
            "gc_objects": {"start": self.gc_warm, "end": None},
            "stats_received": self.received,
            "stats_gaps": self.gaps,
            "drains": self.drains,
            "max_drain_gap_s": round(self.max_drain_gap_s, 3),
            "snapshots_drawn": self.snapshots_drawn,
            "display_fps": round(self.snapshots_drawn / wall, 1) if wall > 0 else 0.0,
            "errors": list(self.errors),
            "qt_warnings": self.qt_warnings,
            "recording": self._recording_figures(),
            "samples": [list(s) for s in self.samples],
        }
        return out

    def _recording_figures(self) -> dict[str, Any] | None:
        """The recording's size on disk (with its write-ahead log) beside its budget; None when not recording."""
        if self.recording is None:
            return None
        from ..training.recorder import DEFAULT_BUDGET

        size = self._recording_bytes()
        peak = max(self.recording_peak, size)  # sampled with the RSS: mid-run is where a log once grew
        return {"mb": round(size / 2**20, 1), "peak_mb": round(peak / 2**20, 1), "budget_mb": DEFAULT_BUDGET / 2**20,
                "within_budget": peak <= DEFAULT_BUDGET}

    def final_results(self) -> dict[str, Any]:
        out = self.results()
        gc.collect()
        out["gc_objects"]["end"] = len(gc.get_objects())
        trainer = self.window.worker.trainer  # the thread has ended: safe to read
        # a training process: the position its last message reported
        engine_iteration = trainer.iteration if trainer is not None else self.window.session.iteration
        out["engine_iteration"] = engine_iteration
        out["lost"] = (engine_iteration or 0) - self.received + self.gaps  # must be 0
        if self.snapshot_warm is not None:
            import tracemalloc

            diff = tracemalloc.take_snapshot().compare_to(self.snapshot_warm, "lineno")
            out["tracemalloc_top"] = [str(d) for d in diff[:15]]
            tracemalloc.stop()
        growth = out["rss_mb"]["growth"]
        failures = []
        if not out["completed"]:
            failures.append("stopped before the target" if self.finished else "did not finish")
        if self.errors:
            failures.append(f"{len(self.errors)} error(s)")
        if out["lost"]:
            failures.append(f"{out['lost']} iteration(s) lost between engine and window")
        if growth is None or not growth <= self.args.max_growth_mb:
            failures.append(f"RSS growth {growth} MB (limit {self.args.max_growth_mb})")
        if (rec := out.get("recording")) and not rec["within_budget"]:
            failures.append(f"recording {rec['peak_mb']} MB at its peak (budget {rec['budget_mb']:g} MB)")
        out["failures"] = failures
        out["ok"] = not failures
        return out

    def write(self, results: dict[str, Any]) -> None:
        tmp = self.args.json.with_suffix(self.args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        tmp.replace(self.args.json)  # a reader never sees half a file

    def run(self) -> dict[str, Any]:
        self.app.exec()
        sys.excepthook = self._excepthook
        results = self.final_results()
        self.write(results)
        return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Soak(args).run()
    r, rec = results["rss_mb"], results.get("recording")
    recorded = f"recording {rec['mb']} MB (peak {rec['peak_mb']}, budget {rec['budget_mb']:g}); " if rec else ""
    print(
        f"soak: {results['iterations']:,} iterations in {results['wall_s']:.0f} s "
        f"({results['iters_per_s']:.0f} it/s, {results['iters_per_s_after_warmup']} after warm-up); "
        f"RSS start {r['start']} MB (after {results['warmup_iterations']} it), peak {r['peak']}, end {r['end']}, "
        f"growth {r['growth']} MB; lost {results['lost']}; errors {len(results['errors'])}; {recorded}"
        f"{'OK' if results['ok'] else 'FAILED: ' + '; '.join(results['failures'])} -> {args.json}",
        file=sys.stderr,
    )
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
