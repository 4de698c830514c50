"""Writers for MNIST-format (IDX) files, shared by the data tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """IDX encoding: big-endian magic, one big-endian u32 per dimension, then the raw uint8 body."""
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_file(folder: Path, stem: str, payload: bytes, gz: bool) -> Path:
    path = folder / (f"{stem}.gz" if gz else stem)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path
