"""Results of one benchmark run: a JSON document with stable field names, and a table for people.

The JSON is the contract (dashboards and later runs compare against it), so every field is
always present: a section that was not measured is `null`, never missing.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import torch

from .features import feature_lines
from .loops import Block, median

SECTIONS = ("bare", "engine", "app")  # the three contenders; "bare_at_app_threads" joins when it differs


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


def worker_cpu_ratio(app: dict[str, Any] | None, bare: dict[str, Any]) -> float | None:
    """Bare CPU per iteration over the app worker thread's: the throughput ratio the app would reach
    with a core of its own for the window (GIL waits aside).  Only meaningful with 1 torch thread,
    whose kernels run in the calling thread; steady when other processes take the cores."""
    if app is None or app.get("worker_cpu_ms_per_iter") is None or bare.get("cpu_ms_per_iter") is None:
        return None
    return bare["cpu_ms_per_iter"] / app["worker_cpu_ms_per_iter"]


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
    app_threads: int | None = None,
    bare_at_app_threads: dict[str, Any] | None = None,
    features: dict[str, Any] | None = None,
    neighbours: dict[str, Any] | None = None,
    time_travel: dict[str, Any] | None = None,
    accuracy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document; `threads_sweep` keys become strings because JSON keys are strings."""
    results: dict[str, Any] = {
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
            "app_over_bare": ratio(app, bare_at_app_threads or bare),  # the same training, at the app's threads
            "app_over_best_bare": ratio(app, bare),
            "app_over_bare_worker_cpu": worker_cpu_ratio(app, bare_at_app_threads or bare),
            # The same app round with its window drawing nothing (bench/app.py train_undrawn): drawing's share of the gap.
            "app_undrawn_over_bare": ratio((app or {}).get("undrawn"), bare_at_app_threads or bare),
            "engine_over_bare_cpu": cpu_ratio(engine, bare),
        },
        "app": app,
        "app_status": app_status,
        "app_threads": app_threads,
        "bare_at_app_threads": bare_at_app_threads,
        "features": features,
        "neighbours": neighbours,  # bench/neighbours.py: the bare loop beside a busy core
        "time_travel": time_travel,  # bench/recording.py's rewind and scrub, and the recording's cost from `features`
        "accuracy": accuracy,  # bench/accuracy.py: MNIST, the app's defaults, one epoch (and to 98 %)
    }
    results["goals"] = goals(results)
    return results


#: The goals for the app (issue #18, "fast with everything on"): (label, where in the results, "min"/"max", bound).
GOALS: tuple[tuple[str, tuple[str, ...], str, float], ...] = (
    ("app throughput / bare, same threads", ("ratios", "app_over_bare"), "min", 0.95),
    ("GUI stall p99 (ms)", ("app", "gui_stall_ms", "p99"), "max", 10.0),
    ("GUI stall max (ms)", ("app", "gui_stall_ms", "max"), "max", 30.0),
    ("display (fps)", ("app", "display_fps"), "min", 30.0),
    ("step -> all panels, median (ms)", ("app", "step_latency_ms", "median"), "max", 30.0),
    ("step -> all panels, p95 (ms)", ("app", "step_latency_ms", "p95"), "max", 30.0),
    ("RSS growth over the soak (MB)", ("app", "soak", "rss_mb", "growth"), "max", 50.0),
    ("launch -> first window (s)", ("app", "launch_s"), "max", 1.0),
    ("launch -> network drawn in it (s)", ("app", "launch_to_data_s"), "max", 2.0),
    ("rewind to a recorded iteration (ms)", ("time_travel", "rewind_ms"), "max", 200.0),
    ("scrub preview (ms)", ("time_travel", "scrub_preview_ms"), "max", 100.0),
    ("recording overhead (% of CPU)", ("time_travel", "recording_overhead_pct"), "max", 3.0),
)


