"""Fetch the four MNIST .gz files into a folder: mirrors in order, md5-checked, atomic.

Each file streams into a private temp file beside its destination and is renamed
into place only once its md5 matches, so an interrupted or corrupted download
(including Ctrl+C) never leaves a file that looks complete, and a retry just works.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from lenet_viz import __version__

from .dataset import DataError
from .mnist import MNIST_FILES, default_data_dir

#: Tried in order for each file; the first one serving the right bytes wins.
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
CHUNK = 1 << 16
USER_AGENT = f"lenet-viz/{__version__}"

#: progress(filename, bytes_done, bytes_total or 0 when the server does not say)
Progress = Callable[[str, int, int], None]


class _MirrorFailed(Exception):
    """One mirror could not deliver one file; the next mirror is tried."""


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _has_good_copy(path: Path, md5: str) -> bool:
    try:
        return path.is_file() and file_md5(path) == md5
    except OSError:
        return False


def _write(out, chunk: bytes, tmp: str) -> None:
    try:
        out.write(chunk)
    except OSError as e:  # disk full, quota: not the mirror's fault, so stop here
        raise DataError(f"cannot write {tmp}: {e.strerror or e}") from None


def _fetch(url: str, dest: Path, md5: str, timeout: float, progress: Progress | None) -> None:
    """Stream `url` into `dest` atomically; _MirrorFailed on any network or checksum problem."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{dest.name}.part-", dir=dest.parent)
    except OSError as e:
        raise DataError(f"cannot create a file in {dest.parent}: {e.strerror or e}") from None
    placed = False
    try:
        with os.fdopen(fd, "wb") as out:
            digest, done, total = hashlib.md5(), 0, 0
            try:
                request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    total = int(response.headers.get("Content-Length") or 0)
                    while chunk := response.read(CHUNK):
                        _write(out, chunk, tmp)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(dest.name, done, total)
            except urllib.error.HTTPError as e:
                e.close()
                raise _MirrorFailed(f"HTTP {e.code} {e.reason}") from None
            except urllib.error.URLError as e:
                raise _MirrorFailed(f"cannot connect ({e.reason})") from None
            except TimeoutError:
                raise _MirrorFailed(f"timed out after {timeout:g} s (got {done} bytes)") from None
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise _MirrorFailed(f"{type(e).__name__}: {e} (got {done} bytes)") from None
            if total and done != total:
                raise _MirrorFailed(f"connection dropped after {done} of {total} bytes")
            if digest.hexdigest() != md5:
                raise _MirrorFailed(f"checksum mismatch (md5 {digest.hexdigest()}, expected {md5})")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        placed = True
    finally:
        if not placed:
            with suppress(OSError):
                os.unlink(tmp)


def download_mnist(
    data_dir: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: Progress | None = None,
    timeout: float = 30.0,
) -> Path:
    """Make `data_dir` (default: `default_data_dir()`) hold the four verified MNIST .gz files.

    Files already present with the right md5 are kept. Raise from `progress` to cancel:
    the partial file is removed. Returns the folder. DataError if a file cannot be had
    from any mirror (the message lists each mirror and why) or the folder is unusable.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    mirrors = list(DEFAULT_MIRRORS if mirrors is None else mirrors)
    if not mirrors:
        raise DataError("no MNIST mirrors to download from")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data folder {folder}: {e.strerror or e}") from None
    for name, md5 in MNIST_FILES.items():
        dest = folder / name
        if _has_good_copy(dest, md5):
            if progress is not None:
                size = dest.stat().st_size
                progress(name, size, size)
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _fetch(url, dest, md5, timeout, progress)
                break
            except _MirrorFailed as e:
                failures.append(f"  {url}: {e}")
        else:
            raise DataError(f"could not download {name} into {folder}; every mirror failed:\n" + "\n".join(failures))
    return folder
