"""The bare loop beside a busy neighbour core: what this machine's shared memory costs any second busy core."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from lenet_viz.bench import main, neighbours
from lenet_viz.bench.loops import Block
from test_bench_app import fake_app


def test_the_neighbour_is_busy_for_exactly_the_block(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    source = f"import os, pathlib\npathlib.Path({str(marker)!r}).write_text(str(os.getpid()))\nwhile True:\n    pass"
    seen: list[int] = []

    def block(iterations: int) -> Block:
        pid = int(marker.read_text())
        os.kill(pid, 0)  # alive while the block runs (raises if not)
        seen.append(pid)
        return Block(iterations, 0.5)

    assert neighbours.beside(block, source)(7) == Block(7, 0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # killed and reaped after it
        try:
            os.kill(seen[0], 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the neighbour outlived its block")


def test_summary_is_each_neighbours_rate_over_the_loop_alone() -> None:
    blocks = {"bare": [Block(100, 2.0), Block(100, 2.2)], "bare+alu_spin": [Block(100, 2.1)],
              "bare+memory_sweep": [Block(100, 2.5)]}
    s = neighbours.summary(blocks, "bare")
    alone = (100 / 2.0 + 100 / 2.2) / 2
    assert s["alu_spin"]["over_bare"] == pytest.approx(100 / 2.1 / alone)
    assert s["memory_sweep"]["over_bare"] == pytest.approx(40 / alone) and s["memory_sweep"]["what"] == "a 64 MB memory sweep"
    assert neighbours.summary({"bare": blocks["bare"]}, "bare") is None


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a neighbour needs a second core")
def test_the_benchmark_reports_the_bare_loop_beside_each_neighbour(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "lenet_viz.bench.app", fake_app([], []))
    out = tmp_path / "b.json"
    args = ["--dataset", "digits", "--iterations", "10", "--rounds", "1", "--warmup", "3", "--threads", "1", "--no-features"]
    assert main([*args, "--json", str(out)]) == 0
    n = json.loads(out.read_text())["neighbours"]
    assert set(n) == {"alu_spin", "memory_sweep"} and all(v["iters_per_s"] > 0 and v["over_bare"] > 0 for v in n.values())
    assert "beside a busy neighbour core" in capsys.readouterr().out
    assert main([*args, "--no-neighbours", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["neighbours"] is None
