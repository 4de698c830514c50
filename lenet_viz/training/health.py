"""Training health: flags that recognize an unhealthy run from the per-iteration numbers alone.

Torch-free and cheap (~20 us an iteration): it reads a StepStats.  Each rule watches an
exponential moving average (about a 10-iteration window; in log10 for norms and ratios, which
move by orders of magnitude), so one noisy batch raises nothing, and it has two thresholds:
a flag is raised past the first and cleared only back past the second, so it never flickers.
The thresholds come from LeNet on MNIST (lr 0.01, momentum 0.9): healthy gradient norms stay
within 0.01-3 per layer and update/weight ratios within 5e-4-1e-2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .types import LAYERS, RELU_LAYERS, HealthFlag, StepStats

LN10 = math.log(10)
SMOOTHING = 0.1  # EMA weight of the newest iteration
INITIAL_LOSS_TOLERANCE = 0.25 * LN10  # |first loss - ln 10| beyond this is "far"
INITIAL_LOSS_HOLD = 200  # iterations the initial-loss flag stays up
_FLOOR = -12.0  # log10 of an exact zero


@dataclass(frozen=True)
class Rule:
    """A per-layer band on a smoothed quantity: raised beyond `raise_at`, cleared back beyond `clear_at`."""

    name: str
    title: str
    explanation: str  # formatted with layers= and value=
    what_to_try: str
    quantity: str  # "grad", "ratio" (log10) or "dead" (fraction)
    raise_at: float
    clear_at: float
    above: bool = True  # unhealthy when the value is above raise_at (else below)
    unit: str = "log"  # how {value} is written: "log" (10**value), "percent" (of 10**value), "fraction"

    def format(self, value: float) -> str:
        if self.unit == "fraction":
            return f"{value:.0%}"
        if self.unit == "percent":
            return f"{100 * 10**value:.3g}%"
        x = 10**value
        return f"{x:.3g}" if 1e-3 <= x < 1e4 else f"{x:.1e}"

    def hot(self, value: float, raised: bool) -> bool:
        limit = self.clear_at if raised else self.raise_at
        return value > limit if self.above else value < limit


RULES: tuple[Rule, ...] = (
    Rule("exploding_gradients", "Exploding gradients",
         "Gradient norms reach {value} in {layers} (healthy LeNet: 0.01-3), so every update overshoots.",
         "Check that optimizer.zero_grad() runs every iteration; lower the learning rate or clip gradients.",
         "grad", 1.0, math.log10(3.0)),
    Rule("vanishing_gradients", "Vanishing gradients",
         "Gradient norms fall to {value} in {layers}: almost nothing flows back, so they stop learning.",
         "Look for dead ReLUs or a too-high learning rate; lower it and press Reset.",
         "grad", -5.0, -4.0, above=False),
    Rule("updates_too_large", "Updates too large",
         "One update changes the weights of {layers} by up to {value} (healthy: about 0.1%).",
         "Lower the learning rate, e.g. by 10x.",
         "ratio", math.log10(3e-2), -2.0, unit="percent"),
    Rule("updates_too_small", "Updates too small",
         "One update changes the weights of {layers} by only {value} of their size (healthy: about 1e-3).",
         "Raise the learning rate, or look for vanishing gradients and dead ReLUs.",
         "ratio", -5.0, -4.0, above=False),
    Rule("dead_relus", "Dead ReLUs",
         "Up to {value} of the units of {layers} output zero for every image of the batch: they no longer learn.",
         "Lower the learning rate and normalize the input; dead units rarely come back, so press Reset.",
         "dead", 0.5, 0.3, unit="fraction"),
)
INITIAL_LOSS = ("initial_loss", "Initial loss far from ln 10",
                "The first loss is {value}, but an untrained 10-class net starts near ln 10 = 2.303.",
                "Check the input normalization and the initialization, and that the loss gets logits.")

ORDER = (*(rule.name for rule in RULES), INITIAL_LOSS[0])  # the order flags are listed in


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else _FLOOR


class HealthMonitor:
    """Feed every iteration's StepStats to `check`; it returns the flags raised after it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._ema: dict[tuple[str, str], float] = {}
        self._raised: dict[str, HealthFlag] = {}
        self._worst: dict[str, float] = {}  # the value each raised flag's text states

    def check(self, stats: StepStats, cross_entropy: bool = True) -> tuple[HealthFlag, ...]:
        values = self._smooth(stats)
        for rule in RULES:
            raised = self._raised.get(rule.name)
            layers = [layer for layer in LAYERS if (layer_value := values.get((rule.quantity, layer))) is not None
                      and rule.hot(layer_value, raised is not None)]
            if not layers:
                self._raised.pop(rule.name, None)
                continue
            worst = (max if rule.above else min)(values[(rule.quantity, layer)] for layer in layers)
            # Re-word a raised flag only when its layers change or its number moved a lot (2x, or 10 points
            # of dead units), so the text stays true without changing every iteration.
            moved = raised is not None and abs(worst - self._worst[rule.name]) > (0.1 if rule.unit == "fraction" else 0.3)
            if raised is None or moved or raised.layers != tuple(layers):
                self._raised[rule.name] = self._flag(rule, layers, worst, raised.since if raised else stats.iteration)
                self._worst[rule.name] = worst
        self._initial_loss(stats, cross_entropy)
        return tuple(self._raised[name] for name in ORDER if name in self._raised)

    def _smooth(self, stats: StepStats) -> dict[tuple[str, str], float]:
        raw: dict[tuple[str, str], float] = {}
        for layer in LAYERS:
            w, b = stats.grad_norms.get(f"{layer}.weight", math.nan), stats.grad_norms.get(f"{layer}.bias", 0.0)
            raw[("grad", layer)] = _log10(math.sqrt(w * w + b * b)) if math.isfinite(w) and math.isfinite(b) else math.nan
            ratio = stats.update_ratios.get(layer, math.nan)
            raw[("ratio", layer)] = _log10(ratio) if math.isfinite(ratio) else math.nan
        for layer in RELU_LAYERS:
            raw[("dead", layer)] = stats.dead_relu.get(layer, math.nan)
        ema = self._ema
        for key, value in raw.items():
            if math.isfinite(value):  # a diverged iteration's NaN says nothing new
                old = ema.get(key)
                ema[key] = value if old is None else old + SMOOTHING * (value - old)
        return ema

    @staticmethod
    def _flag(rule: Rule, layers: list[str], value: float, since: int) -> HealthFlag:
        text = rule.explanation.format(layers=", ".join(layers), value=rule.format(value))
        return HealthFlag(rule.name, rule.title, text, rule.what_to_try, tuple(layers), since)

    def _initial_loss(self, stats: StepStats, cross_entropy: bool) -> None:
        name, title, explanation, what = INITIAL_LOSS
        if stats.iteration == 1 and cross_entropy and not abs(stats.loss - LN10) <= INITIAL_LOSS_TOLERANCE:
            self._raised[name] = HealthFlag(name, title, explanation.format(value=f"{stats.loss:.4g}"), what, (), 1)
        elif name in self._raised and stats.iteration >= self._raised[name].since + INITIAL_LOSS_HOLD:
            del self._raised[name]


def flag_changes(before: tuple[HealthFlag, ...], after: tuple[HealthFlag, ...], iteration: int) -> list[str]:
    """One line per flag raised or cleared between two iterations (by name: a flag whose layers
    change stays the same flag), as the headless run prints them."""
    old, new = {f.name: f for f in before}, {f.name: f for f in after}
    lines = []
    for name, flag in new.items():
        if name not in old:
            where = f" ({', '.join(flag.layers)})" if flag.layers else ""
            lines.append(f"flag raised at iteration {iteration}: {flag.title}{where}: {flag.explanation} "
                         f"Try: {flag.what_to_try}")
    lines += [f"flag cleared at iteration {iteration}: {flag.title}" for name, flag in old.items() if name not in new]
    return lines
