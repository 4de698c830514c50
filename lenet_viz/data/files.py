"""Names, checksums and sizes of the MNIST files, and where they live: torch-free, so the command
line can check its paths against them (and the GUI process can import them) without loading torch."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: The four files as distributed, with the md5 every public mirror serves.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Their sizes in bytes: a mirror serving more is refused before it can fill a disk.
MNIST_SIZES: dict[str, int] = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}
#: File stems (without .gz) in the order train images, train labels, test images, test labels.
STEMS: tuple[str, ...] = tuple(name.removesuffix(".gz") for name in MNIST_FILES)


def default_data_dir() -> Path:
    """Where MNIST lives unless told otherwise: $LENET_VIZ_DATA_DIR, else the per-user cache."""
    env = os.environ.get("LENET_VIZ_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_cache_path("lenet-viz") / "mnist"


def missing_file(path: Path) -> str | None:
    """Why `path` cannot be read as a file ("no such file", "not a file"), or None: the first check of
    every file a user hands us (a checkpoint, a recording)."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a file"
    return None
