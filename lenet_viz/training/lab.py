"""What the bug lab's switches do to the engine: small pure functions the trainer calls.

Each bug is one deliberate mistake from a real training loop (names in `bugs.py`).  The trainer
asks `config.bugs` (an empty frozenset is falsy) before calling any of these, so a run with no
bug on pays one truth test per hook and nothing else.  `skip_zero_grad` needs no function: the
trainer simply does not call `optimizer.zero_grad()`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import Dataset
from .config import TrainConfig

LR_FACTOR = 100.0
#: Added to the run's seed for the label permutation, so it is not the first epoch's data order.
LABEL_SEED_SALT = 0x5EED


def effective_lr(config: TrainConfig) -> float:
    """The learning rate the optimizer really uses: `lr`, times 100 under lr_x100."""
    return config.lr * LR_FACTOR if "lr_x100" in config.bugs else config.lr


def label_permutation(count: int, seed: int) -> torch.Tensor:
    """The one permutation shuffled_labels applies: a function of the seed only, so runs repeat."""
    gen = torch.Generator().manual_seed((seed + LABEL_SEED_SALT) % 2**63)
    return torch.randperm(count, generator=gen)


def training_labels(dataset: Dataset, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The labels (and regression targets) training sees: the dataset's own, or under
    shuffled_labels the same values permuted once, so each image keeps one wrong label for the run
    (the class balance is unchanged; only memorization can fit them).  Held-out labels stay true."""
    labels, targets = dataset.train_labels, dataset.train_targets
    if "shuffled_labels" not in config.bugs:
        return labels, targets
    perm = label_permutation(len(labels), config.seed)
    return labels[perm], None if targets is None else targets[perm]


def raw_pixels(images: torch.Tensor, dataset: Dataset) -> torch.Tensor:
    """Undo the dataset's standardization and scale to 0-255, as a loader that forgot to normalize.

    `dataset.pixel_mean/std` map a stored image back to intensities in [0, 1]; the random source
    (mean 0, std 1) is simply scaled by 255.  Returns a new tensor; the dataset is untouched.
    """
    return images * (dataset.pixel_std * 255.0) + dataset.pixel_mean * 255.0


def loss_input(output: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """What the loss is computed on: the logits, or under double_softmax their softmax
    (cross_entropy then applies its own log-softmax on top: gradients shrink, learning crawls)."""
    return F.softmax(output, dim=1) if "double_softmax" in config.bugs else output
