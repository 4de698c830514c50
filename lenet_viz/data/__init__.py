"""Where the digits come from: MNIST files, scikit-learn's bundled digits, or the tutorial's random tensors.

Qt-free on purpose (a test enforces it): the engine and scripts load data without a display.
"""

from __future__ import annotations

from pathlib import Path

from .dataset import DataError, Dataset
from .digits import load_digits_dataset
from .download import DEFAULT_MIRRORS, download_mnist
from .mnist import MNIST_FILES, check_data_dir, default_data_dir, find_mnist_files, load_mnist
from .random_data import load_random

__all__ = [
    "DEFAULT_MIRRORS",
    "DataError",
    "Dataset",
    "MNIST_FILES",
    "SOURCES",
    "default_data_dir",
    "download_mnist",
    "load_dataset",
]

#: Accepted values of `load_dataset(name=...)`.
SOURCES: tuple[str, ...] = ("auto", "mnist", "digits", "random")
DIGITS = "scikit-learn's bundled digits"


def load_dataset(name: str = "auto", data_dir: str | Path | None = None, *, seed: int = 0) -> Dataset:
    """Load a source by name; "auto" means MNIST if all four files are in `data_dir`, else digits.

    Auto never hides broken MNIST files behind the fallback: corrupt files raise DataError,
    so the user learns their download is damaged. `seed` only affects the random source
    (the digits split is fixed so test accuracy is comparable across runs).
    """
    key = name.strip().lower()
    if key not in SOURCES:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
    if key == "random":
        why = f"random tensors requested (the tutorial's torch.randn inputs and targets, seed {seed})"
        return load_random(seed, why)
    if key == "digits":
        return load_digits_dataset(f"{DIGITS} requested")
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if key == "mnist":
        return load_mnist(folder, f"MNIST requested and found in {folder}")
    present = check_data_dir(folder) and [p for p in find_mnist_files(folder).values() if p is not None]
    if present and len(present) == len(MNIST_FILES):
        return load_mnist(folder, f"MNIST files found in {folder}")
    if present:
        why = f"only {len(present)} of the 4 MNIST files in {folder}"
    else:
        why = f"no MNIST files in {folder}"
    return load_digits_dataset(f"{why} (run `lenet-viz --download-mnist`), using {DIGITS}")
