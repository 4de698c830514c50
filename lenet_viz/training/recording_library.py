"""Where the app keeps its recordings: one file per launch in the user's data folder, the oldest
pruned past a total budget.  Torch-free (the window's process decides the path)."""

from __future__ import annotations

import time
from pathlib import Path

import platformdirs

from .recording_store import RecordingError, identify

SUFFIX = ".lvz"
#: All the app's own recordings together stay under this; the oldest go first.
DEFAULT_TOTAL_BUDGET = 2 * 1024**3


def recordings_dir() -> Path:
    return platformdirs.user_data_path("lenet-viz") / "recordings"


def new_recording_path(folder: Path | None = None, now: float | None = None) -> Path:
    """A fresh file name in `folder` (default: `recordings_dir()`), named by the launch time."""
    folder = recordings_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path, n = folder / f"run-{stamp}{SUFFIX}", 1
    while path.exists():
        n += 1
        path = folder / f"run-{stamp}-{n}{SUFFIX}"
    return path


def prune(folder: Path, budget: int = DEFAULT_TOTAL_BUDGET, keep: Path | None = None) -> list[Path]:
    """Delete the oldest lenet-viz recordings in `folder` until the rest fit `budget` bytes; returns
    what was deleted.  Only files that identify as lenet-viz recordings are ever touched."""
    runs = []
    for path in folder.glob(f"*{SUFFIX}"):
        if keep is not None and path.resolve() == keep.resolve():
            continue
        try:
            identify(path)
        except (RecordingError, OSError):
            continue
        runs.append((path.stat().st_mtime, path))
    sizes = {p: _size(p) for _, p in runs}
    total = sum(sizes.values()) + (_size(keep) if keep is not None and keep.exists() else 0)
    gone = []
    for _, path in sorted(runs):
        if total <= budget:
            break
        for extra in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)
        total -= sizes[path]
        gone.append(path)
    return gone


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
