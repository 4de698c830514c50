"""Results of one benchmark run: a JSON document with stable field names, and a table for people.

The JSON is the contract (dashboards and later runs compare against it), so every field is
always present: a section that was not measured is `null`, never missing.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from .loops import Block, median

SECTIONS = ("bare", "engine", "app")


def rate_section(blocks: list[Block], batch_size: int) -> dict[str, Any]:
    """Median-of-rounds rate in the units people ask for, the rounds behind it, and CPU cost."""
    it_s = median([b.rate for b in blocks])
    cpu = [b.cpu_ms_per_iter for b in blocks]
    return {
        "iters_per_s": it_s,
        "samples_per_s": it_s * batch_size,
        "ms_per_iter": 1000.0 / it_s,
        "cpu_ms_per_iter": None if None in cpu else median(cpu),  # type: ignore[arg-type]
        "rounds": [b.rate for b in blocks],
    }


def machine_info() -> dict[str, Any]:
    """What the numbers depend on; load average because shared machines make timings noisy."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": load,
    }


def ratio(section: dict[str, Any] | None, bare: dict[str, Any]) -> float | None:
    """Rate of a section over the bare loop's: 1.0 is as fast, 0.8 is 20 % slower."""
    return None if section is None else section["iters_per_s"] / bare["iters_per_s"]


def cpu_ratio(section: dict[str, Any] | None, bare: dict[str, Any]) -> float | None:
    """The same ratio from CPU time per iteration (bare CPU / section CPU), steadier on a busy machine."""
    if section is None or section.get("cpu_ms_per_iter") is None or bare["cpu_ms_per_iter"] is None:
        return None
    return bare["cpu_ms_per_iter"] / section["cpu_ms_per_iter"]


def build_results(
    *,
    config: dict[str, Any],
    bench: dict[str, Any],
    dataset: str,
    threads_sweep: dict[int, float],
    best_threads: int,
    bare: dict[str, Any],
    engine: dict[str, Any],
    app: dict[str, Any] | None,
    app_status: str,
) -> dict[str, Any]:
    """The JSON document; `threads_sweep` keys become strings because JSON keys are strings."""
    return {
        "config": config,
        "bench": bench,
        "machine": machine_info(),
        "dataset": dataset,
        "threads_sweep": {str(t): r for t, r in threads_sweep.items()},
        "best_threads": best_threads,
        "bare": bare,
        "engine": engine,
        "ratios": {
            "engine_over_bare": ratio(engine, bare),
            "app_over_bare": ratio(app, bare),
            "engine_over_bare_cpu": cpu_ratio(engine, bare),
        },
        "app": app,
        "app_status": app_status,
    }


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def format_table(results: dict[str, Any]) -> str:
    """A plain-text summary readable in a terminal or pasted into an issue."""
    c, b, m = results["config"], results["bench"], results["machine"]
    load = " ".join(f"{x:.2f}" for x in m["load_avg"]) if m["load_avg"] else "n/a"
    sweep = "  ".join(f"{t} thr: {r:.1f} it/s" for t, r in results["threads_sweep"].items()) or "skipped (--threads)"
    lines = [
        f"lenet_viz bench: {results['dataset']}, batch {c['batch_size']}, {c['optimizer']} lr {c['lr']} "
        f"momentum {c['momentum']}, {c['loss']}",
        f"machine: {m['cpu_count']} CPUs, torch {m['torch']}, Python {m['python']}, load avg {load}",
        f"threads sweep (bare): {sweep}  -> best {results['best_threads']}",
        f"{b['rounds']} interleaved rounds x {b['iterations']} iterations after {b['warmup']} warm-up; "
        "median round shown",
        "",
        f"{'':8}{'it/s':>10}{'samples/s':>12}{'ms/iter':>10}{'vs bare':>9}{'CPU ms/iter':>13}   rounds (it/s)",
    ]
    ratios = {"bare": 1.0, "engine": results["ratios"]["engine_over_bare"], "app": results["ratios"]["app_over_bare"]}
    for name in SECTIONS:
        s = results[name]
        if s is None:
            lines.append(f"{name:8}{results['app_status']}")
            continue
        rounds = " ".join(f"{r:.1f}" for r in s["rounds"])
        cpu = "n/a" if s.get("cpu_ms_per_iter") is None else f"{s['cpu_ms_per_iter']:.3f}"
        lines.append(
            f"{name:8}{s['iters_per_s']:>10.1f}{s['samples_per_s']:>12.0f}{s['ms_per_iter']:>10.3f}"
            f"{ratios[name]:>9.3f}{cpu:>13}   {rounds}"
        )
    e, cpu_ratio_value = results["engine"], results["ratios"]["engine_over_bare_cpu"]
    lines += [
        "",
        "vs bare = rate / bare rate (1.000 = as fast)"
        + ("" if cpu_ratio_value is None else f"; engine by CPU time: {cpu_ratio_value:.3f}"),
        f"engine includes its held-out evaluation ({e['eval_images']} images every {e['eval_every']} iterations; "
        f"the bare loop never evaluates): {e['timed_evaluations']} in the timed rounds at "
        f"{e['eval_ms']:.1f} ms each = {100 * e['eval_share']:.1f} % of engine time",
    ]
    return "\n".join(lines)
