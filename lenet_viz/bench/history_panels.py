"""Time the loss and gradient panels per frame: `show(history)` then its paint, at 600x420 with a
15k-point history growing 3 points a frame (what a long session redraws 30 times a second).

    python -m lenet_viz.bench.history_panels [--old PATH] [--rounds 5] [--frames 60] [--png DIR] [--cpu]

With `--old PATH` (another history_curve.py, e.g. `git show BASE:lenet_viz/app/panels/history_curve.py`)
the panels are also built on that module's `history_curve`, interleaved round by round with the
current one, so a busy machine slows both alike.  Prints medians in ms (wall, or with `--cpu` the
GUI thread's CPU time, which other processes on the machine disturb less).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject

from lenet_viz.app.panels import gradients, history_curve, loss
from lenet_viz.training.history import MetricHistory
from lenet_viz.training.types import LAYERS, StepStats

SIZE = (600, 420)
POINTS = 15_000
PER_FRAME = 3


def stats(n: int) -> list[StepStats]:
    rng = np.random.default_rng(0)
    a, b, c = rng.lognormal(0.0, 0.3, size=(3, n))
    decay = np.exp(-np.arange(n) / 5000)
    return [
        StepStats(
            iteration=k + 1, epoch=0, loss=float(2.3 * decay[k] * a[k]), accuracy=float(min(1.0, 0.1 + k / n * b[k])),
            grad_norms={f"{layer}.{kind}": float(0.05 * b[k] * (i + 1)) for i, layer in enumerate(LAYERS)
                        for kind in ("weight", "bias")},
            weight_norms={f"{layer}.{kind}": 1.0 for layer in LAYERS for kind in ("weight", "bias")},
            update_ratios={layer: float(1e-3 * c[k] / (i + 1)) for i, layer in enumerate(LAYERS)},
            lr=0.01, samples_seen=(k + 1) * 64,
        )
        for k in range(n)
    ]


class Paints(QObject):
    """Counts paint events, to check that a frame's paint really happened."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def one_run(make_curve, cls, all_stats, frames: int, png: Path | None, tag: str, clock) -> tuple[list, list]:
    app = pg.mkQApp()
    loss.history_curve = gradients.history_curve = make_curve
    panel = cls()
    panel.resize(*SIZE)
    panel.show()
    paints = Paints()
    panel.view.viewport().installEventFilter(paints)
    history = MetricHistory()
    history.extend(all_stats[:POINTS])
    for k in range(0, POINTS, 1000):
        history.add_eval(k + 1, min(1.0, 0.1 + k / POINTS))
    panel.show(history)
    for _ in range(3):
        app.processEvents()
    shows, totals = [], []
    end = POINTS
    for _ in range(frames):
        history.extend(all_stats[end:end + PER_FRAME])
        end += PER_FRAME
        before = paints.count
        t0 = clock()
        panel.show(history)
        t1 = clock()
        app.processEvents()
        t2 = clock()
        if paints.count == before:
            raise RuntimeError("no paint happened")
        shows.append((t1 - t0) * 1000)
        totals.append((t2 - t0) * 1000)
    if png is not None:
        panel.grab().save(str(png / f"{cls.__name__}_{tag}.png"))
    panel.close()
    panel.deleteLater()
    app.processEvents()
    return shows, totals


def load(path: str):
    spec = importlib.util.spec_from_file_location("history_curve_other", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.history_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="another history_curve.py to time against the current one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--png", type=Path, help="save a grab of each panel here")
    parser.add_argument("--cpu", action="store_true", help="time the GUI thread's CPU time, not wall time "
                        "(steadier on a machine shared with other work)")
    args = parser.parse_args()
    all_stats = stats(POINTS + PER_FRAME * args.frames)
    variants = {"new": history_curve.history_curve}
    if args.old:
        variants["old"] = load(args.old)
    clock = time.thread_time if args.cpu else time.perf_counter
    results: dict[tuple[str, str], tuple[list, list]] = {}
    for r in range(args.rounds):
        order = list(variants.items()) if r % 2 == 0 else list(reversed(variants.items()))
        for cls in (loss.LossPanel, gradients.GradientPanel):
            for tag, make in order:
                shows, totals = one_run(make, cls, all_stats, args.frames, args.png if r == 0 else None, tag, clock)
                acc = results.setdefault((cls.__name__, tag), ([], []))
                acc[0].append(statistics.median(shows))
                acc[1].append(statistics.median(totals))
    for (name, tag), (shows, totals) in results.items():
        print(f"{name:14s} {tag}: show {statistics.median(shows):5.2f} ms   show+paint {statistics.median(totals):5.2f} ms"
              f"   (round medians of show+paint: {' '.join(f'{t:.2f}' for t in totals)})")


if __name__ == "__main__":
    main()