def _dig(results: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = results
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with its measured value and whether it is met (None: not measured in this run)."""
    out = []
    for label, path, kind, bound in GOALS:
        v = _dig(results, path)
        met = None if v is None else (v >= bound if kind == "min" else v <= bound)
        out.append({"goal": label, "measured": v, "bound": bound, "kind": kind, "met": met})
    return out


#: What `app_lines` prints beyond the goals (what `lenet_viz/bench/app.py` measures).
APP_FIELDS = {"gui_stall_ms", "gui_busy_ms", "step_latency_ms", "rss_mb", "refresh_ms", "launch_breakdown_s", "threads",
              "worker_cpu_ms_per_iter"}


def app_lines(results: dict[str, Any]) -> list[str]:
    """The app's own figures (median round) and the goals, for the table."""
    a = results["app"]
    if a is None:
        return []
    if not APP_FIELDS <= set(a):  # an app module that measured less: its goals only
        return []
    g, u, st, rss = a["gui_stall_ms"], a["gui_busy_ms"], a["step_latency_ms"], a["rss_mb"]
    names = {"loss_panel": "loss", "gradient_panel": "gradients", "feature_panel": "features",
             "filter_panel": "filters", "parameter_panel": "params", "autograd_panel": "autograd",
             "refresh": "refresh()"}
    shows = "  ".join(f"{names.get(k, k)} {v['mean']:.1f} ({v['cpu_mean']:.1f})" for k, v in a["refresh_ms"].items())
    b = a["launch_breakdown_s"]
    lines = [
        "",
        f"app (median round, worker at {a['threads']} torch thread(s)): GUI stall p50 {g['p50']:.1f} / "
        f"p99 {g['p99']:.1f} / max {g['max']:.1f} ms ({a['probe_ticks']} ticks of a 5 ms probe); "
        f"display {a['display_fps']:.1f} fps "
        f"(plots {a['plot_fps']:.1f}); GUI thread busy {100 * a['gui_cpu_share']:.0f} % of a core",
        f"  GUI CPU per probe interval (the stall on an idle machine): p50 {u['p50']:.1f} / p99 {u['p99']:.1f} / "
        f"max {u['max']:.1f} ms; worker CPU {a['worker_cpu_ms_per_iter']:.2f} ms/iteration "
        f"(bare CPU / app worker CPU: {results['ratios']['app_over_bare_worker_cpu']:.3f})",
        f"  step -> all panels: median {st['median']:.1f} ms, p95 {st['p95']:.1f} ms; RSS peak {rss['peak']:.0f} MB, "
        f"growth {rss['growth']:+.1f} MB over {a['rss_over_iterations']} iterations",
        f"  launch -> first window {a['launch_s']:.2f} s, -> every panel made {a.get('launch_to_built_s', math.nan):.2f} s, "
        f"-> network drawn in it {a['launch_to_data_s']:.2f} s "
        f"(interpreter {b['interpreter']:.2f}, imports {b['imports_and_qapp']:.2f}, window {b['window_drawn']:.2f}, "
        f"first snapshot {b['first_snapshot']:.2f}, paint {b['first_paint']:.2f})",
        f"  ms per show(), mean wall (CPU): {shows}",
    ]
    if d := a.get("while_drawing"):
        lines.append(f"  while a digit is drawn on the canvas: GUI stall p99 {d['gui_stall_ms']['p99']:.1f} / max "
                     f"{d['gui_stall_ms']['max']:.1f} ms, {d['iters_per_s']:.0f} it/s, display {d['display_fps']:.1f} fps")
    if u := a.get("undrawn"):  # the same app round, its window not drawing: what drawing costs the training
        lines.append(f"  the window drawing nothing (events received and dropped): {u['iters_per_s']:.1f} it/s "
                     f"(÷ bare {results['ratios']['app_undrawn_over_bare']:.3f}), worker CPU "
                     f"{u['worker_cpu_ms_per_iter']:.2f} ms/iteration, GUI thread {100 * u['gui_cpu_share']:.0f} % of a core")
    soak = a.get("soak")
    if soak:
        r = soak["rss_mb"]
        verdict = "ok" if soak.get("ok") else "FAILED: " + "; ".join(soak.get("failures") or ["see the JSON"])
        lines.append(f"  soak: {soak['iterations']:,} iterations, RSS {r['start']} -> {r['end']} MB "
                     f"(peak {r['peak']}), growth {r['growth']} MB; {verdict}")
    return lines


def time_travel_lines(results: dict[str, Any]) -> list[str]:
    """Rewind and scrub in a recording of this configuration (the recording's cost is in the features)."""
    t = results.get("time_travel")
    if not t:
        return []
    return ["", f"time travel (a recording of {t['iterations']} iterations, keyframes {t['keyframe_gap']} apart at the "
            f"widest; python -m lenet_viz.bench.recording): rewind to iteration {t['k']} {t['rewind_ms']:.0f} ms "
            f"({t['rewind_with_data_load_ms']:.0f} ms with the data loaded), scrub preview {t['scrub_preview_ms']:.1f} ms, "
            f"exact scrub {t['scrub_exact_ms']:.0f} ms, the next iteration {t['scrub_next_iteration_ms']:.0f} ms"]


def accuracy_lines(results: dict[str, Any]) -> list[str]:
    """MNIST with the app's defaults (bench/accuracy.py), when this run trained it."""
    from .accuracy import summary_lines

    return [] if not results.get("accuracy") else ["", *summary_lines(results["accuracy"])]


def goal_lines(results: dict[str, Any]) -> list[str]:
    lines = ["", f"{'goal':38}{'measured':>10}  {'bound':>9}"]
    for item in results.get("goals") or []:
        v, verdict = item["measured"], {True: "met", False: "MISSED", None: "not measured"}[item["met"]]
        sign = ">=" if item["kind"] == "min" else "<="
        lines.append(f"{item['goal']:38}{'n/a' if v is None else f'{v:.2f}':>10}  {sign} {item['bound']:<6g} {verdict}")
    return lines


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
    rt = results["ratios"]
    ratios = {"bare": 1.0, "engine": rt["engine_over_bare"], "app": rt["app_over_best_bare"]}
    rows = {"bare": results["bare"], "engine": results["engine"]}
    same = results.get("bare_at_app_threads")
    if same is not None:  # the bare loop at the app's thread count, right above the app
        rows[f"bare@{results['app_threads']}"] = same
        ratios[f"bare@{results['app_threads']}"] = ratio(same, results["bare"])
    rows["app"] = results["app"]
    for name, s in rows.items():
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
        + ("" if cpu_ratio_value is None else f"; engine by CPU time: {cpu_ratio_value:.3f}")
        + ("" if rt["app_over_bare"] is None else
           f"; app vs bare at the app's {results.get('app_threads')} thread(s): {rt['app_over_bare']:.3f}"),
        f"engine includes its held-out evaluation ({e['eval_images']} images every {e['eval_every']} iterations; "
        f"the bare loop never evaluates): {e['timed_evaluations']} in the timed rounds at "
        f"{e['eval_ms']:.1f} ms each = {100 * e['eval_share']:.1f} % of engine time",
    ]
    if snap := e.get("snapshot"):
        lines.append(
            f"snapshot with the autograd graph: {snap['snapshot_ms']:.2f} ms (the graph {snap['graph_ms']:.2f} ms); "
            "per-iteration graph recording: python -m lenet_viz.bench.inside_step"
        )
    if n := results.get("neighbours"):  # what any second busy core costs the training here (the app's window is one)
        beside = ", ".join(f"{v['what']} ÷ {v['over_bare']:.3f}" for v in n.values())
        lines.append(f"the bare loop beside a busy neighbour core (a process of its own): {beside}")
    return "\n".join(lines + feature_lines(results.get("features")) + time_travel_lines(results) + app_lines(results)
                     + accuracy_lines(results) + goal_lines(results))
