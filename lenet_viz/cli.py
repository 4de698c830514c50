"""`lenet-viz`: the desktop app by default, `--headless` for scripts and servers."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from . import __version__
from .headless import EXIT_DIVERGED, EXIT_USAGE, csv_header, csv_row  # noqa: F401 - the CLI's public names
from .output_paths import OutputPathError, check_distinct, check_writable
from .training.bugs import BUGS
from .training.config import DATASETS, DEVICES, ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode


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
    p.add_argument("recording", nargs="?", metavar="RECORDING.lvz", help="a run recorded with --record (here or on "
                   "another machine) to open in the app: scrub it, follow it while it is still being written, continue it")
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
    g.add_argument("--bug", action="append", choices=BUGS, metavar="NAME", help="switch on a bug of the lab "
                   f"(repeatable): {', '.join(BUGS)}")
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
    c.add_argument("--no-record", action="store_true", help="app: do not record this run (by default every run is "
                   "recorded in the user's data folder, the oldest pruned past 2 GB, so it can be scrubbed and rewound)")
    c.add_argument("--record-budget", type=_positive_int, metavar="MB", help="the recording's size budget (default 256 MB): "
                   "keyframes thin out to stay within it")
    c.add_argument("--record", metavar="PATH", help="record the run into PATH (a lenet-viz recording: scrub, rewind, "
                   "follow it live from another process); an earlier recording there is replaced, any other file refused")
    p.add_argument("--download-mnist", action="store_true", help="fetch the MNIST files into the data directory and exit")
    return p


def config_from_args(args: argparse.Namespace, *, app: bool) -> TrainConfig:
    threads = args.threads if args.threads is not None else (1 if app else 0)
    return TrainConfig(
        lr=args.lr, momentum=args.momentum, batch_size=args.batch_size, optimizer=args.optimizer,
        loss=args.loss, update=args.update, seed=args.seed, dataset=args.dataset, data_dir=args.data_dir,
        device=args.device, threads=threads, eval_every=args.eval_every, eval_samples=args.eval_samples,
        bugs=frozenset(args.bug or ()),
    )


#: Options naming a file lenet-viz writes, as (option, replace): checked before any work starts
#: (output_paths.check_writable).  replace=True: written beside and renamed into place.
OUTPUT_OPTIONS: list[tuple[str, bool]] = [("--save-checkpoint", True), ("--metrics", False), ("--record", True)]
#: (output, input) pairs that may name the same file: saving a resumed run back in place is safe
#: (the input was read and validated first, and the save is atomic).
SAME_FILE_ALLOWED = frozenset({("--save-checkpoint", "--checkpoint")})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps and args.epochs:
        parser.error("give --steps or --epochs, not both")
    if args.speed_limit is not None and not (args.speed_limit > 0 and math.isfinite(args.speed_limit)):
        parser.error(f"--speed-limit must be a positive number, got {args.speed_limit}")
    if args.download_mnist:
        return _download(args)
    try:
        config = config_from_args(args, app=not args.headless)
    except ConfigError as e:
        parser.error(str(e))
    if args.save_checkpoint and not args.headless:
        parser.error("--save-checkpoint is for --headless; in the app use File > Save checkpoint (Ctrl+S)")
    try:
        check_outputs(args)
    except OutputPathError as e:
        parser.error(str(e))
    checkpoint = None
    if args.checkpoint:  # read and check it before any data is loaded or any window opens
        from .training.checkpoint import CheckpointError, checkpoint_config, load_checkpoint

        try:
            checkpoint = load_checkpoint(args.checkpoint)
        except CheckpointError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        config = checkpoint_config(checkpoint, config)
    if args.record:  # before any data loads: a file that is not a recording is never touched
        from .training.recording_store import RecordingError, check_writable

        try:
            check_writable(Path(args.record).expanduser())
        except RecordingError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    if args.recording:
        if args.headless:
            parser.error("a recording is opened in the app; to record a headless run use --record PATH")
        from .training.recording import Recording, RecordingError  # torch-free: checked before any window opens

        try:
            Recording.open(args.recording).close()
        except RecordingError as e:
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    if args.headless:
        from .headless import run_headless

        return run_headless(config, args, parser, checkpoint)
    if args.train_in == "process":  # training's process imports torch and loads the data while Qt starts here
        from .training.remote import start_warm_child

        start_warm_child(config)
    from .app.main_window import run_app  # Qt only when a window is wanted

    record = args.record or not args.no_record  # a path, True: the user's recordings folder, False: none
    return run_app(config, speed_limit=args.speed_limit, checkpoint=args.checkpoint, process=args.train_in == "process",
                   record=record, recording=args.recording, record_budget=_budget(args))


def _budget(args: argparse.Namespace) -> int | None:
    return args.record_budget * 2**20 if args.record_budget else None


def check_outputs(args: argparse.Namespace) -> None:
    """OutputPathError (one line) unless every output option names a writable file that is no input."""
    outputs = {}
    for option, replace in OUTPUT_OPTIONS:
        path = getattr(args, option.removeprefix("--").replace("-", "_"), None)
        if path:
            check_writable(path, option, replace=replace)
            outputs[option] = path
    if outputs:
        check_distinct(outputs, input_paths(args), SAME_FILE_ALLOWED)


def input_paths(args: argparse.Namespace) -> dict[str, str]:
    """Files the run reads: the checkpoint and any MNIST file in the data folder (torch-free)."""
    from .data.files import STEMS, default_data_dir

    inputs = {"--checkpoint": args.checkpoint} if args.checkpoint else {}
    folder = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    for stem in STEMS:
        for name in (f"{stem}.gz", stem):
            if (folder / name).is_file():
                inputs[f"MNIST data file {name}"] = str(folder / name)
    return inputs


def _download(args: argparse.Namespace) -> int:
    from .data import DataError, download_mnist
    from .headless import StopRequest

    def progress(name: str, done: int, total: int) -> None:
        if not args.quiet:
            of = f" of {total / 1e6:.1f} MB" if total else ""
            print(f"\r{name}: {done / 1e6:.1f} MB{of}", end="", file=sys.stderr, flush=True)

    with StopRequest() as stop:  # Ctrl+C cancels cleanly: no partial file stays
        try:
            where = download_mnist(args.data_dir, progress=progress, cancel=lambda: bool(stop))
        except DataError as e:
            print(f"\nlenet-viz: error: {e}", file=sys.stderr)
            return stop.exit_code if stop else 1
    print(f"\nMNIST is ready in {where}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
