"""download_mnist against loopback HTTP servers: good, dead, lying, dropping and hanging mirrors."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lenet_viz.data import MNIST_FILES, DataError, default_data_dir, download_mnist

BIG = "train-images-idx3-ubyte.gz"  # first in MNIST_FILES, so every broken mirror fails on it first


class MirrorHandler(BaseHTTPRequestHandler):
    """Serves files from `root`, honestly or in one of the ways real mirrors fail."""

    root: Path
    mode: str  # good | altered | short_length | half_close | hang
    release: threading.Event

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.root / Path(self.path).name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        if self.mode == "hang":
            self.release.wait(10)
            return
        if self.mode == "altered":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        length = len(body) - 10 if self.mode == "short_length" else len(body)
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.mode == "half_close" else body)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve(shared_mnist_dir: Path) -> Iterator[Callable[..., str]]:
    """Factory: start a loopback mirror (mode, root) and return its base URL; all stopped at teardown."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
    release = threading.Event()

    def start(mode: str = "good", root: Path | None = None) -> str:
        settings = {"root": root or shared_mnist_dir, "mode": mode, "release": release}
        handler = type("Handler", (MirrorHandler,), settings)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/mnist/"

    yield start
    release.set()
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dead_mirror() -> str:
    """A loopback port with nothing listening: connection refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def assert_complete(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)
    for name, expected in MNIST_FILES.items():
        assert md5(folder / name) == expected, name


def test_downloads_all_four_with_progress(serve, tmp_path: Path, shared_mnist_dir: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    folder = tmp_path / "new" / "mnist"
    assert download_mnist(folder, mirrors=[serve()], progress=lambda *c: calls.append(c)) == folder
    assert_complete(folder)
    for name in MNIST_FILES:
        done = [d for n, d, _ in calls if n == name]
        totals = {t for n, _, t in calls if n == name}
        size = (shared_mnist_dir / name).stat().st_size
        assert done == sorted(done) and done[-1] == size and totals == {size}
    assert len([c for c in calls if c[0] == BIG]) > 10  # streamed in chunks, not one lump


def test_skips_files_already_present(tmp_path: Path, shared_mnist_dir: Path, dead_mirror: str) -> None:
    for name in MNIST_FILES:
        shutil.copy(shared_mnist_dir / name, tmp_path / name)
    calls: list[tuple[str, int, int]] = []
    download_mnist(tmp_path, mirrors=[dead_mirror], progress=lambda *c: calls.append(c))
    assert_complete(tmp_path)
    assert {c[0] for c in calls} == set(MNIST_FILES) and all(d == t for _, d, t in calls)


def test_replaces_a_present_file_with_wrong_md5(serve, tmp_path: Path, shared_mnist_dir: Path) -> None:
    for name in MNIST_FILES:
        shutil.copy(shared_mnist_dir / name, tmp_path / name)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    download_mnist(tmp_path, mirrors=[serve()])
    assert_complete(tmp_path)


BROKEN = {
    "altered": "checksum mismatch",
    "short_length": "checksum mismatch",
    "half_close": "connection dropped after",
    "missing": "HTTP 404",
    "dead": "cannot connect",
}


def broken_mirror(kind: str, serve, dead_mirror: str, tmp_path: Path) -> str:
    if kind == "dead":
        return dead_mirror
    if kind == "missing":
        (tmp_path / "empty").mkdir()
        return serve("good", tmp_path / "empty")
    return serve(kind)


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_mirror_alone_raises_and_leaves_nothing(kind, serve, dead_mirror, tmp_path: Path) -> None:
    bad = broken_mirror(kind, serve, dead_mirror, tmp_path)
    folder = tmp_path / "mnist"
    with pytest.raises(DataError) as info:
        download_mnist(folder, mirrors=[bad])
    message = str(info.value)
    assert BIG in message and bad + BIG in message and BROKEN[kind] in message
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("kind", BROKEN)
def test_falls_back_to_the_next_mirror(kind, serve, dead_mirror, tmp_path: Path) -> None:
    bad = broken_mirror(kind, serve, dead_mirror, tmp_path)
    folder = tmp_path / "mnist"
    download_mnist(folder, mirrors=[bad, serve()])
    assert_complete(folder)


def test_error_lists_every_mirror_and_why(serve, dead_mirror, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    mirrors = [dead_mirror, serve("good", tmp_path / "empty"), serve("altered")]
    with pytest.raises(DataError) as info:
        download_mnist(tmp_path / "mnist", mirrors=mirrors)
    lines = str(info.value).splitlines()[1:]
    assert [line.split(": ", 1)[0].strip() for line in lines] == [m + BIG for m in mirrors]
    assert "cannot connect" in lines[0] and "HTTP 404" in lines[1] and "checksum mismatch" in lines[2]


def test_interrupted_download_leaves_nothing_and_retry_works(serve, tmp_path: Path) -> None:
    good = serve()

    def interrupt(name: str, done: int, total: int) -> None:
        if done > total // 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download_mnist(tmp_path, mirrors=[good], progress=interrupt)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="connection dropped"):
        download_mnist(tmp_path, mirrors=[serve("half_close")])
    assert list(tmp_path.iterdir()) == []
    download_mnist(tmp_path, mirrors=[good])
    assert_complete(tmp_path)


def test_hanging_mirror_times_out(serve, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="timed out"):
        download_mnist(tmp_path, mirrors=[serve("hang")], timeout=0.2)
    assert list(tmp_path.iterdir()) == []


def test_unusable_folder_and_no_mirrors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="cannot create the data folder"):
        download_mnist(tmp_path / "file" / "mnist", mirrors=["http://127.0.0.1:9/"])
    with pytest.raises(DataError, match="no MNIST mirrors"):
        download_mnist(tmp_path, mirrors=[])


def test_default_data_dir_honours_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LENET_VIZ_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("LENET_VIZ_DATA_DIR")
    assert default_data_dir().name == "mnist" and "lenet-viz" in str(default_data_dir())
