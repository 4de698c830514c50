"""The `Dataset` every source returns, the error every source raises, and the shared normalization."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError  # noqa: F401 - re-exported: every source raises it


@dataclass(frozen=True)
class Dataset:
    """Images and labels ready for LeNet: float32 (N, 1, 32, 32), standardized.

    Images are standardized with one scalar mean/std computed on the *training*
    images of this source (after padding to 32x32), so each source has mean 0 and
    std 1 on its train split and the test split uses the same transform.
    `pixel_mean`/`pixel_std` record it: `raw = image * pixel_std + pixel_mean`
    gives back intensities in [0, 1] for display (the random source is left as drawn).
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    reason: str
    train_targets: torch.Tensor | None = None
    test_targets: torch.Tensor | None = None
    pixel_mean: float = 0.0
    pixel_std: float = 1.0

    @property
    def num_train(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.test_labels.shape[0])


def standardize(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Standardize both splits in place with the train split's scalar mean/std.

    Train statistics (not per-source constants) keep every source at mean 0 / std 1,
    which is what the tutorial's LeNet and its learning rate were tuned around.
    Returns (train, test, mean, std).
    """
    mean = float(train.mean())
    std = float(train.std()) or 1.0
    for images in (train, test):
        images.sub_(mean).div_(std)
    return train, test, mean, std


def pad_to_32(images: np.ndarray) -> torch.Tensor:
    """Pad (N, 28, 28) images with 2 background pixels per side into (N, 1, 32, 32), as LeNet-5 did.

    Copies, so read-only inputs (np.frombuffer over file bytes) come out writable.
    """
    out = np.zeros((images.shape[0], 1, 32, 32), dtype=images.dtype)
    out[:, 0, 2:30, 2:30] = images
    return torch.from_numpy(out)
