"""What a busy neighbour core costs the training loop: the machine's own interference, measured.

The app trains on one core while its window draws on another.  Where cores share a memory bus and
a last-level cache (any two vCPUs of a VM, most laptops), the window's work slows the training
thread even though it never takes the training thread's core.  Here the bare loop runs beside
two stand-ins for that work, each a process of its own on the other core: a pure ALU spin (no
memory traffic) and a sweep over a 64 MB array (memory traffic, as painting and numpy make).
Their ratios to the bare loop alone say how much of the app's gap this machine imposes on any
second busy core, whatever the window does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from .loops import Block, Contender, median

#: name -> (what it is, in words; the neighbour's Python source).
NEIGHBOURS: dict[str, tuple[str, str]] = {
    "alu_spin": ("an ALU spin", "while True:\n    pass"),
    "memory_sweep": ("a 64 MB memory sweep", "import numpy as np\na = np.ones(8 * 2**20)\nwhile True:\n    a += 1.0"),
}
SETTLE_S = 0.3  # the neighbour's start-up (numpy's import, its first pass) before the timed block


def wanted(quick: bool) -> bool:
    """Worth measuring where there is a second core for the neighbour (and not in a smoke run)."""
    return not quick and (os.cpu_count() or 1) >= 2


def beside(run: Contender, source: str) -> Contender:
    """`run` (the bare loop's timed block) with a neighbour process busy for exactly its duration."""

    def contender(iterations: int) -> Block:
        neighbour = subprocess.Popen([sys.executable, "-c", source], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(SETTLE_S)
            return run(iterations)
        finally:
            neighbour.kill()
            neighbour.wait()

    return contender


def contenders(run: Contender) -> dict[str, Contender]:
    """One contender per neighbour, named "bare+NAME", for the interleaved rounds."""
    return {f"bare+{name}": beside(run, source) for name, (_, source) in NEIGHBOURS.items()}


def summary(blocks: dict[str, list[Block]], alone: str) -> dict[str, Any] | None:
    """Per neighbour: its words, the bare loop's rate beside it, and that rate over the bare loop's alone."""
    if not any(f"bare+{name}" in blocks for name in NEIGHBOURS):
        return None
    base = median([b.rate for b in blocks[alone]])
    out = {}
    for name, (what, _) in NEIGHBOURS.items():
        if f"bare+{name}" in blocks:
            rate = median([b.rate for b in blocks[f"bare+{name}"]])
            out[name] = {"what": what, "iters_per_s": rate, "over_bare": rate / base}
    return out
