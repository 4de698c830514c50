"""Tools for tests/test_attacks.py: hostile files, a misbehaving mirror, a headless run to interrupt."""

from __future__ import annotations

import gzip
import hashlib
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ------------------------------------------------------------------ MNIST-format files
def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train: int = 6, n_test: int = 4) -> Path:
    """A valid tiny MNIST set (gzip), `n_train` / `n_test` images."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(rng.integers(0, 256, (n, 28, 28)), 2051)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.arange(n) % 10, 2049)))
    return folder


def write_gzip_bomb(path: Path, header: bytes, zeros: int) -> None:
    """`header`, then `zeros` zero bytes, as a multi-member gzip (valid, ~1000:1): one 1 MiB member repeated."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9)
    path.write_bytes(gzip.compress(header) + member * (zeros >> 20))


# ------------------------------------------------------------------------ checkpoints
def edit_checkpoint(path: Path, change) -> None:  # noqa: ANN001
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def inflate_first_record(path: Path, size: int) -> None:
    """Rewrite a torch zip so its first tensor record (data/0) inflates to `size` zero bytes (deflated)."""
    with zipfile.ZipFile(path) as src:
        records = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w") as out:
        for info, data in records:
            if info.filename.endswith("/data/0"):
                deflated = zipfile.ZipInfo(info.filename)
                deflated.compress_type = zipfile.ZIP_DEFLATED
                with out.open(deflated, "w", force_zip64=True) as f:
                    chunk = bytes(1 << 20)
                    for _ in range(size // len(chunk)):
                        f.write(chunk)
            else:
                out.writestr(info, data)


# ---------------------------------------------------------------- a misbehaving mirror
def fake_mnist_files(folder: Path) -> dict[str, tuple[str, int]]:
    """Four small stand-ins for the MNIST .gz files: {name: (md5, size)}, written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    table = {}
    for i, stem in enumerate(STEMS):
        data = np.random.default_rng(i).bytes(20_000 + 1000 * i)
        (folder / f"{stem}.gz").write_bytes(data)
        table[f"{stem}.gz"] = (hashlib.md5(data).hexdigest(), len(data))
    return table


class Mirror(BaseHTTPRequestHandler):
    """Serves files from `root` honestly, or endlessly, with a huge length, or one byte at a time."""

    root: Path
    mode: str  # good | endless | huge_length | trickle
    stop: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (self.root / Path(self.path).name).read_bytes()
        self.send_response(200)
        if self.mode == "huge_length":
            self.send_header("Content-Length", str(10**13))
        elif self.mode in ("good", "trickle"):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if self.mode == "good":
                self.wfile.write(body)
            elif self.mode == "trickle":
                for i in range(len(body)):
                    if self.stop.wait(0.02):
                        return
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
            else:  # endless, or a "10 TB" file: zeros until the client hangs up
                chunk = bytes(1 << 16)
                while not self.stop.is_set():
                    self.wfile.write(chunk)
        except OSError:  # the client hung up: what a good downloader does to such a mirror
            pass
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def mirror(root: Path, mode: str) -> Iterator[str]:
    """A loopback mirror in a thread; yields its base URL."""
    stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Mirror,), {"root": root, "mode": mode, "stop": stop}))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


# ------------------------------------------------------------------ a headless run
def start_headless(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lenet_viz", "--headless", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_rows(csv_path: Path, rows: int, process: subprocess.Popen, limit: float = 120.0) -> None:
    """Poll until the CSV holds `rows` data rows (the run flushes each one) or the process ends."""
    give_up = time.monotonic() + limit
    while time.monotonic() < give_up and process.poll() is None:
        if csv_path.exists() and csv_path.read_text().count("\n") > rows:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {rows} rows in {csv_path}: {process.poll()=} {process.stderr.read() if process.poll() is not None else ''}")
