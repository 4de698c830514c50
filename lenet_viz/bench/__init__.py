"""Benchmark: how fast LeNet trains by hand, through the engine, and inside the full app.

Ratios against a hand-written PyTorch loop, measured in one run on one configuration, tell
whether the engine's observability (and the GUI's drawing) costs training speed.  Modules:
`loops` (the bare and engine loops, fair scheduling), `report` (JSON and table), `runner`
(the command line), and later `app` (the full GUI app, see `runner.APP_MODULE`).
"""

from .runner import main

__all__ = ["main"]
