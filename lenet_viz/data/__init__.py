"""Where the digits come from: MNIST files, scikit-learn's bundled digits, or the tutorial's random tensors.

Qt-free on purpose (a test enforces it): the engine and scripts load data without a display.
Torch loads only when a source is used: the app's GUI process imports `DataError` from here
and never trains, so it does not pay for torch.
"""

from __future__ import annotations

from pathlib import Path

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import DataError

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = [
    "DEFAULT_MIRRORS",
    "DataError",
    "Dataset",
    "MNIST_FILES",
    "MNIST_SIZES",
    "SOURCES",
    "default_data_dir",
    "download_mnist",
    "load_dataset",
    "load_image",
    "preprocess_drawing",
]

#: Names re-exported from the submodules, imported on first use (PEP 562).
_LAZY = {
    "Dataset": "dataset", "load_digits_dataset": "digits", "DEFAULT_MIRRORS": "download", "download_mnist": "download",
    "MNIST_FILES": "files", "MNIST_SIZES": "files", "check_data_dir": "mnist", "default_data_dir": "files",
    "find_mnist_files": "mnist", "load_mnist": "mnist", "load_random": "random_data", "load_image": "drawing",
    "preprocess_drawing": "drawing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Accepted values of `load_dataset(name=...)`.
SOURCES: tuple[str, ...] = ("auto", "mnist", "digits", "random")
DIGITS = "scikit-learn's bundled digits"


def load_dataset(name: str = "auto", data_dir: str | Path | None = None, *, seed: int = 0) -> Dataset:
    """Load a source by name; "auto" means MNIST if all four files are in `data_dir`, else digits.

    Auto never hides broken MNIST files behind the fallback: corrupt files raise DataError,
    so the user learns their download is damaged. `seed` only affects the random source
    (the digits split is fixed so test accuracy is comparable across runs).
    """
    from .digits import load_digits_dataset
    from .mnist import MNIST_FILES, check_data_dir, default_data_dir, find_mnist_files, load_mnist
    from .random_data import load_random

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
