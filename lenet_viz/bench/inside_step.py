"""`python -m lenet_viz.bench.inside_step`: what "inside one step" costs.

- the per-iteration cost of recording the autograd graph's gradient norms (`Trainer.record_graph`
  on vs off, interleaved rounds, wall and CPU clocks: CPU time is steadier on a shared machine);
- a snapshot's cost with the graph in it, and the graph's share of it;
- the layered layout (grandalf), which the panel runs only when the graph's structure changes;
- the conv1 formula and the manual-vs-optim comparison, which run on a click.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..data import DataError, load_dataset
from ..training import ConfigError, TrainConfig, Trainer
from .loops import Block, interleaved_rounds, timed


def _ms(fn, repeats: int) -> float:  # noqa: ANN001
    """Median milliseconds of `fn()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def snapshot_costs(trainer: Trainer, repeats: int = 15) -> dict[str, float]:
    """Milliseconds of a snapshot after a recorded backward, and of its autograd graph alone."""
    recording = trainer.record_graph
    trainer.record_graph = True
    try:
        trainer.step()
        total = _ms(trainer.snapshot, repeats)
        graph = _ms(lambda: trainer._graph.graph(trainer._loss, trainer._name_of), repeats)  # noqa: SLF001
    finally:
        trainer.record_graph = recording
    return {"snapshot_ms": total, "graph_ms": graph, "snapshot_without_graph_ms": max(total - graph, 0.0)}


def recording_overhead(config: TrainConfig, dataset, iterations: int, rounds: int) -> dict[str, Any]:  # noqa: ANN001
    """ms per iteration with the graph recorded every iteration vs never, in interleaved rounds."""
    trainers = {}
    for name, record in (("recorded", True), ("off", False)):
        t = Trainer(config, dataset=dataset)
        t.record_graph = record
        for _ in range(10):
            t.step()
        trainers[name] = t

    def runner(t: Trainer):  # noqa: ANN202
        def run(n: int) -> Block:
            return timed(lambda k: [t.step() for _ in range(k)], n)

        return run

    blocks = interleaved_rounds({k: runner(t) for k, t in trainers.items()}, iterations, rounds)
    out: dict[str, Any] = {}
    for name, bs in blocks.items():
        out[name] = {
            "wall_ms_per_iter": statistics.median(b.wall_s / b.iterations * 1000 for b in bs),
            "cpu_ms_per_iter": statistics.median(b.cpu_ms_per_iter for b in bs),
        }
    for clock in ("wall", "cpu"):
        on, off = out["recorded"][f"{clock}_ms_per_iter"], out["off"][f"{clock}_ms_per_iter"]
        out[f"overhead_{clock}_pct"] = 100 * (on / off - 1)
    return out


def click_costs(trainer: Trainer, repeats: int = 10) -> dict[str, float]:
    """The work behind a click: the conv1 formula and the manual-vs-optim comparison (after backward)."""
    from ..app.graph_layout import layered_layout  # grandalf: the GUI side's layout, timed here too

    trainer.step()
    graph = trainer.snapshot().autograd_graph
    assert graph is not None
    return {
        "explain_conv1_grad_ms": _ms(lambda: trainer.explain_conv1_grad(2, 1, 3), repeats),
        "compare_manual_update_ms": _ms(trainer.compare_manual_update, repeats),
        "graph_layout_ms": _ms(lambda: layered_layout(len(graph.nodes), graph.edges), repeats),
        "graph_nodes": float(len(graph.nodes)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lenet_viz.bench.inside_step", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", help="digits (bundled, default), mnist, random")
    p.add_argument("--data-dir", type=Path, help="MNIST folder (default: ../shared/data/mnist beside the repo, else the cache)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steady CPU-time comparison)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=60, help="iterations per timed block")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are reported")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    from .loops import default_bench_data_dir

    try:
        config = TrainConfig(
            dataset=args.dataset, data_dir=str(args.data_dir or default_bench_data_dir()), eval_every=0,
            threads=args.threads, batch_size=args.batch_size,
        )
        dataset = load_dataset(args.dataset, config.data_dir, seed=config.seed)
        results = {
            "config": {"dataset": args.dataset, "threads": args.threads, "batch_size": args.batch_size},
            "iteration": recording_overhead(config, dataset, args.iterations, args.rounds),
            "snapshot": snapshot_costs(Trainer(config, dataset=dataset)),
            "click": click_costs(Trainer(config, dataset=dataset)),
        }
    except (DataError, ConfigError) as exc:
        print(f"lenet_viz bench: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads_before)
    it, snap, click = results["iteration"], results["snapshot"], results["click"]
    print(
        f"inside one step: {args.dataset}, batch {args.batch_size}, {args.threads} thread(s), "
        f"{args.rounds} rounds x {args.iterations} iterations\n"
        f"iteration, graph norms recorded: {it['recorded']['wall_ms_per_iter']:.3f} ms wall, "
        f"{it['recorded']['cpu_ms_per_iter']:.3f} ms CPU\n"
        f"iteration, not recorded:         {it['off']['wall_ms_per_iter']:.3f} ms wall, "
        f"{it['off']['cpu_ms_per_iter']:.3f} ms CPU\n"
        f"recording overhead: {it['overhead_wall_pct']:+.1f} % wall, {it['overhead_cpu_pct']:+.1f} % CPU\n"
        f"snapshot with the graph: {snap['snapshot_ms']:.2f} ms (graph {snap['graph_ms']:.2f} ms, "
        f"rest {snap['snapshot_without_graph_ms']:.2f} ms)\n"
        f"graph layout ({click['graph_nodes']:.0f} nodes): {click['graph_layout_ms']:.1f} ms; "
        f"explain_conv1_grad {click['explain_conv1_grad_ms']:.2f} ms; "
        f"compare_manual_update {click['compare_manual_update_ms']:.2f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
