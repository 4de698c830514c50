"""`lenet-viz`: the desktop app by default, `--headless` for scripts and servers."""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path
from typing import IO, NoReturn, Sequence

from . import __version__
from .training.config import DATASETS, DEVICES, ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode
from .training.types import StepStats

EXIT_USAGE = 2
EXIT_DIVERGED = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option costs the user one clear line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"lenet-viz: error: {message} (see lenet-viz --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = _Parser(
        prog="lenet-viz",
        description="Watch, pause and step the training of LeNet (the PyTorch tutorial network).",
    )
    p.add_argument("--version", action="version", version=f"lenet-viz {__version__}")
    g = p.add_argument_group("training (mirrors TrainConfig)")
    g.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="auto: MNIST if its files are present, else bundled digits")
    g.add_argument("--data-dir", metavar="DIR", help="where the MNIST IDX files live (default: $LENET_VIZ_DATA_DIR or the user cache)")
    g.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr})")
    g.add_argument("--momentum", type=float, default=d.momentum, help=f"SGD momentum (default {d.momentum})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    g.add_argument("--optimizer", choices=[e.value for e in OptimizerKind], default=d.optimizer.value)
    g.add_argument("--loss", choices=[e.value for e in LossKind], default=d.loss.value, help="mse uses one-hot targets, as the tutorial's MSELoss")
    g.add_argument("--update", choices=[e.value for e in UpdateMode], default=d.update.value, help="manual: the tutorial's p.data.sub_(p.grad.data * lr)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", choices=DEVICES, default=d.device)
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice headless, 1 in the app)")
    g.add_argument("--eval-every", type=int, default=d.eval_every, metavar="N", help="held-out evaluation every N iterations (0 = never)")
    g.add_argument("--eval-samples", type=int, default=d.eval_samples, metavar="N", help="held-out images per periodic evaluation")
    h = p.add_argument_group("headless")
    h.add_argument("--headless", action="store_true", help="train without a window")
    h.add_argument("--steps", type=_positive_int, metavar="N", help="iterations to train (default: one epoch)")
    h.add_argument("--epochs", type=_positive_int, metavar="E", help="epochs to train instead of --steps")
    h.add_argument("--metrics", metavar="CSV", help="write every iteration's metrics to this CSV file")
    h.add_argument("--quiet", action="store_true", help="no progress lines")
    a = p.add_argument_group("app")
    a.add_argument("--speed-limit", type=float, default=None, metavar="IT/S", help="max iterations per second (default unlimited)")
    a.add_argument("--train-in", choices=("process", "thread"), default="process", help="process (default): train in a child "
                   "process, so drawing never slows training; thread: in the app's own process (for debugging)")
    c = p.add_argument_group("checkpoints")
    c.add_argument("--checkpoint", metavar="PATH", help="resume the run saved in PATH (app or headless); its settings "
                   "replace the training options above, except --device, --threads and --data-dir (this machine's)")
    c.add_argument("--save-checkpoint", metavar="PATH", help="headless: save the run to PATH when training ends")
    p.add_argument("--download-mnist", action="store_true", help="fetch the MNIST files into the data directory and exit")
    return p


