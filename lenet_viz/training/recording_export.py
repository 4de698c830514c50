"""Exports from a recording: conv1's filters evolving (animated GIF, PNG strip) and the metrics as CSV.

Frames come from keyframes, so every frame is the exact weights of its iteration and no
training is replayed (torch-free: the GUI process can export too).  All frames share one
colour scale (the largest |weight| over the run), so a filter growing shows as one.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .recording import Recording
from .recording_store import RecordingError

LABEL_H, GAP, MARGIN = 14, 3, 4
INTEGER_COLUMNS = ("iteration", "epoch", "samples_seen", "diverged")


def filter_frames(rec: Recording, branch: int | None = None, max_frames: int = 48) -> list[tuple[int, np.ndarray]]:
    """(iteration, conv1 weights) at up to `max_frames` keyframes of the line, evenly spread, first and last kept."""
    frames = rec.conv1_history(branch)
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 (got {max_frames})")
    if len(frames) > max_frames:
        picks = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
        frames = [frames[i] for i in picks]
    return frames


def filters_image(weights: np.ndarray, limit: float, scale: int, label: str) -> Image.Image:
    """One frame: the six 5x5 filters side by side (red positive, blue negative, white zero), labelled."""
    n, k = weights.shape[0], weights.shape[-1]
    side = k * scale
    width = 2 * MARGIN + n * side + (n - 1) * GAP
    image = Image.new("RGB", (width, LABEL_H + side + MARGIN), "white")
    v = np.clip(weights.reshape(n, k, k) / limit, -1, 1)
    pos, neg = np.maximum(v, 0), np.maximum(-v, 0)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)  # zero white, +1 red, -1 blue
    tiles = (rgb * 255).round().astype(np.uint8).repeat(scale, axis=1).repeat(scale, axis=2)
    for i, tile in enumerate(tiles):
        image.paste(Image.fromarray(tile), (MARGIN + i * (side + GAP), LABEL_H))
    ImageDraw.Draw(image).text((MARGIN, 1), label, fill="black")
    return image


def _images(rec: Recording, branch: int | None, max_frames: int, scale: int) -> list[Image.Image]:
    frames = filter_frames(rec, branch, max_frames)
    if not frames:
        raise RecordingError(f"recording {rec.path} has no keyframes to draw filters from")
    limit = max(float(np.abs(w).max()) for _, w in frames) or 1.0
    return [filters_image(w, limit, scale, f"conv1 after iteration {it}") for it, w in frames]


def _saving(path: str | os.PathLike[str], save) -> Path:  # noqa: ANN001 - save: Path -> None
    path = Path(path).expanduser()
    try:
        save(path)
    except OSError as e:
        raise RecordingError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def export_filters_gif(rec: Recording, path: str | os.PathLike[str], *, branch: int | None = None,
                       max_frames: int = 48, scale: int = 16, frame_ms: int = 150) -> int:
    """conv1's filters over the run as an animated GIF (looping; the last frame held 1 s); returns the frame count."""
    images = _images(rec, branch, max_frames, scale)
    durations = [frame_ms] * (len(images) - 1) + [1000]
    _saving(path, lambda p: images[0].save(p, format="GIF", save_all=True, append_images=images[1:],
                                          duration=durations, loop=0))
    return len(images)


def export_filters_png(rec: Recording, path: str | os.PathLike[str], *, branch: int | None = None,
                       max_frames: int = 12, scale: int = 16) -> tuple[int, int]:
    """conv1's filters at up to `max_frames` moments, one row each, top to bottom; returns (width, height)."""
    images = _images(rec, branch, max_frames, scale)
    w, h = images[0].size
    strip = Image.new("RGB", (w, h * len(images)), "white")
    for i, image in enumerate(images):
        strip.paste(image, (0, i * h))
    _saving(path, lambda p: strip.save(p, format="PNG"))
    return strip.size


def export_metrics_csv(rec: Recording, path: str | os.PathLike[str], *, branch: int | None = None) -> int:
    """Every recorded metric of the line, one row per iteration (empty cells for none); returns the row count."""
    columns = rec.metrics(branch)
    names = ["iteration", *(n for n in columns if n != "iteration")]
    n = len(columns["iteration"]) if columns else 0

    def cell(name: str, value: object) -> object:
        if isinstance(value, str):  # a text column: health flags, lab bugs
            return value
        value = float(value)  # type: ignore[arg-type]
        if math.isnan(value):
            return ""
        return int(value) if name in INTEGER_COLUMNS else value

    def save(p: Path) -> None:
        with open(p, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(names)
            for i in range(n):
                out.writerow([cell(name, columns[name][i]) for name in names])

    _saving(path, save)
    return n


__all__ = ["export_filters_gif", "export_filters_png", "export_metrics_csv", "filter_frames", "filters_image"]
