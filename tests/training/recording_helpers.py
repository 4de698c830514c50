"""Shared by the recording tests: a small deterministic run (digits, 1 thread) and a recorder for it."""

from __future__ import annotations

from pathlib import Path

import torch

from lenet_viz.data import Dataset
from lenet_viz.training import Recorder, TrainConfig, Trainer

DIGITS = {"dataset": "digits", "threads": 1, "eval_every": 5, "eval_samples": 50}


def make_trainer(digits: Dataset, **kw) -> Trainer:
    torch.set_num_threads(1)  # bit-for-bit comparisons need one summation order
    return Trainer(TrainConfig(**{**DIGITS, **kw}), dataset=digits)


def record(path: Path, trainer: Trainer, steps: int, **kw) -> list[float]:
    """Train `steps` iterations into a recording at `path` (keyframes every 16 unless told); return the losses."""
    kw = {"keyframe_every": 16, "time_share": 1.0, **kw}
    with Recorder(path, trainer, **kw):
        return [trainer.step().loss for _ in range(steps)]
