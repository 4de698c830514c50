"""digits, random and auto sources, name handling, and the no-Qt rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from idx_files import STEMS

from lenet_viz.data import DataError, Dataset, load_dataset


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def test_digits_split_shapes_and_normalization(digits: Dataset) -> None:
    assert digits.name == "digits" and (digits.num_train, digits.num_test) == (1437, 360)
    assert digits.train_images.shape == (1437, 1, 32, 32) and digits.test_images.shape == (360, 1, 32, 32)
    assert digits.train_images.dtype == torch.float32 and digits.train_labels.dtype == torch.int64
    assert digits.train_images.is_contiguous() and digits.test_images.is_contiguous()
    assert set(digits.train_labels.tolist()) == set(range(10)) == set(digits.test_labels.tolist())
    assert float(digits.train_images.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(digits.train_images.std()) == pytest.approx(1.0, abs=1e-4)
    raw = digits.train_images * digits.pixel_std + digits.pixel_mean
    assert float(raw.min()) >= -1e-5 and float(raw.max()) <= 1 + 1e-5
    border = raw[..., :2, :]
    assert float(border.abs().max()) < 1e-5  # padding is background, like MNIST
    assert digits.train_targets is None


def test_digits_split_is_fixed_whatever_the_seed(digits: Dataset) -> None:
    other = load_dataset("digits", seed=123)
    assert torch.equal(other.test_images, digits.test_images) and torch.equal(other.train_labels, digits.train_labels)


def test_random_is_seeded_and_has_targets() -> None:
    a, b, c = load_dataset("random", seed=7), load_dataset("random", seed=7), load_dataset("random", seed=8)
    assert a.name == "random" and (a.num_train, a.num_test) == (512, 128)
    assert a.train_images.shape == (512, 1, 32, 32) and a.test_images.shape == (128, 1, 32, 32)
    assert a.train_targets.shape == (512, 10) and a.test_targets.shape == (128, 10)
    assert a.train_targets.dtype == torch.float32 and a.train_labels.dtype == torch.int64
    assert torch.equal(a.train_labels, a.train_targets.argmax(1))
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_targets, b.test_targets)
    assert not torch.equal(a.train_images, c.train_images)
    assert "seed 7" in a.reason


def test_auto_picks_mnist_when_files_present(tiny_mnist) -> None:
    folder = tiny_mnist()
    data = load_dataset("auto", folder)
    assert data.name == "mnist" and data.reason == f"MNIST files found in {folder}"


def test_auto_falls_back_to_digits_and_says_why(tmp_path: Path, tiny_mnist) -> None:
    data = load_dataset(data_dir=tmp_path)
    assert data.name == "digits"
    assert data.reason.startswith(f"no MNIST files in {tmp_path}") and "--download-mnist" in data.reason
    assert "digits" in data.reason
    assert load_dataset(data_dir=tmp_path / "absent").name == "digits"
    partial = tiny_mnist()
    (partial / f"{STEMS[0]}.gz").unlink()
    data = load_dataset("auto", partial)
    assert data.name == "digits" and data.reason.startswith(f"only 3 of the 4 MNIST files in {partial}")


def test_auto_uses_default_dir_from_env(monkeypatch, tiny_mnist) -> None:
    folder = tiny_mnist()
    monkeypatch.setenv("LENET_VIZ_DATA_DIR", str(folder))
    assert load_dataset().name == "mnist"


def test_auto_with_real_mnist(shared_mnist_dir: Path) -> None:
    data = load_dataset("auto", str(shared_mnist_dir))
    assert data.name == "mnist" and str(shared_mnist_dir) in data.reason and data.num_train == 60000


def test_corrupt_mnist_in_auto_is_an_error_not_a_fallback(tiny_mnist) -> None:
    folder = tiny_mnist()
    (folder / f"{STEMS[1]}.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataError, match=STEMS[1]):
        load_dataset("auto", folder)


def test_unknown_name_lists_choices() -> None:
    with pytest.raises(DataError, match="'cifar'.*auto, mnist, digits, random"):
        load_dataset("cifar")
    assert load_dataset(" Random ").name == "random"


def test_data_package_imports_no_qt() -> None:
    code = (  # blocked (an import would fail) and checked (nothing slipped in another way)
        "import sys; sys.modules.update(PySide6=None, pyqtgraph=None); "
        "import lenet_viz.data; "
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph')) and sys.modules[m]]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
