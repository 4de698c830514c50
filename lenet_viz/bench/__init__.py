"""Benchmark: how fast LeNet trains by hand, through the engine, and inside the full app.

Ratios against a hand-written PyTorch loop, measured in one run on one configuration, tell
whether the engine's observability (and the GUI's drawing) costs training speed.  Modules:
`loops` (the bare and engine loops, fair scheduling), `report` (JSON, table and goals), `runner`
(the command line), `app` (the full GUI app offscreen: rate, stalls, fps, step latency, RSS;
loaded through `app_hook`), `app_launch` (launch time and the long soak, in child processes)
and `soak` (`python -m lenet_viz.bench.soak`, the long memory run).
"""

from .runner import main

__all__ = ["main"]
