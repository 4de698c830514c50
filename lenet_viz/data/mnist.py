"""MNIST from the four original IDX files (gzip-compressed or raw), validated before use.

Every way a file can be broken (truncated, wrong file, bad gzip, labels out of range)
becomes a `DataError` naming the file and the fix, never a numpy or zlib traceback.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from .dataset import DataError, Dataset, pad_to_32, standardize
from .files import MNIST_FILES, MNIST_SIZES, STEMS, default_data_dir  # noqa: F401 - re-exported

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
SIDE = 28
FIX = "delete it and run `lenet-viz --download-mnist`"
#: Images (or labels) one IDX file may declare: MNIST has 60,000, EMNIST's largest set 240,000 + 40,000.
MAX_COUNT = 300_000
#: No MNIST-format file is bigger than this, raw or compressed (the largest allowed raw images file + slack).
MAX_FILE_BYTES = 16 + MAX_COUNT * SIDE * SIDE + (1 << 20)
HOW_TO_GET = "run `lenet-viz --download-mnist`, or pass `--data-dir` pointing at a folder with the four MNIST files"


def check_data_dir(data_dir: Path) -> bool:
    """True if `data_dir` is a readable directory, False if it does not exist; DataError if unusable."""
    try:
        if not data_dir.exists():
            return False
    except OSError as e:
        raise DataError(f"cannot look into the data folder {data_dir}: {e.strerror or e}") from None
    if not data_dir.is_dir():
        raise DataError(f"the data folder {data_dir} is a file, not a folder; pass `--data-dir` with a folder")
    if not os.access(data_dir, os.R_OK | os.X_OK):
        raise DataError(f"the data folder {data_dir} is not readable (permission denied); fix its permissions")
    return True


def find_mnist_files(data_dir: Path) -> dict[str, Path | None]:
    """Map each stem to its file in `data_dir`, preferring the .gz (what the downloader verifies) over raw."""
    found: dict[str, Path | None] = {}
    for stem in STEMS:
        candidates = (data_dir / f"{stem}.gz", data_dir / stem)
        found[stem] = next((p for p in candidates if p.is_file()), None)
    return found


def _stream(path: Path) -> BinaryIO:
    """The file's IDX bytes as a stream: decompressed on demand, so nothing is inflated unasked."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{path} is {size:,} bytes, more than any MNIST-format file; {FIX}")
        data = path.read_bytes()  # the compressed bytes: bounded by the check above
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    raw = io.BytesIO(data)
    return gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw


def _read(stream: BinaryIO, n: int, path: Path) -> bytes:
    """At most `n` bytes; a gzip bomb costs no more than what was asked for."""
    try:
        return stream.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is truncated or damaged: it does not decompress as gzip ({e}); {FIX}") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file: (N, 28, 28) uint8 for images (magic 2051), (N,) uint8 for labels (2049).

    The header gives the exact size of the body, so at most that many bytes (+1, to notice
    extra data) are ever decompressed: a small .gz cannot inflate into gigabytes here.
    """
    is_images = magic == IMAGES_MAGIC
    kind = "images" if is_images else "labels"
    header = 16 if is_images else 8
    with _stream(path) as stream:
        head = _read(stream, header, path)
        if len(head) < header:
            raise DataError(f"{path} is truncated: {len(head)} bytes is too short for an IDX header; {FIX}")
        dims = np.frombuffer(head, dtype=">u4")
        if int(dims[0]) != magic:
            raise DataError(
                f"{path} is not an MNIST {kind} file (magic number {int(dims[0])}, expected {magic}); {FIX}"
            )
        count = int(dims[1])
        if is_images and (int(dims[2]), int(dims[3])) != (SIDE, SIDE):
            raise DataError(f"{path} holds {int(dims[2])}x{int(dims[3])} images, expected 28x28; {FIX}")
        if count == 0:
            raise DataError(f"{path} holds no {kind} (its header says 0); {FIX}")
        if count > MAX_COUNT:
            raise DataError(f"{path} claims {count:,} {kind}; MNIST-format files hold at most {MAX_COUNT:,}; {FIX}")
        item = SIDE * SIDE if is_images else 1
        what = f"{count} images of 28x28" if is_images else f"{count} labels"
        body = _read(stream, count * item + 1, path)
        if len(body) > count * item:  # a raw file's excess is known exactly; a .gz is not inflated to count it
            extra = stream.getbuffer().nbytes - header - count * item if isinstance(stream, io.BytesIO) else "more"
            raise DataError(f"{path} is corrupt: header says {what} but {extra} extra bytes follow; {FIX}")
    if len(body) < count * item:
        raise DataError(
            f"{path} is truncated: header says {what} but the file holds {len(body)} bytes after the header; {FIX}"
        )
    array = np.frombuffer(body, dtype=np.uint8)
    if is_images:
        return array.reshape(count, SIDE, SIDE)
    if int(array.max()) > 9:
        index = int(np.argmax(array > 9))
        raise DataError(f"{path} is corrupt: label {int(array[index])} at index {index} (MNIST labels are 0-9); {FIX}")
    return array


def _load_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "one of them is from another download; delete both and run `lenet-viz --download-mnist`"
        )
    return pad_to_32(images).float().div_(255.0), torch.from_numpy(labels.astype(np.int64))


def load_mnist(data_dir: Path, reason: str) -> Dataset:
    """Load, pad to 32x32 and standardize all four files; DataError if any is missing or broken."""
    if not check_data_dir(data_dir):
        raise DataError(f"no MNIST files: the folder {data_dir} does not exist; {HOW_TO_GET}")
    found = find_mnist_files(data_dir)
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        raise DataError(f"MNIST files missing in {data_dir}: {', '.join(missing)} (.gz or raw); {HOW_TO_GET}")
    paths = [found[stem] for stem in STEMS]
    train_x, train_y = _load_split(paths[0], paths[1])
    test_x, test_y = _load_split(paths[2], paths[3])
    train_x, test_x, mean, std = standardize(train_x, test_x)
    return Dataset("mnist", train_x, train_y, test_x, test_y, reason, pixel_mean=mean, pixel_std=std)
