"""`lenet-viz --headless`: train without a window, and keep the work however the run ends.

Why it is built this way:

- Ctrl+C (SIGINT) and SIGTERM set a flag instead of killing the process: the run stops at
  the next iteration boundary, the metrics are flushed, the checkpoint is saved, one line
  says so, and the exit code is 130 / 143 as for any interrupted command.  A second signal
  gives up at once (the checkpoint's atomic write still leaves no debris).
- Every metrics row is flushed when it is written: a killed run keeps every finished
  iteration, and a full disk is noticed at the iteration it happens.  A failed write costs
  one line and stops training; the checkpoint is still saved.
"""

from __future__ import annotations

import argparse
import csv
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from .training.config import ConfigError, TrainConfig
from .training.metrics_log import csv_header, csv_row  # noqa: F401 - one definition of the columns, re-exported
from .training.types import StepStats

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3


class StopRequest:
    """While entered, SIGINT and SIGTERM ask the run to stop instead of killing it.

    `signum` is the first signal received (None until then); a second one raises
    KeyboardInterrupt, for a run stuck in something slow.  Outside the main thread (where
    Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopRequest":
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread
            self._previous = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


class MetricsFile:
    """The --metrics CSV: a header, then one flushed row per iteration; write errors are kept, not raised."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.error: str | None = None
        self.rows = 0
        self._file = open(path, "w", newline="")  # noqa: SIM115 - closed by close()
        self._writer = csv.writer(self._file)

    def write(self, stats: StepStats) -> bool:
        """Write and flush `stats`' row; False (and `error` set) when the file refuses it."""
        if self.error is not None:
            return False
        try:
            if self.rows == 0:
                self._writer.writerow(csv_header(stats))
            self._writer.writerow(csv_row(stats))
            self._file.flush()
        except OSError as e:
            self.error = e.strerror or str(e)
            return False
        self.rows += 1
        return True

    def close(self) -> str | None:
        """Close the file; the first error the file reported, or None."""
        try:
            self._file.close()
        except OSError as e:
            self.error = self.error or e.strerror or str(e)
        return self.error


def run_headless(
    config: TrainConfig, args: argparse.Namespace, parser: argparse.ArgumentParser, checkpoint: dict | None = None
) -> int:
    """Train for --steps/--epochs, write --metrics and --save-checkpoint; the exit code."""
    with StopRequest() as stop:
        try:
            return _run(config, args, parser, checkpoint, stop)
        except KeyboardInterrupt:
            print(f"lenet-viz: {stop.name} again: stopped at once (an interrupted save leaves the old file)",
                  file=sys.stderr)
            return stop.exit_code


def _run(config: TrainConfig, args: argparse.Namespace, parser: argparse.ArgumentParser,
         checkpoint: dict | None, stop: StopRequest) -> int:
    from .data import DataError
    from .training import Trainer
    from .training.checkpoint import CheckpointError, apply_checkpoint

    say: Callable[..., None] = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
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
    steps = args.steps or math.ceil(ds.num_train / config.batch_size) * (args.epochs or 1)
    metrics = None
    if args.metrics:
        try:
            metrics = MetricsFile(args.metrics)
        except OSError as e:
            parser.error(f"cannot write --metrics file {args.metrics}: {e.strerror}")
    recorder = None
    if args.record:
        from .training.recorder import Recorder, RecordingError

        try:
            budget = {"budget": args.record_budget * 2**20} if getattr(args, "record_budget", None) else {}
            recorder = Recorder(args.record, trainer, **budget)  # the path was checked in main(); this is for what changed since
        except (RecordingError, ValueError) as e:  # ValueError: a budget under the recorder's minimum
            print(f"lenet-viz: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    try:
        code = _train(trainer, steps, metrics, stop, say)
    finally:
        if metrics:
            metrics.close()
        if recorder:
            recorder.close()
            if recorder.stopped:  # training went on without it: say so, whatever --quiet says
                print(f"lenet-viz: {recorder.stopped}", file=sys.stderr)
            else:
                say(f"recording: {recorder.path.resolve()}")
    return _finish(trainer, args, metrics, code, stop, say)


def _finish(trainer: Any, args: argparse.Namespace, metrics: MetricsFile | None, code: int, stop: StopRequest,
            say: Callable[..., None]) -> int:
    """Save the checkpoint (after divergence, a failed metrics write or a signal too: the weights
    are finite) and say how the run ended: one line when it was interrupted."""
    kept, errors, done = [], [], []
    if metrics:
        kept.append(f"metrics in {args.metrics} ({metrics.rows} rows)")
        if metrics.error and code != EXIT_FAILED:  # it failed while closing: not reported yet
            errors.append(f"cannot write --metrics file {args.metrics}: {metrics.error}")
        code = code or (EXIT_FAILED if metrics.error else 0)
    if args.save_checkpoint:
        saved, line = _save(trainer, args.save_checkpoint)
        kept.append(line)
        (done if saved else errors).append(line)
        code = code or (0 if saved else EXIT_FAILED)
    if stop:
        print(f"lenet-viz: {stop.name} received: stopped at iteration {trainer.iteration}; "
              f"{'; '.join(kept) or 'nothing to save (no --metrics or --save-checkpoint)'}", file=sys.stderr)
        return stop.exit_code
    for error in errors:
        print(f"lenet-viz: error: {error}", file=sys.stderr)
    if metrics:
        say(f"metrics: {Path(args.metrics).resolve()}")
    for line in done:
        say(line)
    acc = trainer.evaluate()
    print(f"held-out accuracy after {trainer.iteration} iterations: {acc * 100:.2f}% ({trainer.dataset.num_test} images)")
    return code


def _save(trainer: Any, path: str) -> tuple[bool, str]:
    from .training.checkpoint import CheckpointError, save_checkpoint

    try:
        return True, f"checkpoint: {save_checkpoint(trainer, path).resolve()} (iteration {trainer.iteration})"
    except CheckpointError as e:
        return False, str(e)


def _train(trainer: Any, steps: int, metrics: MetricsFile | None, stop: StopRequest, say: Callable[..., None]) -> int:
    from .training.health import flag_changes

    every = max(1, steps // 20)
    first, end = trainer.iteration, trainer.iteration + steps  # a resumed run counts on from its checkpoint
    start = time.perf_counter()
    flags: tuple = ()
    for _ in range(steps):
        if stop:
            return 0
        stats = trainer.step()
        for line in flag_changes(flags, stats.flags, stats.iteration):  # once when raised, once when cleared
            print(f"lenet-viz: {line}", file=sys.stderr, flush=True)
        flags = stats.flags
        if metrics is not None and not metrics.write(stats):
            print(f"lenet-viz: error: cannot write --metrics file {metrics.path}: {metrics.error}; "
                  f"training stopped at iteration {stats.iteration}", file=sys.stderr)
            return EXIT_FAILED
        if stats.diverged:
            print(
                f"lenet-viz: training diverged at iteration {stats.iteration}: loss is {stats.loss} "
                f"(lr {stats.lr}). " + ("Try without --bug lr_x100." if "lr_x100" in stats.bugs
                                        else f"Try a smaller --lr, e.g. {stats.lr / 10:g}."),
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


def _threads() -> int:
    import torch

    return torch.get_num_threads()
