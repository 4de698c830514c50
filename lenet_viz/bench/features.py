"""What each of the engine's features costs, measured on and off in the benchmark's own rounds.

The engine contender runs as the app's training does, minus what only a window asks for: health
flags and dead-ReLU counts every iteration, histograms every `histogram_every` iterations
(the distributions), a held-out evaluation every `eval_every`.  Next to it, interleaved in the
same rounds as the bare loop, run the engine with the recording on (a real file, as the app
records by default) and the engine with the distributions or the evaluation off.  A feature's
cost is the difference in CPU time per iteration between its two sides (process CPU: the
recording's writer thread counts) and the ratio of their rates.

Health flags cannot be switched off (every StepStats carries them): their cost is timed alone.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import Dataset
from ..training import TrainConfig
from ..training.health import HealthMonitor
from .loops import Block, Contender, EngineLoop, median


@dataclass(frozen=True)
class Feature:
    name: str
    what: str
    on: str  # the contender with the feature on
    off: str  # ... and with it off


FEATURES = (
    Feature("recording", "the recording: a row every iteration, keyframes (SQLite, a writer thread)",
            on="engine+recording", off="engine"),
    Feature("distributions", "weight/gradient/activation histograms every {histogram_every} iterations",
            on="engine", off="engine-distributions"),
    Feature("held-out evaluation", "{eval_samples} held-out images every {eval_every} iterations",
            on="engine", off="engine-evaluation"),
)


class FeatureLoops:
    """The engine variants the features need, warmed up; `close()` ends the recording and removes its file."""

    def __init__(self, config: TrainConfig, dataset: Dataset, warmup: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="lenet-viz-bench-")
        self.loops = {
            "engine+recording": EngineLoop(config, dataset, record=Path(self._dir.name) / "bench.lvz"),
            "engine-distributions": EngineLoop(config.replace(histogram_every=0), dataset),
            "engine-evaluation": EngineLoop(config.replace(eval_every=0), dataset),
        }
        for loop in self.loops.values():
            loop.run(warmup)
        self._recorded_from = self._recording_clock()

    def _recording_clock(self) -> tuple[int, float, float]:
        loop = self.loops["engine+recording"]
        rec = loop.recorder
        assert rec is not None
        rec.flush()  # the writer has handled everything so far: its clock covers it
        return loop.trainer.iteration, rec.listen_cpu_s, rec.writer_cpu_s

    def recording_threads(self) -> dict[str, float]:
        """What the recording's own work cost per iteration since the warm-up, timed where it runs: the
        training thread's (a row, keyframe captures) and the writer thread's (encoding, SQLite, commits).
        Steadier than on minus off, which also carries the rounds' noise and the neighbour-core tax."""
        (i0, listen0, writer0), (i1, listen1, writer1) = self._recorded_from, self._recording_clock()
        n = max(i1 - i0, 1)
        return {"iterations": i1 - i0, "training_thread_ms_per_iter": (listen1 - listen0) / n * 1000,
                "writer_ms_per_iter": (writer1 - writer0) / n * 1000}

    def contenders(self, pin: Callable[[Contender], Contender]) -> dict[str, Contender]:
        return {name: pin(loop.run) for name, loop in self.loops.items()}

    def close(self) -> None:
        for loop in self.loops.values():
            loop.close()
        self._dir.cleanup()


def feature_costs(blocks: dict[str, list[Block]], config: TrainConfig, health_us: float,
                  recording_threads: dict[str, float] | None = None) -> dict[str, Any]:
    """Each feature's CPU ms per iteration and rate, on and off, and what switching it on costs."""
    rows = []
    for f in FEATURES:
        if f.on not in blocks or f.off not in blocks:
            continue
        on, off = blocks[f.on], blocks[f.off]
        cpu_on, cpu_off = (median([b.cpu_ms_per_iter or 0.0 for b in side]) for side in (on, off))
        # Per round, on minus off: the two ran minutes apart at most, so drift in the machine's speed cancels.
        paired = [(a.cpu_ms_per_iter or 0.0) - (b.cpu_ms_per_iter or 0.0) for a, b in zip(on, off)]
        cost = median(paired)
        rate_on, rate_off = median([b.rate for b in on]), median([b.rate for b in off])
        rows.append({
            "feature": f.name, "what": f.what.format(**config.to_dict()), "on": f.on, "off": f.off,
            "cpu_ms_per_iter_on": cpu_on, "cpu_ms_per_iter_off": cpu_off,
            "cpu_ms_per_iter_cost": cost, "cpu_ms_per_iter_cost_rounds": paired,
            "cpu_share": cost / cpu_off if cpu_off else None,
            "iters_per_s_on": rate_on, "iters_per_s_off": rate_off, "rate_on_over_off": rate_on / rate_off,
        })
    if recording_threads is not None and "engine" in blocks:
        own = recording_threads["training_thread_ms_per_iter"] + recording_threads["writer_ms_per_iter"]
        engine_cpu = median([b.cpu_ms_per_iter or 0.0 for b in blocks["engine"]])
        recording_threads = {**recording_threads, "cpu_share": own / engine_cpu if engine_cpu else None}
    return {"features": rows, "health_check_us": health_us, "recording_threads": recording_threads}


def health_check_us(loop: EngineLoop, repeats: int = 2000) -> float:
    """Microseconds the health check takes on the last iteration's stats (it runs every iteration)."""
    t = loop.trainer
    stats = t.last_stats
    if stats is None:
        t.step()
        stats = t.last_stats
    check = HealthMonitor().check  # a fresh monitor: the trainer's keeps its own streaks
    start = time.perf_counter()
    for _ in range(repeats):
        check(stats, cross_entropy=True)
    return (time.perf_counter() - start) / repeats * 1e6


def feature_lines(section: dict[str, Any] | None) -> list[str]:
    """The table's lines for the features (none when they were not measured)."""
    if not section:
        return []
    head = ("features, on vs off (engine, same rounds; CPU ms per iteration, process clock; cost = median of the"
            " rounds' on - off, each round's in brackets):")
    lines = ["", head]
    for r in section["features"]:
        rounds = " ".join(f"{d:+.2f}" for d in r["cpu_ms_per_iter_cost_rounds"])
        lines.append(
            f"  {r['feature']:<20} on {r['cpu_ms_per_iter_on']:7.3f}  off {r['cpu_ms_per_iter_off']:7.3f}  "
            f"cost {r['cpu_ms_per_iter_cost']:+.3f} ms ({100 * (r['cpu_share'] or 0):+.1f} %) [{rounds}]  "
            f"rate on/off {r['rate_on_over_off']:.3f}   {r['what']}"
        )
    lines.append(f"  {'health flags':<20} {section['health_check_us']:.0f} us a check, every iteration (always on)")
    if (own := section.get("recording_threads")) and own.get("cpu_share") is not None:
        lines.append(f"  the recording's own threads, timed where they run: training thread "
                     f"{own['training_thread_ms_per_iter']:.3f} + writer {own['writer_ms_per_iter']:.3f} ms an iteration "
                     f"= {100 * own['cpu_share']:.1f} % of the engine's CPU ({own['iterations']} iterations)")
    return lines
