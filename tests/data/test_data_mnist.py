"""MNIST IDX loading: real files (gz and raw) and every kind of broken file."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_files import STEMS, idx_bytes, write_file

from lenet_viz.data import DataError, Dataset, load_dataset


@pytest.fixture(scope="module")
def real_mnist(shared_mnist_dir: Path) -> Dataset:
    return load_dataset("mnist", shared_mnist_dir)


def test_real_mnist_shapes_and_dtypes(real_mnist: Dataset) -> None:
    assert real_mnist.name == "mnist"
    assert (real_mnist.num_train, real_mnist.num_test) == (60000, 10000)
    for images, labels, n in (
        (real_mnist.train_images, real_mnist.train_labels, 60000),
        (real_mnist.test_images, real_mnist.test_labels, 10000),
    ):
        assert images.shape == (n, 1, 32, 32) and images.dtype == torch.float32 and images.is_contiguous()
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert int(labels.min()) == 0 and int(labels.max()) == 9
        assert torch.bincount(labels).min() > n // 20  # every digit well represented
    assert real_mnist.train_targets is None and real_mnist.test_targets is None


def test_real_mnist_padding_and_normalization(real_mnist: Dataset) -> None:
    images = real_mnist.train_images
    background = -real_mnist.pixel_mean / real_mnist.pixel_std
    edge = [0, 1, 30, 31]
    for border in (images[:, :, edge, :], images[:, :, :, edge]):
        assert float(border.min()) == pytest.approx(background) and float(border.max()) == pytest.approx(background)
    assert float(images.min()) == pytest.approx(background)
    assert float(images.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(images.std()) == pytest.approx(1.0, abs=1e-4)
    # The classic MNIST constants (0.1307, 0.3081 on 28x28) carried over to the padded 32x32 frame.
    assert real_mnist.pixel_mean == pytest.approx(0.1307 * 784 / 1024, abs=1e-3)
    assert real_mnist.pixel_std == pytest.approx(0.2752, abs=1e-3)
    raw = real_mnist.test_images * real_mnist.pixel_std + real_mnist.pixel_mean
    assert float(raw.min()) == pytest.approx(0.0, abs=1e-5) and float(raw.max()) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(real_mnist.test_images.mean())) < 0.05


def test_raw_files_load_identically(real_mnist: Dataset, shared_mnist_dir: Path, tmp_path: Path) -> None:
    for stem in STEMS:
        (tmp_path / stem).write_bytes(gzip.decompress((shared_mnist_dir / f"{stem}.gz").read_bytes()))
    raw = load_dataset("mnist", tmp_path)
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(raw, field), getattr(real_mnist, field)), field


def test_gz_preferred_over_raw_and_raw_alone_loads(tiny_mnist, tmp_path: Path) -> None:
    gz = load_dataset("mnist", tiny_mnist(tmp_path / "gz", gz=True))
    raw = load_dataset("mnist", tiny_mnist(tmp_path / "raw", gz=False))
    assert torch.equal(gz.train_images, raw.train_images) and torch.equal(gz.test_labels, raw.test_labels)
    assert (raw.num_train, raw.num_test) == (6, 4)
    assert torch.equal(raw.train_labels, torch.arange(6) % 10)
    # A stray raw file from another set beside the .gz files is ignored: the .gz wins.
    write_file(tmp_path / "gz", STEMS[1], idx_bytes(np.arange(3), 2049), gz=False)
    assert load_dataset("mnist", tmp_path / "gz").num_train == 6


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# (name, gz, stem to break, how, words the message must contain)
CORRUPTIONS = [
    ("truncated gz", True, STEMS[0], lambda p: _truncate(p, p.stat().st_size // 2), "gzip"),
    ("truncated raw", False, STEMS[0], lambda p: _truncate(p, 16 + 100), "truncated"),
    ("truncated header", False, STEMS[3], lambda p: _truncate(p, 5), "truncated"),
    ("extra bytes", False, STEMS[1], lambda p: p.write_bytes(p.read_bytes() + b"xx"), "extra bytes"),
    ("bad gzip bytes", True, STEMS[2], _flip_middle, "gzip"),
    ("not gzip at all", True, STEMS[1], lambda p: p.write_bytes(b"hello, not a gzip"), "gzip"),
    ("wrong magic", False, STEMS[0], lambda p: p.write_bytes(idx_bytes(np.zeros((6, 28, 28)), 2049)), "magic"),
    ("labels as images", False, STEMS[1], lambda p: p.write_bytes(idx_bytes(np.zeros((6, 28, 28)), 2051)), "magic"),
    ("wrong size", False, STEMS[2], lambda p: p.write_bytes(idx_bytes(np.zeros((4, 20, 20)), 2051)), "20x20"),
    ("label out of range", False, STEMS[3],
     lambda p: p.write_bytes(idx_bytes(np.array([1, 2, 12, 3]), 2049)), "label 12"),
    ("count mismatch", False, STEMS[1], lambda p: p.write_bytes(idx_bytes(np.arange(5), 2049)), "holds 5 labels"),
]


@pytest.mark.parametrize(
    ("gz", "stem", "corrupt", "words"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS]
)
@pytest.mark.parametrize("source", ["mnist", "auto"])
def test_corrupt_file_raises_data_error_naming_it(tiny_mnist, source, gz, stem, corrupt, words) -> None:
    folder = tiny_mnist(gz=gz)
    path = folder / (f"{stem}.gz" if gz else stem)
    corrupt(path)
    with pytest.raises(DataError) as info:
        load_dataset(source, folder)
    message = str(info.value)
    assert path.name in message and words in message
    shown_context = info.value.__context__ if not info.value.__suppress_context__ else None
    assert info.value.__cause__ is None and shown_context is None  # no zlib/numpy traceback behind it


def test_missing_files_say_where_and_how(tmp_path: Path, tiny_mnist) -> None:
    with pytest.raises(DataError, match="does not exist.*--download-mnist"):
        load_dataset("mnist", tmp_path / "nowhere")
    folder = tiny_mnist()
    (folder / f"{STEMS[2]}.gz").unlink()
    with pytest.raises(DataError) as info:
        load_dataset("mnist", folder)
    assert str(folder) in str(info.value) and STEMS[2] in str(info.value) and "--data-dir" in str(info.value)


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "mnist"
    not_a_dir.write_text("oops")
    for source in ("mnist", "auto"):
        with pytest.raises(DataError, match="is a file, not a folder"):
            load_dataset(source, not_a_dir)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_data_dir(tiny_mnist) -> None:
    folder = tiny_mnist()
    folder.chmod(0)
    try:
        with pytest.raises(DataError, match="not readable"):
            load_dataset("mnist", folder)
    finally:
        folder.chmod(0o755)


def test_unreadable_data_dir_even_as_root(tiny_mnist, monkeypatch) -> None:
    folder = tiny_mnist()
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(DataError, match=f"{folder} is not readable"):
        load_dataset("auto", folder)


def test_unreadable_file_is_data_error(tiny_mnist, monkeypatch) -> None:
    folder = tiny_mnist()
    target = folder / f"{STEMS[0]}.gz"
    real_read = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(DataError, match=f"cannot read .*{target.name}.*Permission denied"):
        load_dataset("mnist", folder)
