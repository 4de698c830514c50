"""Tiny, valid MNIST-format files written on the fly, so corruption tests need no real data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from idx_files import idx_bytes, write_file


@pytest.fixture
def tiny_mnist(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a valid 6-train / 4-test MNIST set into a folder (gz or raw) and return the folder."""

    def make(folder: Path | None = None, *, gz: bool = True, n_train: int = 6, n_test: int = 4) -> Path:
        folder = folder or tmp_path / "mnist"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for prefix, n in (("train", n_train), ("t10k", n_test)):
            write_file(folder, f"{prefix}-images-idx3-ubyte", idx_bytes(rng.integers(0, 256, (n, 28, 28)), 2051), gz)
            write_file(folder, f"{prefix}-labels-idx1-ubyte", idx_bytes(np.arange(n) % 10, 2049), gz)
        return folder

    return make
