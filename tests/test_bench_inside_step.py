"""`python -m lenet_viz.bench.inside_step` runs and reports every figure.  Timings are never asserted."""

from __future__ import annotations

import json
import math

from lenet_viz.bench.inside_step import main


def test_quick_run_reports_recording_snapshot_and_click_costs(tmp_path, capsys):
    out = tmp_path / "inside.json"
    assert main(["--iterations", "3", "--rounds", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    for name in ("recorded", "off"):
        assert r["iteration"][name]["wall_ms_per_iter"] > 0 and r["iteration"][name]["cpu_ms_per_iter"] > 0
    assert math.isfinite(r["iteration"]["overhead_cpu_pct"])
    assert r["snapshot"]["snapshot_ms"] >= r["snapshot"]["graph_ms"] > 0
    assert r["click"]["graph_nodes"] == 27 and r["click"]["graph_layout_ms"] > 0
    text = capsys.readouterr().out
    assert "recording overhead:" in text and "snapshot with the graph:" in text
