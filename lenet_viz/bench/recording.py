"""Recording figures: overhead on training, rewind and scrub latency, file size after a long run.

    python -m lenet_viz.bench.recording --data-dir ~/mnist [--blocks 4 --block 60] [--size-iterations 100000]

- overhead: two identical trainers, one recorded, trained in alternating blocks (so a busy
  machine slows both alike); process CPU time counts the writer thread too.
- rewind: `trainer_at(k)` with k one short of the next keyframe (the most replay there is).
- scrub: `observe(k)` there from scratch, one iteration further (the cached scratch trainer),
  back to just after a state kept in memory, and `observe(k, exact=False)` (the nearest known
  state, for a slider being dragged); a rewind where scrubbing has been (memo).
- size: 100k iterations of metric rows written without training, with keyframes of a real
  LeNet state perturbed before each (so none dedupe) and a new data order every epoch, each
  keyframe written before the next is taken (in training ~160 ms apart, ~3 ms to write).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..data import load_dataset
from ..training import Recorder, Recording, TrainConfig, Trainer
from ..training.recorder import DEFAULT_BUDGET


def overhead(config: TrainConfig, dataset, folder: Path, blocks: int, block: int) -> dict:  # noqa: ANN001
    bare, recorded = Trainer(config, dataset=dataset), Trainer(config, dataset=dataset)
    recorder = Recorder(folder / "overhead.lvz", recorded)
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "recorded": []}
    for t in (bare, recorded):  # warm up both
        for _ in range(5):
            t.step()
    for _ in range(blocks):
        for name, t in (("bare", bare), ("recorded", recorded)):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(block):
                t.step()
            times[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    recorder.close()
    out = {}
    for clock, i in (("cpu", 0), ("wall", 1)):
        b = sum(x[i] for x in times["bare"])
        r = sum(x[i] for x in times["recorded"])
        out[f"overhead_{clock}_pct"] = (r / b - 1) * 100
    out["ms_per_iteration_bare"] = sum(x[1] for x in times["bare"]) / (blocks * block) * 1000
    return out


def latency(config: TrainConfig, dataset, folder: Path, iterations: int) -> dict:  # noqa: ANN001
    path = folder / "latency.lvz"
    trainer = Trainer(config, dataset=dataset)
    with Recorder(path, trainer):
        for _ in range(iterations):
            trainer.step()
    with Recording.open(path) as rec:
        spots = [it for _, it in rec.keyframes()]
        gaps = [(b - a, b - 1) for a, b in zip(spots, spots[1:])]
        gap, k = max(gaps)
        rewind = _timed(lambda: rec.trainer_at(k, dataset=dataset), 3)
        rewind_load = _timed(lambda: Recording.open(path).trainer_at(k), 1)
        scrub = _timed(lambda: Recording.open(path).observe(k, dataset=dataset), 3)  # a fresh scratch trainer
        rec.observe(k - 1, dataset=dataset)
        step = _timed(lambda: rec.observe(k), 1)
        back = _timed(lambda: rec.observe(k - 3 - (k - 3) % 4 + 1), 1)  # just after a state kept in memory
        near = _timed(lambda: rec.trainer_at(k - 1, dataset=dataset), 1)  # "continue from here" after scrubbing
        preview = _timed(lambda: rec.observe(k, exact=False), 3)
    return {"keyframe_gap": gap, "k": k, "rewind_ms": rewind, "rewind_with_data_load_ms": rewind_load,
            "rewind_after_scrubbing_there_ms": near, "scrub_exact_ms": scrub, "scrub_next_iteration_ms": step,
            "scrub_back_ms": back, "scrub_preview_ms": preview}


def latency_figures(config: TrainConfig, dataset, iterations: int) -> dict:  # noqa: ANN001
    """`latency` in a folder of its own, removed afterwards: what `python -m lenet_viz.bench` reports."""
    with tempfile.TemporaryDirectory(prefix="lenet-viz-bench-rewind-") as tmp:
        return {"iterations": iterations, **latency(config, dataset, Path(tmp), iterations)}


def _timed(fn, repeats: int) -> float:  # noqa: ANN001
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def size(config: TrainConfig, dataset, folder: Path, iterations: int, budget: int) -> dict:  # noqa: ANN001
    path = folder / "size.lvz"
    trainer = Trainer(config, dataset=dataset)
    stats = trainer.step()  # a real state (momentum buffers exist) and a real StepStats shape
    recorder = Recorder(path, trainer, budget=budget, time_share=1.0, attach=False)
    per_epoch = math.ceil(dataset.num_train / config.batch_size)
    params = list(trainer.model.parameters())
    buffers = [s["momentum_buffer"] for s in trainer.optimizer.state.values() if "momentum_buffer" in s]
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(2, iterations + 1):
            trainer.iteration = i  # a simulation: rows and keyframes without the training
            if i % per_epoch == 0:
                trainer._perm = torch.randperm(dataset.num_train)  # a new epoch's data order, as training draws one
            if i - recorder._last_kf >= recorder.interval:
                for t in params + buffers:
                    t.add_(torch.randn_like(t), alpha=1e-4)
            recorder.on_step(stats.__class__(**{**stats.__dict__, "iteration": i, "loss": 1.0 / i}))
            if recorder.keyframe_if_due():  # as in training, where a keyframe is written long before the next:
                recorder.flush()  # a backlog would be thinned against a spacing already doubled for it
    recorder.close()
    with Recording.open(path) as rec:
        keyframes = len(rec.keyframes())
        assert len(rec.losses()) == iterations
    return {"iterations": iterations, "file_mb": path.stat().st_size / 2**20, "budget_mb": budget / 2**20,
            "keyframes": keyframes, "final_interval": recorder.interval, "write_s": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lenet_viz.bench.recording", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="MNIST folder (default: digits when absent)")
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--block", type=int, default=60, help="iterations per timed block")
    p.add_argument("--latency-iterations", type=int, default=200)
    p.add_argument("--size-iterations", type=int, default=100_000)
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    config = TrainConfig(dataset="mnist" if args.data_dir else "digits", data_dir=args.data_dir, threads=1)
    dataset = load_dataset(config.dataset, config.data_dir)
    figures: dict = {"dataset": dataset.name, "threads": 1}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures |= overhead(config, dataset, folder, args.blocks, args.block)
        figures |= latency(config, dataset, folder, args.latency_iterations)
        if args.size_iterations:
            figures |= {f"size_{k}": v for k, v in size(config, dataset, folder, args.size_iterations, args.budget).items()}
    for key, value in figures.items():
        print(f"{key:32} {value:.2f}" if isinstance(value, float) else f"{key:32} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
