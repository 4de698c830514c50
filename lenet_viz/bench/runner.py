"""`python -m lenet_viz.bench`: bare loop vs engine (vs full app) on one configuration, in one run.

One run, one dataset, one thread count, interleaved rounds: the only way ratios between the
three mean anything on a machine that other people are using at the same time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ..data import DataError, Dataset, load_dataset
from ..training import ConfigError, LossKind, OptimizerKind, TrainConfig
from .app_hook import APP_THREADS, app_contender, app_soak, app_summary, load_app
from . import neighbours
from .features import FeatureLoops, feature_costs, health_check_us
from .loops import (
    BareLoop, Block, Contender, EngineLoop, default_bench_data_dir, interleaved_rounds, sweep_threads, thread_choices,
)
from .report import build_results, format_table, rate_section, write_json


#: Iterations recorded before the rewind and scrub are timed: keyframes come every >= 8 (recorder.KEYFRAME_EVERY).
LATENCY_ITERATIONS = 200
#: The MNIST accuracy run stops at 98 % or after this many epochs (one is 938 iterations).
ACCURACY_EPOCHS = 2.0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (got {text})")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m lenet_viz.bench",
        description="Training speed of a bare PyTorch loop vs the engine (vs the full app), in one run.",
    )
    p.add_argument("--iterations", type=_positive, help="timed iterations per round (default 500; 20 with --quick)")
    p.add_argument("--rounds", type=_positive, help="interleaved rounds; the median round counts (default 3)")
    p.add_argument("--warmup", type=_positive, help="untimed iterations before timing (default 30)")
    p.add_argument("--threads", type=_positive, help="torch threads to use; skips the thread sweep")
    p.add_argument("--dataset", default="auto", help="auto (MNIST if present, else digits), mnist, digits, random")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA if torch sees a GPU")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="MNIST folder (default: ../shared/data/mnist beside the repo if present, else the user cache)",
    )
    p.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write results")
    p.add_argument("--quick", action="store_true", help="a tiny run (1 round, 1 thread) for tests and smoke checks")
    p.add_argument("--no-app", action="store_true", help="do not measure the full GUI app")
    p.add_argument("--no-neighbours", action="store_true",
                   help="do not time the bare loop beside a busy neighbour core (what this machine's shared memory "
                   "costs any second busy core, the app's window included)")
    p.add_argument("--no-features", action="store_true",
                   help="do not time the engine's features on and off (recording, distributions, evaluation)")
    p.add_argument("--no-time-travel", action="store_true",
                   help="do not time a rewind and a scrub in a recording (python -m lenet_viz.bench.recording has more)")
    p.add_argument("--no-accuracy", action="store_true",
                   help="do not train MNIST for an epoch with the app's defaults (held-out accuracy, iterations to 98 %%); "
                   "never with --quick or without MNIST")
    p.add_argument(
        "--app-threads",
        type=_positive,
        help=f"the app worker's torch threads (default: --threads, else the app's own default, {APP_THREADS}); "
        "the bare loop is also timed at this count, so the app is compared with the same training",
    )
    p.add_argument(
        "--soak-iterations",
        type=_positive,
        metavar="N",
        help="also run the app's memory soak (python -m lenet_viz.bench.soak) for N iterations: RSS growth",
    )
    args = p.parse_args(argv)
    quick = args.quick
    args.iterations = args.iterations or (20 if quick else 500)
    args.rounds = args.rounds or (1 if quick else 3)
    args.warmup = args.warmup or (5 if quick else 30)
    args.data_dir = args.data_dir or default_bench_data_dir()
    return args


def pinned(contender: Contender, threads: int) -> Contender:
    """Re-set the thread count before each block: torch's setting is global and anyone may change it."""

    def run(iterations: int) -> Block:
        torch.set_num_threads(threads)
        return contender(iterations)

    return run


def bench_config(args: argparse.Namespace) -> TrainConfig:
    """The one configuration every contender trains with: the app's defaults, spelled out."""
    return TrainConfig(
        lr=0.01,
        momentum=0.9,
        batch_size=64,
        optimizer=OptimizerKind.SGD,
        loss=LossKind.CROSS_ENTROPY,
        seed=0,
        dataset=args.dataset,
        data_dir=str(args.data_dir),
        device=args.device,
    )


def choose_threads(args: argparse.Namespace, config: TrainConfig, dataset: Dataset) -> tuple[dict[int, float], int]:
    """The bare loop's rate per thread count, and the fastest count (or --threads, unswept)."""
    if args.threads:
        return {}, args.threads
    choices = [1] if args.quick else thread_choices()
    sweep = sweep_threads(BareLoop(config, dataset), choices, args.iterations, args.warmup)
    return sweep, max(sweep, key=sweep.__getitem__)


def engine_summary(blocks: list[Block], engine: EngineLoop, dataset: Dataset) -> dict[str, Any]:
    """Engine rates plus what its held-out evaluation cost, the one thing the bare loop never does."""
    from .inside_step import snapshot_costs  # here: `python -m lenet_viz.bench.inside_step` must not find it imported

    config = engine.trainer.config
    section = rate_section(blocks, config.batch_size)
    eval_ms = engine.evaluation_ms()
    section.update(
        eval_every=config.eval_every,
        eval_samples=config.eval_samples,
        eval_images=min(config.eval_samples, dataset.num_test),
        timed_evaluations=engine.timed_evaluations,
        eval_ms=eval_ms,
        eval_share=engine.timed_evaluations * eval_ms / 1000 / sum(b.wall_s for b in blocks),
        snapshot=snapshot_costs(engine.trainer),  # after the timed rounds: it steps the trainer
    )
    return section


