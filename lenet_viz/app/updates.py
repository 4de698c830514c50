"""What the training worker hands to the GUI thread: one `Update` per drain, and the speed meter behind it."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..training import MetricHistory, Phase, RunInfo, Snapshot, StepStats, TrainConfig

#: Seconds of history behind `Update.iters_per_s`.
RATE_WINDOW_S = 2.0


@dataclass
class Update:
    """Everything that changed since the previous `drain()`; the caller owns it."""

    stats: list[StepStats]  # every iteration completed since the last drain, in order
    snapshot: Snapshot | None  # newest snapshot since the last drain (None: nothing new to draw)
    running: bool
    iteration: int  # completed iterations
    next_phase: Phase  # the phase the trainer runs next
    phase_done: Phase | None  # phase run by the latest step_phase() since the last drain
    iters_per_s: float  # over the last RATE_WINDOW_S seconds of running; 0 while paused
    samples_per_s: float
    error: str | None  # latest error message since the last drain
    reset: bool  # training restarted since the last drain: clear histories; `stats` are all newer
    config: TrainConfig | None  # the trainer's settings now (None before it is built); read-only
    history: MetricHistory | None = None  # with `reset`: a checkpoint was loaded, adopt its history
    info: RunInfo | None = None  # the trainer was built or replaced: what it trains on


class RateMeter:
    """Iterations and samples per second over a sliding window (not since start: the user
    wants to see a speed limit or a lighter config take effect within a couple of seconds)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, int, int]] = deque()  # (time, iteration, samples_seen)

    def add(self, now: float, iteration: int, samples_seen: int) -> None:
        points = self._points
        points.append((now, iteration, samples_seen))
        while now - points[0][0] > self.window_s:
            points.popleft()

    def clear(self) -> None:
        self._points.clear()

    def rates(self) -> tuple[float, float]:
        """(iterations/s, samples/s); zeros until two points span some time."""
        if len(self._points) < 2:
            return 0.0, 0.0
        (t0, i0, s0), (t1, i1, s1) = self._points[0], self._points[-1]
        if t1 <= t0:
            return 0.0, 0.0
        return (i1 - i0) / (t1 - t0), (s1 - s0) / (t1 - t0)
