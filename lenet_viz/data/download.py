"""Fetch the four MNIST .gz files into a folder: mirrors in order, md5-checked, atomic, bounded.

Each file streams into a private temp file beside its destination and is renamed
into place only once its md5 matches, so an interrupted, cancelled or corrupted
download (including Ctrl+C) never leaves a file that looks complete, and a retry
just works.  A mirror cannot make us write more than the file's known size, nor
keep us longer than an overall deadline, however it drips or lies.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from lenet_viz import __version__

from .errors import DataError
from .files import MNIST_FILES, MNIST_SIZES, default_data_dir

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
#: A threading.Event (set = cancel) or any callable returning True to cancel.
Cancel = threading.Event | Callable[[], bool]


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


def _stop_if(cancelled: Callable[[], bool], name: str) -> None:
    if cancelled():
        raise DataError(f"download of {name} cancelled; nothing was kept of it")


def _fetch(url: str, dest: Path, md5: str, size: int, limits: tuple[float, float],
           progress: Progress | None, cancelled: Callable[[], bool]) -> None:
    """Stream `url` into `dest` atomically; _MirrorFailed on any network, size, time or checksum problem.

    `limits` is (timeout: seconds of silence allowed, deadline: seconds for the whole file).
    DataError when cancelled or the disk refuses: those end the download, no mirror is tried.
    """
    timeout, deadline = limits
    give_up_at = time.monotonic() + deadline
    _stop_if(cancelled, dest.name)
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
                with urllib.request.urlopen(request, timeout=min(timeout, deadline)) as response:
                    total = int(response.headers.get("Content-Length") or 0)
                    if total > size:
                        raise _MirrorFailed(f"it announces {total:,} bytes, but {dest.name} is {size:,} bytes")
                    while True:
                        _stop_if(cancelled, dest.name)
                        # read1: whatever has arrived, so progress moves (and limits are checked) on a slow link
                        chunk = response.read1(CHUNK)
                        if not chunk:
                            break
                        done += len(chunk)
                        if done > size:
                            raise _MirrorFailed(f"it sent more than the {size:,} bytes of {dest.name}; stopped")
                        _write(out, chunk, tmp)
                        digest.update(chunk)
                        if progress is not None:
                            progress(dest.name, done, total)
                        if time.monotonic() > give_up_at:
                            raise _MirrorFailed(f"too slow: not done after {deadline:g} s (got {done:,} of {size:,} bytes)")
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
    deadline: float = 900.0,
    cancel: Cancel | None = None,
) -> Path:
    """Make `data_dir` (default: `default_data_dir()`) hold the four verified MNIST .gz files.

    Files already present with the right md5 are kept. `progress` is called for every piece
    that arrives, however small. A mirror gets `timeout` seconds of silence and `deadline`
    seconds per file before the next one is tried, and never more than the file's known size.
    `cancel` (an Event, or a callable returning True) stops the download with a DataError
    whose message says "cancelled"; it is checked before each file and after every piece,
    so it takes effect within `timeout` seconds even on a silent mirror. Cancelling, or
    raising from `progress`, removes the partial file; files completed before stay (verified).
    Returns the folder. DataError if a file cannot be had from any mirror (the message lists
    each mirror and why) or the folder is unusable.
    """
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    mirrors = list(DEFAULT_MIRRORS if mirrors is None else mirrors)
    cancelled: Callable[[], bool] = (lambda: False) if cancel is None else getattr(cancel, "is_set", cancel)
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
                _fetch(url, dest, md5, MNIST_SIZES[name], (timeout, deadline), progress, cancelled)
                break
            except _MirrorFailed as e:
                failures.append(f"  {url}: {e}")
        else:
            raise DataError(f"could not download {name} into {folder}; every mirror failed:\n" + "\n".join(failures))
    return folder