def config_from_args(args: argparse.Namespace, *, app: bool) -> TrainConfig:
    threads = args.threads if args.threads is not None else (1 if app else 0)
    return TrainConfig(
        lr=args.lr, momentum=args.momentum, batch_size=args.batch_size, optimizer=args.optimizer,
        loss=args.loss, update=args.update, seed=args.seed, dataset=args.dataset, data_dir=args.data_dir,
        device=args.device, threads=threads, eval_every=args.eval_every, eval_samples=args.eval_samples,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps and args.epochs:
        parser.error("give --steps or --epochs, not both")
    if args.speed_limit is not None and not (args.speed_limit > 0 and math.isfinite(args.speed_limit)):
        parser.error(f"--speed-limit must be a positive number, got {args.speed_limit}")
    if args.download_mnist:
        return _download(args, parser)
    try:
        config = config_from_args(args, app=not args.headless)
    except ConfigError as e:
        parser.error(str(e))
    checkpoint = None
    if args.save_checkpoint and not args.headless:
        parser.error("--save-checkpoint is for --headless; in the app use File > Save checkpoint (Ctrl+S)")
    if args.checkpoint:  # read and check it before any data is loaded or any window opens
        from .training.checkpoint import CheckpointError, checkpoint_config, load_checkpoint

        try:
            checkpoint = load_checkpoint(args.checkpoint)
        except CheckpointError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        config = checkpoint_config(checkpoint, config)
    if args.headless:
        return run_headless(config, args, parser, checkpoint)
    from .app.main_window import run_app  # Qt only when a window is wanted

    return run_app(config, speed_limit=args.speed_limit, checkpoint=args.checkpoint, process=args.train_in == "process")


def _download(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .data import DataError, download_mnist

    def progress(name: str, done: int, total: int) -> None:
        if not args.quiet:
            of = f" of {total / 1e6:.1f} MB" if total else ""
            print(f"\r{name}: {done / 1e6:.1f} MB{of}", end="", file=sys.stderr, flush=True)

    try:
        where = download_mnist(args.data_dir, progress=progress)
    except DataError as e:
        print(f"\nlenet-viz: error: {e}", file=sys.stderr)
        return 1
    print(f"\nMNIST is ready in {where}", file=sys.stderr)
    return 0


def run_headless(
    config: TrainConfig, args: argparse.Namespace, parser: argparse.ArgumentParser, checkpoint: dict | None = None
) -> int:
    from .data import DataError
    from .training import Trainer
    from .training.checkpoint import CheckpointError, apply_checkpoint, save_checkpoint

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    if args.save_checkpoint and not Path(args.save_checkpoint).expanduser().absolute().parent.is_dir():
        parser.error(f"cannot write --save-checkpoint {args.save_checkpoint}: its folder does not exist")
    try:
        trainer = Trainer(config)
    except (DataError, ConfigError) as e:
        parser.error(str(e))
    trainer.record_graph = False  # no snapshot is ever looked at here: skip the graph's gradient norms
    if checkpoint is not None:
        try:
            apply_checkpoint(trainer, checkpoint, args.checkpoint)
        except CheckpointError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        say(f"resumed {args.checkpoint} at iteration {trainer.iteration}")
    ds = trainer.dataset
    say(f"dataset: {ds.name} ({ds.num_train} train / {ds.num_test} held-out) — {ds.reason}")
    say(f"device: {trainer.device}, torch threads: {_threads()}")
    per_epoch = math.ceil(ds.num_train / config.batch_size)
    steps = args.steps or per_epoch * (args.epochs or 1)
    metrics: IO[str] | None = None
    if args.metrics:
        try:
            metrics = open(args.metrics, "w", newline="")
        except OSError as e:
            parser.error(f"cannot write --metrics file {args.metrics}: {e.strerror}")
    try:
        code = _train(trainer, steps, metrics, say)
    finally:
        if metrics:
            metrics.close()
            say(f"metrics: {Path(args.metrics).resolve()}")
    if args.save_checkpoint:  # also after divergence: the skipped update left the weights finite
        try:
            say(f"checkpoint: {save_checkpoint(trainer, args.save_checkpoint).resolve()} (iteration {trainer.iteration})")
        except CheckpointError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            code = code or 1
    acc = trainer.evaluate()
    print(f"held-out accuracy after {trainer.iteration} iterations: {acc * 100:.2f}% ({ds.num_test} images)")
    return code


def _train(trainer, steps: int, metrics: IO[str] | None, say) -> int:  # noqa: ANN001
    writer = None
    every = max(1, steps // 20)
    first, end = trainer.iteration, trainer.iteration + steps  # a resumed run counts on from its checkpoint
    start = time.perf_counter()
    for _ in range(steps):
        stats = trainer.step()
        if metrics is not None:
            if writer is None:
                writer = csv.writer(metrics)
                writer.writerow(csv_header(stats))
            writer.writerow(csv_row(stats))
        if stats.diverged:
            print(
                f"lenet-viz: training diverged at iteration {stats.iteration}: loss is {stats.loss} "
                f"(lr {stats.lr}). Try a smaller --lr, e.g. {stats.lr / 10:g}.",
                file=sys.stderr,
            )
            return EXIT_DIVERGED
        if stats.iteration % every == 0 or stats.iteration == end:
            rate = (stats.iteration - first) / (time.perf_counter() - start)
            held = f"  held-out {stats.eval_accuracy * 100:.1f}%" if stats.eval_accuracy is not None else ""
            say(
                f"iter {stats.iteration:>6}/{end}  epoch {stats.epoch}  loss {stats.loss:.4f}  "
                f"batch acc {stats.accuracy * 100:5.1f}%{held}  {rate:.0f} it/s"
            )
    return 0


def csv_header(stats: StepStats) -> list[str]:
    return (
        ["iteration", "epoch", "loss", "accuracy", "eval_accuracy", "lr", "samples_seen"]
        + [f"grad_norm/{k}" for k in stats.grad_norms]
        + [f"weight_norm/{k}" for k in stats.weight_norms]
        + [f"update_ratio/{k}" for k in stats.update_ratios]
    )


def csv_row(stats: StepStats) -> list:
    return (
        [stats.iteration, stats.epoch, stats.loss, stats.accuracy,
         "" if stats.eval_accuracy is None else stats.eval_accuracy, stats.lr, stats.samples_seen]
        + list(stats.grad_norms.values()) + list(stats.weight_norms.values()) + list(stats.update_ratios.values())
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
