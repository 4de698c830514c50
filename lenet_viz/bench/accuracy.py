"""`python -m lenet_viz.bench.accuracy`: how well the app's default training does on MNIST.

Trains LeNet with the app's default settings (SGD lr 0.01, momentum 0.9, batch 64, seed 0) through
the engine, exactly as the window does, and measures the whole held-out set (10,000 images) every
`--every` iterations: the accuracy after one epoch, and the first measured iteration at which the
held-out accuracy reaches `--target` (default 98 %), within `--max-epochs`.  Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..data import DataError, load_dataset
from ..training import TrainConfig, Trainer
from .loops import default_bench_data_dir


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m lenet_viz.bench.accuracy", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None, help="MNIST folder (default: ../shared/data/mnist, else the cache)")
    p.add_argument("--every", type=int, default=100, help="iterations between held-out measurements (default 100)")
    p.add_argument("--target", type=float, default=0.98, help="held-out accuracy to reach (default 0.98)")
    p.add_argument("--max-epochs", type=float, default=5.0, help="give up after this many epochs (default 5)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, default=Path("accuracy.json"), help="where to write the results")
    args = p.parse_args(argv)
    if args.every < 1 or not 0 < args.target <= 1 or args.max_epochs <= 0 or args.threads < 1:
        p.error("--every and --threads must be >= 1, --target in (0, 1], --max-epochs > 0")
    return args


def measure(args: argparse.Namespace) -> dict[str, Any]:
    result = one_epoch(args.data_dir or default_bench_data_dir(), every=args.every, target=args.target,
                       max_epochs=args.max_epochs, threads=args.threads)
    return {"command": "python -m lenet_viz.bench.accuracy " + " ".join(sys.argv[1:]), **result}


def one_epoch(data_dir: Path, *, every: int = 100, target: float = 0.98, max_epochs: float = 5.0,
              threads: int = 1) -> dict[str, Any]:
    """Train with the app's defaults on MNIST in `data_dir`, measuring all 10,000 held-out images every
    `every` iterations and at the end of epoch 1, until both that and `target` are known (or `max_epochs`)."""
    torch.set_num_threads(threads)
    config = TrainConfig(dataset="mnist", data_dir=str(data_dir), threads=threads)  # the app's defaults
    dataset = load_dataset("mnist", data_dir, seed=config.seed)
    trainer = Trainer(config, dataset=dataset)
    per_epoch = math.ceil(dataset.num_train / config.batch_size)
    limit = int(max_epochs * per_epoch)
    curve: list[tuple[int, float]] = []
    reached = epoch_one = None
    start = time.perf_counter()
    train_s = 0.0
    while trainer.iteration < limit and (reached is None or epoch_one is None):
        t = time.perf_counter()
        stop = min(trainer.iteration + every, limit)
        if trainer.iteration < per_epoch:  # one measurement exactly at the end of epoch 1
            stop = min(stop, per_epoch)
        while trainer.iteration < stop:
            trainer.step()
        train_s += time.perf_counter() - t
        it = trainer.iteration
        accuracy = trainer.evaluate()  # all 10,000 held-out images
        curve.append((it, accuracy))
        if reached is None and accuracy >= target:
            reached = it
        if epoch_one is None and it >= per_epoch:
            epoch_one = (it, accuracy)
    return {
        "config": config.to_dict(),
        "num_train": dataset.num_train,
        "num_test": dataset.num_test,
        "iterations_per_epoch": per_epoch,
        "after_one_epoch": None if epoch_one is None else {"iteration": epoch_one[0], "held_out_accuracy": epoch_one[1]},
        "target": target,
        "max_epochs": max_epochs,
        "iterations_to_target": reached,
        "epochs_to_target": None if reached is None else reached / per_epoch,
        "measured_every": every,
        "training_s": train_s,
        "wall_s": time.perf_counter() - start,
        "curve": curve,
    }


def summary_lines(r: dict[str, Any]) -> list[str]:
    """What the accuracy run found, in words (this command's output and the benchmark's table)."""
    one = r["after_one_epoch"]
    lines = [f"MNIST, the app's default settings, held-out set of {r['num_test']:,} measured every {r['measured_every']} iterations"]
    if one:
        lines.append(f"after one epoch ({one['iteration']} iterations): {100 * one['held_out_accuracy']:.2f} %")
    if r["iterations_to_target"] is None:
        lines.append(f"{100 * r['target']:.0f} % not reached within {r['max_epochs']:g} epochs")
    else:
        lines.append(f"{100 * r['target']:.0f} % first measured at iteration {r['iterations_to_target']} "
                     f"({r['epochs_to_target']:.2f} epochs)")
    lines.append(f"training {r['training_s']:.1f} s, wall {r['wall_s']:.1f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        r = measure(args)
    except DataError as exc:
        print(f"lenet_viz bench accuracy: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(r)))
    args.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
