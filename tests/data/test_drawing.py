"""A drawn or opened digit reaches LeNet with MNIST's geometry; a bad image file gives one clear line."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet_viz.data import DataError, load_image, preprocess_drawing
from lenet_viz.data.drawing import CENTRE, MAX_PIXELS, centre_of_mass


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the nonzero pixels of a 2-D image."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def seven(size: int = 140, offset: tuple[int, int] = (10, 30)) -> np.ndarray:
    """A '7' (a heavy top bar and a thin diagonal), drawn off-centre on a larger canvas."""
    canvas = np.zeros((300, 260), dtype=np.float32)
    y, x = offset
    s = size
    canvas[y : y + s // 7, x : x + s] = 1.0  # the bar
    for i in range(s):  # the stroke, down and to the left, s//10 wide
        col = x + s - 1 - i * s // (2 * s)
        canvas[y + i, max(x, col - s // 20) : col + s // 20] = 1.0
    return canvas


def test_a_tall_bar_is_20_px_high_centred_by_its_mass_and_padded() -> None:
    drawing = np.zeros((100, 80))
    drawing[30:70, 50:60] = 1.0  # 40 x 10, far right of the canvas
    out = preprocess_drawing(drawing)
    assert out.shape == (1, 32, 32) and out.dtype == np.float32
    image = out[0]
    top, bottom, left, right = ink_box(image)
    assert (bottom - top + 1, right - left + 1) == (20, 5)  # 20 on the long side, aspect 4:1 kept
    cy, cx = centre_of_mass(image)
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    assert image.min() == 0.0 and image.max() == 1.0
    assert not image[:2].any() and not image[-2:].any()  # the LeNet-5 padding stays background


def test_a_wide_shape_keeps_its_aspect() -> None:
    drawing = np.zeros((50, 200), dtype=np.uint8)
    drawing[10:25, 20:110] = 255  # 15 x 90: 20 x 3.33 once scaled
    top, bottom, left, right = ink_box(preprocess_drawing(drawing)[0])
    assert (bottom - top + 1, right - left + 1) == (3, 20)


def test_a_lopsided_digit_is_placed_by_its_centre_of_mass_not_its_box() -> None:
    image = preprocess_drawing(seven())[0]
    top, bottom, left, right = ink_box(image)
    assert max(bottom - top, right - left) + 1 == 20
    cy, cx = centre_of_mass(image)
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    box_centre_y = (top + bottom) / 2
    assert box_centre_y > CENTRE + 1  # the heavy bar pulls the mass up, so the box sits low


def test_the_same_digit_drawn_small_or_large_anywhere_looks_the_same() -> None:
    small = preprocess_drawing(seven(size=60, offset=(200, 150)))
    large = preprocess_drawing(seven(size=240, offset=(40, 5)))
    assert ink_box(small[0]) == ink_box(large[0])
    assert np.abs(small - large).mean() < 0.02


def test_ink_is_scaled_to_one_and_an_empty_canvas_is_blank() -> None:
    faint = np.zeros((28, 28))
    faint[5:20, 10:14] = 0.25
    assert preprocess_drawing(faint).max() == pytest.approx(1.0)
    assert not preprocess_drawing(np.zeros((280, 280))).any()
    with pytest.raises(ValueError, match="2-D"):
        preprocess_drawing(np.zeros((3, 28, 28)))


def test_drawing_module_loads_neither_torch_nor_qt_nor_pillow() -> None:
    """The GUI process preprocesses the canvas itself: this import must stay cheap and torch-free."""
    code = (
        "import sys; from lenet_viz.data import preprocess_drawing; import lenet_viz.data.drawing;"
        "print(sorted(m for m in ('torch', 'PySide6', 'PIL') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ opening images
def save(image: Image.Image, path: Path, **kw) -> Path:
    image.save(path, **kw)
    return path


def test_dark_ink_on_white_paper_is_inverted(tmp_path: Path) -> None:
    ink = seven()
    paper = Image.fromarray((255 - ink * 255).astype(np.uint8), "L")  # black '7' on white
    loaded = load_image(save(paper, tmp_path / "seven.png"))
    assert loaded.shape == ink.shape and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, ink, atol=1e-6)  # ink high, paper 0


def test_light_ink_on_black_is_kept(tmp_path: Path) -> None:
    ink = seven()
    loaded = load_image(save(Image.fromarray((ink * 255).astype(np.uint8), "L"), tmp_path / "seven.png"))
    np.testing.assert_allclose(loaded, ink, atol=1e-6)


def test_a_colour_jpeg_of_blue_ink_on_cream_paper(tmp_path: Path) -> None:
    ink = seven()
    rgb = np.empty((*ink.shape, 3), dtype=np.uint8)
    rgb[:] = (245, 235, 210)  # cream
    rgb[ink > 0] = (20, 40, 160)  # ballpoint blue
    loaded = load_image(save(Image.fromarray(rgb, "RGB"), tmp_path / "seven.jpg", quality=85))
    want, got = preprocess_drawing(ink)[0], preprocess_drawing(loaded)[0]
    assert ink_box(got) == ink_box(want)  # JPEG ringing is not mistaken for ink
    assert np.abs(got - want).mean() < 0.02


def test_black_ink_on_a_transparent_sheet(tmp_path: Path) -> None:
    ink = seven()
    rgba = np.zeros((*ink.shape, 4), dtype=np.uint8)  # transparent black everywhere
    rgba[..., 3] = (ink * 255).astype(np.uint8)  # the pen sets opacity only
    loaded = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "seven.png"))
    np.testing.assert_allclose(preprocess_drawing(loaded), preprocess_drawing(ink), atol=1e-6)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with an empty body: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def one_line_error(path: Path) -> str:
    with pytest.raises(DataError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_files_give_one_line_naming_the_file(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(9_000, 9_000))  # refused by its header, before a byte is decoded
    message = one_line_error(bomb)
    assert "9,000 x 9,000 pixels, too large" in message and f"{MAX_PIXELS:,}" in message
    bomb.write_bytes(png_header_only(50_000, 50_000))  # so large that Pillow itself refuses to open it
    assert "too large to open safely" in one_line_error(bomb)

    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert "not a PNG or JPEG" in one_line_error(garbage)

    whole = save(Image.fromarray((seven() * 255).astype(np.uint8), "L"), tmp_path / "whole.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert "damaged" in one_line_error(truncated)

    gif = save(Image.fromarray((seven() * 255).astype(np.uint8), "L"), tmp_path / "seven.gif")
    assert "not a PNG or JPEG" in one_line_error(gif)

    assert "no such file" in one_line_error(tmp_path / "missing.png")
    assert "folder" in one_line_error(tmp_path)
