"""scikit-learn's bundled 8x8 digits, enlarged to look like MNIST: the no-download fallback."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import Dataset, pad_to_32, standardize

#: Held-out share and the split's own seed: fixed (not the run's seed) so that
#: test accuracy means the same 360 images in every run.
TEST_COUNT = 360
SPLIT_SEED = 0


def load_digits_dataset(reason: str) -> Dataset:
    """1,797 digits upsampled bilinearly 8x8 -> 28x28, padded to 32x32; 1437 train / 360 test."""
    from sklearn.datasets import load_digits  # heavy import, only when this source is used

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    big = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False).squeeze(1)
    padded = pad_to_32(big.clamp_(0.0, 1.0).numpy())
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SPLIT_SEED))
    test, train = order[:TEST_COUNT], order[TEST_COUNT:]
    train_x, test_x, mean, std = standardize(padded[train].contiguous(), padded[test].contiguous())
    return Dataset(
        "digits", train_x, labels[train], test_x, labels[test], reason, pixel_mean=mean, pixel_std=std
    )
