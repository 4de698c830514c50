"""Data in the app: choose the source from the Data menu; download MNIST with a progress bar that can
be cancelled, against loopback HTTP servers; failures to the banner; nothing half-written left."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app_driver import LONG, open_window
from lenet_viz.data.files import MNIST_FILES, MNIST_SIZES

REAL_MNIST = [p for p in (Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist",
                          Path("/work/shared/data/mnist")) if (p / "train-images-idx3-ubyte.gz").is_file()]


class Mirror(BaseHTTPRequestHandler):
    root: Path | None  # serve these files; None: 404 everything
    drip: bool  # send zeros slowly, 1 KB every 20 ms, never finishing quickly
    stop: threading.Event

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = Path(self.path).name
        if self.drip:
            self.send_response(200)
            self.send_header("Content-Length", str(MNIST_SIZES[name]))
            self.end_headers()
            while not self.stop.is_set():
                try:
                    self.wfile.write(bytes(1024))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.02)
            return
        if self.root is None or not (self.root / name).is_file():
            self.send_error(404)
            return
        body = (self.root / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror():
    servers = []
    stop = threading.Event()

    def start(root: Path | None = None, drip: bool = False) -> str:
        handler = type("Handler", (Mirror,), {"root": root, "drip": drip, "stop": stop})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    stop.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def window(qtbot, tmp_path):
    w = open_window(qtbot, tmp_path, dataset="digits")
    yield w
    w.data_actions.cancel()
    assert w.data_actions.wait(10)
    w.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_data_menu_switches_the_source(qtbot, window):
    w = window
    w.refresh()
    assert w.data_actions.source_actions["digits"].isChecked()
    w.data_actions.source_actions["random"].trigger()
    qtbot.waitUntil(lambda: w.session.info is not None and w.session.info.dataset == "random", timeout=LONG)
    w.refresh()
    assert w.data_actions.source_actions["random"].isChecked() and "random" in w.status.text()


@pytest.mark.skipif(not REAL_MNIST, reason="the real MNIST files are not beside the repository")
def test_download_mnist_from_the_window(qtbot, window, mirror, tmp_path):
    w = window
    w.data_actions.mirrors = [mirror(REAL_MNIST[0])]
    folder = tmp_path / "mnist"
    seen: list[int] = []
    w.data_actions.progressed.connect(seen.append)
    w.data_actions.download(folder)
    assert w.data_actions.bar.isVisibleTo(w)
    qtbot.waitUntil(lambda: not w.data_actions.downloading and not w.data_actions.bar.isVisibleTo(w), timeout=LONG)
    assert leftovers(folder) == sorted(MNIST_FILES)
    assert seen[-1] == sum(MNIST_SIZES.values()) and seen == sorted(seen)
    assert w.notice.text() == f"MNIST downloaded to {folder}: choose Data ▸ MNIST to train on it"


def test_cancel_leaves_nothing_half_written(qtbot, window, mirror, tmp_path):
    w = window
    w.data_actions.mirrors = [mirror(drip=True)]
    folder = tmp_path / "mnist"
    w.data_actions.download(folder)
    qtbot.waitUntil(lambda: w.data_actions.bar.bar.value() > 2048, timeout=LONG)  # bytes are arriving
    w.data_actions.bar.cancel_button.click()
    qtbot.waitUntil(lambda: not w.data_actions.bar.isVisibleTo(w), timeout=LONG)
    assert leftovers(folder) == []
    assert w.notice.text().startswith("MNIST download cancelled") and not w.banner.isVisibleTo(w)


def test_a_failed_download_goes_to_the_banner(qtbot, window, mirror, tmp_path):
    w = window
    url = mirror(None)
    w.data_actions.mirrors = [url]
    folder = tmp_path / "mnist"
    w.data_actions.download(folder)
    qtbot.waitUntil(lambda: w.banner.isVisibleTo(w), timeout=LONG)
    text = w.banner.text.text()
    assert "train-images-idx3-ubyte.gz" in text and "127.0.0.1" in text and "404" in text
    assert "training is paused" not in text  # training was never touched
    assert leftovers(folder) == []
    assert w.data_actions.download_action.isEnabled()
