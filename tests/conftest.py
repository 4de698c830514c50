"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # window tests (tests/app, tests/test_attacks.py) run headless

import pytest


@pytest.fixture(scope="session")
def shared_mnist_dir() -> Path:
    """The real MNIST .gz files kept beside the repo (../shared/data/mnist); skip where absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST files not found in {path}")
    return path
