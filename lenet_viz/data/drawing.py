"""A user's own digit, made to look like an MNIST digit: numpy only, so the GUI process can use it.

MNIST's recipe (LeCun et al.): the ink's bounding box is scaled to 20 px on its longer side,
keeping its aspect, with anti-aliasing; the result is placed by its centre of mass at the centre
of a 28x28 field.  LeNet-5 then pads to 32x32.  A digit drawn large in a corner of the canvas
therefore reaches the network as the same digit drawn small in the middle, as in its training data.

This module imports neither torch nor Qt (a test checks it): the drawing panel preprocesses its
canvas in the GUI process and sends only the 32x32 result to the engine.  Pillow is imported
only by `load_image`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError

BOX = 20  # the longer side of the ink's bounding box, in pixels
FIELD = 28  # MNIST's image side; its centre is where the centre of mass goes
SIDE = 32  # LeNet's input side: the 28x28 field with 2 pixels of background on every side
CENTRE = (SIDE - 1) / 2  # 15.5: the centre of the 28x28 field inside the 32x32 image
#: Images larger than this many pixels are refused before they are decoded (a decompression bomb
#: is a small file that decodes to gigabytes).  8,000 x 8,000 is far beyond any photo of a digit.
MAX_PIXELS = 64_000_000
#: Ink fainter than this share of the strongest ink counts as background noise (JPEG artefacts, paper grain).
NOISE = 0.15


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) box-filter matrix: output pixel i averages the input span it covers.

    Exact area coverage anti-aliases when shrinking (MNIST's "anti-aliasing technique") and keeps
    the total ink; when enlarging it repeats pixels with blended edges.
    """
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the ink's centre of mass, in pixel-centre coordinates."""
    total = float(image.sum())
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def preprocess_drawing(array: np.ndarray) -> np.ndarray:
    """A 2-D ink array (ink high, background 0, any size) -> float32 (1, 32, 32) in [0, 1], MNIST's geometry.

    Ink is scaled so its strongest pixel is 1.  An empty drawing gives an all-zero image.  The
    centre of mass lands within half a pixel of the centre of the 28x28 field; only a shape whose
    mass sits at the very edge of its box (which no digit does) is moved less, so that no ink
    falls off the 32x32 image.
    """
    ink = np.asarray(array, dtype=np.float64)
    if ink.ndim != 2 or 0 in ink.shape:
        raise ValueError(f"a drawing is a non-empty 2-D array (got shape {ink.shape})")
    ink = np.clip(np.nan_to_num(ink, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    out = np.zeros((1, SIDE, SIDE), dtype=np.float32)
    peak = float(ink.max())
    if peak <= 0.0:
        return out
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / peak
    h, w = box.shape
    scale = BOX / max(h, w)
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = _area_weights(h, out_h) @ box @ _area_weights(w, out_w).T
    cy, cx = centre_of_mass(small)
    top = int(np.clip(round(CENTRE - cy), 0, SIDE - out_h))
    left = int(np.clip(round(CENTRE - cx), 0, SIDE - out_w))
    out[0, top : top + out_h, left : left + out_w] = np.clip(small, 0.0, 1.0)
    return out


def ink_from_grey(grey: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] (any polarity) -> ink high, background 0.

    The background is the most common level along the image's border; when it is lighter than
    the ink (a pen on paper) the image is inverted.  Levels within NOISE of the background
    become 0, so paper grain and JPEG ringing do not widen the bounding box.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = np.abs(grey - background)
    peak = float(ink.max())
    if peak <= 0.0:
        return np.zeros_like(grey, dtype=np.float32)
    ink = np.where(ink > NOISE * peak, ink, 0.0)
    return (ink / peak).astype(np.float32)


def load_image(path: str | Path) -> np.ndarray:
    """A PNG or JPEG of a digit -> 2-D float32 ink array (ink high, background 0) for preprocess_drawing.

    Any size, colour or grey, with or without alpha (transparent counts as background); dark ink
    on a light background is detected and inverted.  Every way the file can fail (missing,
    unreadable, not an image, truncated, a decompression bomb) raises DataError naming the file.
    """
    from PIL import Image, UnidentifiedImageError  # only here: the app starts without Pillow loaded

    path = Path(path).expanduser()
    try:
        with Image.open(path, formats=("PNG", "JPEG")) as image:  # no other decoder sees the bytes
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(
                    f"{path} is {width:,} x {height:,} pixels, too large to open safely (limit {MAX_PIXELS:,} pixels)"
                )
            image.load()  # decode now, inside the try: a truncated file fails here
            grey = _grey(image)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"cannot open {path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"cannot open {path}: it is a folder, not an image") from None
    except PermissionError:
        raise DataError(f"cannot open {path}: permission denied") from None
    except UnidentifiedImageError:
        raise DataError(f"{path} is not a PNG or JPEG image (or it is damaged)") from None
    except Image.DecompressionBombError as e:  # Pillow's own limit, far above ours: caught before ours runs
        raise DataError(f"{path} is too large to open safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's truncated / corrupt data errors
        raise DataError(f"{path} is damaged and cannot be decoded ({e})") from None
    return ink_from_grey(grey)


def _grey(image) -> np.ndarray:  # noqa: ANN001 - a PIL image; typed loosely to keep Pillow lazy
    """Luminance in [0, 1]; transparent pixels take the border's background level (see ink_from_grey)."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's "L"
    alpha = rgba[..., 3]
    if float(alpha.min()) < 1.0:  # ink drawn on a transparent sheet: where nothing is drawn is background
        opaque = grey[alpha > 0.5]
        paper = 1.0 - float(np.median(opaque)) if opaque.size else 0.0  # the sheet is the ink's opposite
        grey = alpha * grey + (1.0 - alpha) * paper
    return grey
