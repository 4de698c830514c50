"""The tutorial's data: random 32x32 inputs and random 10-value regression targets.

The tutorial trains with MSELoss against `torch.randn(10)` targets; labels are the
argmax of each target so accuracy is still defined (and, as expected, near chance).
"""

from __future__ import annotations

import torch

from .dataset import Dataset

NUM_TRAIN = 512
NUM_TEST = 128


def load_random(seed: int, reason: str, num_train: int = NUM_TRAIN, num_test: int = NUM_TEST) -> Dataset:
    """Draw train then test images and targets from one generator seeded with `seed` (reproducible)."""
    gen = torch.Generator().manual_seed(seed)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.randn((n, 1, 32, 32), generator=gen)
        targets = torch.randn((n, 10), generator=gen)
        return images, targets

    train_x, train_t = draw(num_train)
    test_x, test_t = draw(num_test)
    return Dataset(
        "random", train_x, train_t.argmax(1), test_x, test_t.argmax(1), reason,
        train_targets=train_t, test_targets=test_t,
    )
