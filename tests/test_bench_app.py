"""The app benchmark end to end: every field of the JSON "app" section is there and numeric.

Timings are never asserted (they belong to the machine); only that each figure was measured.
The real run is a subprocess, as a user would start it: it opens a QApplication and a window.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from lenet_viz.bench import main
from lenet_viz.bench.app import stall_stats
from lenet_viz.bench.report import GOALS

ROOT = Path(__file__).resolve().parents[1]


def numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_quick_run_measures_the_app_and_reports_every_field(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "lenet_viz.bench", "--quick", "--dataset", "digits", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["app_status"] == "measured"
    a = r["app"]
    for field in ("iters_per_s", "samples_per_s", "display_fps", "launch_s", "launch_to_built_s", "launch_to_data_s",
                  "cpu_ms_per_iter", "gui_cpu_share"):
        assert numeric(a[field]), field
    assert a["iters_per_s"] > 0 and a["samples_per_s"] > 0
    for section, keys in {
        "gui_stall_ms": ("p50", "p99", "max"),
        "gui_busy_ms": ("p50", "p99", "max"),
        "step_latency_ms": ("median", "p95"),
        "rss_mb": ("peak", "growth"),
        "launch_breakdown_s": ("interpreter", "imports_and_qapp", "window_drawn", "first_snapshot", "first_paint"),
        "undrawn": ("iters_per_s", "worker_cpu_ms_per_iter", "gui_cpu_share"),  # the same run, the window not drawing
    }.items():
        assert all(numeric(a[section][k]) for k in keys), (section, a[section])
    assert a["gui_stall_ms"]["p50"] <= a["gui_stall_ms"]["p99"] <= a["gui_stall_ms"]["max"]
    assert a["rss_mb"]["peak"] > 0 and a["launch_s"] > 0 and a["timed_iterations"] >= 20
    assert set(a["refresh_ms"]) >= {"loss_panel", "gradient_panel", "feature_panel", "refresh"}
    assert a["history_points"]["start"] > 10_000  # the plots drew a long session's curves
    assert r["ratios"]["app_over_bare"] > 0 and r["app_threads"] == 1 and a["threads"] == 1
    assert a["training_in"] == "process" and a["launch_to_data_s"] >= a["launch_to_built_s"] >= a["launch_s"]
    assert a["soak"] is None  # only with --soak-iterations
    assert [g["goal"] for g in r["goals"]] == [g[0] for g in GOALS]
    assert all(g["met"] in (True, False) for g in r["goals"] if "soak" not in g["goal"])
    assert a["undrawn"]["iters_per_s"] > 0 and a["undrawn"]["gui_cpu_share"] < a["gui_cpu_share"]
    bare = (r["bare_at_app_threads"] or r["bare"])["iters_per_s"]
    assert r["ratios"]["app_undrawn_over_bare"] == pytest.approx(a["undrawn"]["iters_per_s"] / bare)
    for words in ("GUI stall", "step -> all panels", "launch -> first window", "app throughput", "the window drawing nothing"):
        assert words in done.stdout


def fake_app(calls: list[tuple], soaks: list[int]) -> types.SimpleNamespace:
    def measure(config, dataset, iterations, threads):  # noqa: ANN001, ANN202
        calls.append((config.threads, iterations, threads))
        return {"iters_per_s": 10.0, "gui_stall_ms": {"p50": 1.0, "p99": 2.0, "max": 3.0}}

    def soak(iterations: int) -> dict:
        soaks.append(iterations)
        return {"iterations": iterations, "rss_mb": {"start": 100.0, "end": 120.0, "peak": 121.0, "growth": 20.0}}

    return types.SimpleNamespace(measure=measure, soak=soak)


def test_the_app_is_compared_with_the_bare_loop_at_its_own_thread_count(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple] = []
    monkeypatch.setitem(sys.modules, "lenet_viz.bench.app", fake_app(calls, []))
    out = tmp_path / "b.json"
    args = ["--quick", "--dataset", "digits", "--iterations", "10", "--threads", "2", "--app-threads", "1"]
    assert main([*args, "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [c[2] for c in calls] == [1] and r["app_threads"] == 1 and r["best_threads"] == 2
    same = r["bare_at_app_threads"]
    assert same is not None and same["iters_per_s"] > 0
    assert r["ratios"]["app_over_bare"] == pytest.approx(10.0 / same["iters_per_s"])
    assert r["ratios"]["app_over_best_bare"] == pytest.approx(10.0 / r["bare"]["iters_per_s"])


def test_soak_iterations_add_the_long_run_memory_figures(tmp_path: Path, monkeypatch) -> None:
    soaks: list[int] = []
    monkeypatch.setitem(sys.modules, "lenet_viz.bench.app", fake_app([], soaks))
    out = tmp_path / "b.json"
    args = ["--quick", "--dataset", "digits", "--iterations", "10", "--soak-iterations", "500"]
    assert main([*args, "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert soaks == [500] and r["app"]["soak"]["rss_mb"]["growth"] == 20.0
    assert r["bench"]["soak_iterations"] == 500
    growth = next(g for g in r["goals"] if "soak" in g["goal"])
    assert growth["measured"] == 20.0 and growth["met"] is True


def test_without_soak_iterations_the_soak_is_not_run(tmp_path: Path, monkeypatch) -> None:
    soaks: list[int] = []
    monkeypatch.setitem(sys.modules, "lenet_viz.bench.app", fake_app([], soaks))
    out = tmp_path / "b.json"
    assert main(["--quick", "--dataset", "digits", "--iterations", "10", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert soaks == [] and r["app"]["soak"] is None
    assert next(g for g in r["goals"] if "soak" in g["goal"])["met"] is None


def test_stall_stats_are_percentiles_of_lateness() -> None:
    s = stall_stats([0.0] * 98 + [10.0, 100.0])
    assert s["p50"] == 0.0 and s["max"] == 100.0 and 10.0 <= s["p99"] <= 100.0
    assert stall_stats([]) == {"p50": 0.0, "p99": 0.0, "max": 0.0}
