"""The seam between the runner and `lenet_viz/bench/app.py`, which measures the full GUI app.

`app.py` is written separately (it needs Qt; the bare and engine measurements must not), so the
runner only knows this contract, and a missing or broken app module marks the app section
"not measured" instead of failing the whole benchmark.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ..data import Dataset
from ..training import TrainConfig
from .loops import Block, Contender
from .report import rate_section


class AppBenchmark(Protocol):
    """What `lenet_viz/bench/app.py` provides (a module satisfies this structurally)."""

    def measure(self, config: TrainConfig, dataset: Dataset, iterations: int, threads: int) -> dict[str, Any]:
        """Train `iterations` timed iterations in the full app, with torch at `threads` threads.

        Called once per interleaved round, between the bare and engine blocks; launch and
        warm-up are its own business and excluded from the timing.  Returns at least
        {"iters_per_s": float}; every other key (gui stall p50/p99/max ms, fps, step
        latency, RSS, launch time) is reported as the median round returned it.
        """
        ...


APP_MODULE = "lenet_viz.bench.app"
#: The app's own torch thread count (`lenet-viz --threads`: "1 in the app"): one core trains,
#: the other is left to the window.
APP_THREADS = 1


def load_app(skip: bool) -> tuple[AppBenchmark | None, str]:
    """The app benchmark module if it is wanted (and Qt imports here), and a line saying what happened."""
    if skip:
        return None, "skipped: --no-app"
    try:
        module: Any = importlib.import_module(APP_MODULE)
        return module, "measured"
    except ImportError as exc:  # e.g. no Qt platform libraries on a headless server
        return None, f"not measured: cannot import the app benchmark: {exc}"


def app_contender(
    module: AppBenchmark, config: TrainConfig, dataset: Dataset, threads: int, runs: list[dict[str, Any]]
) -> Contender:
    """Adapt `app.measure` to a Contender, keeping every round's full result."""

    def run(iterations: int) -> Block:
        result = dict(module.measure(config, dataset, iterations, threads))
        runs.append(result)
        return Block(iterations, iterations / float(result["iters_per_s"]))

    return run


def app_summary(blocks: list[Block], runs: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """The median round's own fields (stalls, fps, RSS...), with rates taken over all rounds."""
    middle = sorted(range(len(runs)), key=lambda i: blocks[i].rate)[len(runs) // 2]
    summary = rate_section(blocks, batch_size)
    rates = {k: summary[k] for k in ("iters_per_s", "samples_per_s", "ms_per_iter", "rounds")}
    return {**summary, **runs[middle], **rates, "runs": runs}


def app_soak(module: AppBenchmark, iterations: int | None) -> dict[str, Any] | None:
    """RSS over a long app run (--soak-iterations), from the optional `app.soak(iterations)`; else None."""
    soak = getattr(module, "soak", None)
    return soak(iterations) if iterations and soak is not None else None
