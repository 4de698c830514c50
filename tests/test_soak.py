"""The soak runner, tiny: the real app trains offscreen, and every figure of the report is there.

No timing asserts (the figures come from the full run: `python -m lenet_viz.bench.soak`).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from lenet_viz.bench.app_launch import child_python

ROOT = Path(__file__).resolve().parents[1]


def soak(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = tmp_path / "soak.json"
    cmd, env = child_python("-m", "lenet_viz.bench.soak", "--json", str(out), *args, QT_QPA_PLATFORM="offscreen", **(env or {}))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    return done, json.loads(out.read_text()) if out.is_file() else None


def test_a_tiny_soak_completes_and_reports_every_figure(tmp_path):
    # a generous growth limit: 300 iterations say nothing about leaks, only that the plumbing works
    done, r = soak(tmp_path, "--iterations", "300", "--warmup", "50", "--sample-every", "0.5", "--max-growth-mb", "1000")
    assert done.returncode == 0, done.stderr
    assert r["ok"] and r["finished"] and r["completed"] and r["failures"] == []
    assert r["iterations"] >= 300 and r["engine_iteration"] == r["iterations"] == r["stats_received"]
    assert r["lost"] == 0 and r["stats_gaps"] == 0 and r["errors"] == []
    assert r["wall_s"] > 0 and r["iters_per_s"] > 0 and r["warmup_iterations"] >= 50
    rss = r["rss_mb"]
    assert all(math.isfinite(rss[k]) and rss[k] > 0 for k in ("launch", "start", "peak", "end"))
    assert rss["peak"] >= rss["end"] and rss["growth"] == round(rss["end"] - rss["start"], 1)
    assert r["samples"] and all(len(s) == 3 for s in r["samples"]) and r["samples"][-1][1] == r["iterations"]
    assert r["snapshots_drawn"] > 0 and r["drains"] > 0
    assert r["config"]["dataset"] == "random" and r["config"]["batch_size"] == 8
    rec = r["recording"]  # the file and its write-ahead log, at their peak (sampled with the RSS) and at the end
    assert rec["within_budget"] and 0 < rec["mb"] <= rec["peak_mb"] <= rec["budget_mb"]
    assert "soak: " in done.stderr and "OK" in done.stderr and f"recording {rec['mb']} MB (peak {rec['peak_mb']}" in done.stderr


def test_a_soak_that_cannot_train_fails_with_the_reason(tmp_path):
    done, r = soak(tmp_path, "--iterations", "100", "--dataset", "mnist", env={"LENET_VIZ_DATA_DIR": str(tmp_path / "none")})
    assert done.returncode == 1
    assert not r["ok"] and any("MNIST" in e for e in r["errors"]) and r["iterations"] == 0
    assert "FAILED" in done.stderr


def test_bad_options_exit_2(tmp_path):
    done, r = soak(tmp_path, "--iterations", "0")
    assert done.returncode == 2 and r is None and "--iterations" in done.stderr
