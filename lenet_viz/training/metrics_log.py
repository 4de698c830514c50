"""Every iteration's metrics of the current run, kept by the engine so the app can export them all.

The trainer's MetricHistory is bounded (pairs are averaged once it is full), so a CSV from it, or
from the GUI's copy, would not have every iteration.  The loop therefore spools each `StepStats`
as a CSV row (the headless `--metrics` columns) into an anonymous temporary file: a few dozen
microseconds an iteration, about 400 bytes on disk, nothing in memory, gone when the process ends.
Export copies the spool to the user's file through a temporary sibling, so a failed export leaves
nothing half-written.  A new run (reset, restarting settings, a checkpoint opened) starts a new spool.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

from .types import RELU_LAYERS, StepStats, metric_columns


def csv_header(stats: StepStats) -> list[str]:
    """The columns of `--metrics` and of File ▸ Export metrics."""
    return (
        ["iteration", "epoch", "loss", "accuracy", "eval_accuracy", "lr", "samples_seen"]
        + metric_columns(stats.grad_norms, stats.weight_norms, stats.update_ratios)
        + [f"dead_relu/{k}" for k in RELU_LAYERS] + ["flags"]
    )


def csv_row(stats: StepStats) -> list:
    return (
        [stats.iteration, stats.epoch, stats.loss, stats.accuracy,
         "" if stats.eval_accuracy is None else stats.eval_accuracy, stats.lr, stats.samples_seen]
        + list(stats.grad_norms.values()) + list(stats.weight_norms.values()) + list(stats.update_ratios.values())
        + [stats.dead_relu.get(k, "") for k in RELU_LAYERS] + [";".join(f.name for f in stats.flags)]
    )


class MetricsLog:
    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self.rows = 0
        self.first_iteration: int | None = None

    def add(self, stats: StepStats) -> None:
        if self.rows == 0:
            self._writer.writerow(csv_header(stats))
            self.first_iteration = stats.iteration
        self._writer.writerow(csv_row(stats))
        self.rows += 1

    def restart(self) -> None:
        """A new run: forget the old one's rows."""
        self._file.seek(0)
        self._file.truncate()
        self.rows, self.first_iteration = 0, None

    def export(self, path: str | Path) -> int:
        """Write every row so far to `path` (CSV with a header); returns the row count.
        Raises OSError naming the file; on failure the target is left as it was."""
        path = Path(path)
        self._file.flush()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
                self._file.seek(0)
                shutil.copyfileobj(self._file, out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            self._file.seek(0, os.SEEK_END)
        return self.rows

    def close(self) -> None:
        self._file.close()