def measure(args: argparse.Namespace) -> dict[str, Any]:
    base = bench_config(args)
    dataset = load_dataset(args.dataset, args.data_dir, seed=base.seed)
    sweep, threads = choose_threads(args, base, dataset)
    torch.set_num_threads(threads)
    config = base.replace(threads=threads)
    bare, engine = BareLoop(config, dataset), EngineLoop(config, dataset)
    bare.run(args.warmup)
    engine.run(args.warmup)
    engine.timed_evaluations = 0
    contenders: dict[str, Contender] = {"bare": pinned(bare.run, threads), "engine": pinned(engine.run, threads)}
    app_module, app_status = load_app(args.no_app)
    app_runs: list[dict[str, Any]] = []
    app_threads = args.app_threads or args.threads or APP_THREADS
    if app_module is not None:
        if app_threads != threads:  # the app leaves a core to the window: compare it with the same training
            bare_app = BareLoop(config.replace(threads=app_threads), dataset)
            torch.set_num_threads(app_threads)
            bare_app.run(args.warmup)
            contenders["bare_app"] = pinned(bare_app.run, app_threads)
        app_run = app_contender(app_module, config, dataset, app_threads, app_runs)
        contenders["app"] = pinned(app_run, app_threads)
        if not args.no_neighbours and neighbours.wanted(args.quick):  # the app's gap this machine imposes
            contenders.update(neighbours.contenders(contenders.get("bare_app", contenders["bare"])))
    features = None if args.no_features else FeatureLoops(config, dataset, args.warmup)
    recording_threads = None
    try:  # its recording's file and writer thread go, whatever happens in the rounds
        if features is not None:
            contenders.update(features.contenders(lambda run: pinned(run, threads)))
        blocks = interleaved_rounds(contenders, args.iterations, args.rounds)
        if features is not None:
            recording_threads = features.recording_threads()
    finally:
        if features is not None:
            features.close()
    bs = config.batch_size
    app = None if app_module is None else app_summary(blocks["app"], app_runs, bs)
    if app is not None:
        app["soak"] = app_soak(app_module, args.soak_iterations)
    feature_section = None if features is None else feature_costs(blocks, config, health_check_us(engine), recording_threads)
    rewind = None if args.no_time_travel else time_travel(config, dataset, feature_section, args.quick)
    epoch = None
    if not (args.no_accuracy or args.quick) and dataset.name == "mnist":
        epoch = one_epoch(args.data_dir, max_epochs=ACCURACY_EPOCHS, threads=threads)
    return build_results(
        config=config.to_dict(),
        bench={
            "iterations": args.iterations,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "quick": args.quick,
            "data_dir": str(args.data_dir),
            "dataset_reason": dataset.reason,
            "num_train": dataset.num_train,
            "soak_iterations": args.soak_iterations,
        },
        dataset=dataset.name,
        threads_sweep=sweep,
        best_threads=threads,
        bare=rate_section(blocks["bare"], bs),
        engine=engine_summary(blocks["engine"], engine, dataset),
        app=app,
        app_status=app_status,
        app_threads=app_threads,
        bare_at_app_threads=rate_section(blocks["bare_app"], bs) if "bare_app" in blocks else None,
        features=feature_section,
        time_travel=rewind,
        accuracy=epoch,
        neighbours=neighbours.summary(blocks, "bare_app" if "bare_app" in blocks else "bare"),
    )


def one_epoch(data_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """bench/accuracy.py's MNIST epoch (imported here: `python -m lenet_viz.bench.accuracy` must not find it imported)."""
    from .accuracy import one_epoch as run

    return run(data_dir, **kwargs)


def time_travel(config: TrainConfig, dataset: Dataset, features: dict[str, Any] | None, quick: bool) -> dict[str, Any]:
    """Rewind and scrub in a recording of this configuration (bench/recording.py's latency), and the
    recording's cost from this run's feature rounds (None without them)."""
    from .recording import latency_figures  # here: `python -m lenet_viz.bench.recording` must not find it imported

    figures = latency_figures(config, dataset, 40 if quick else LATENCY_ITERATIONS)
    row = next((f for f in (features or {}).get("features", []) if f["feature"] == "recording"), None)
    share = None if row is None or row["cpu_share"] is None else 100 * row["cpu_share"]
    return {**figures, "recording_overhead_pct": share}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table, write the JSON.  Returns a process exit code.

    Restores torch's thread count and RNG afterwards, so calling it inside a test session
    leaves the rest of that session as it found it.
    """
    args = parse_args(argv)
    threads_before = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            results = measure(args)
    except (DataError, ConfigError) as exc:
        print(f"lenet_viz bench: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads_before)
    print(format_table(results))
    write_json(results, args.json)
    print(f"\nresults written to {args.json}")
    return 0
