"""The training loop alone in a child process, talking to the app over one duplex pipe.

Why a process: on a 2-core machine the GUI thread and a training thread fight for the GIL.
Drawing holds it for milliseconds at a time and torch releases and re-takes it around every
small op, so a training thread ran at 0.4-0.6x of a bare loop while the window was drawn
(`python -m lenet_viz.bench`).  A process has its own interpreter: training keeps its core,
the GUI keeps the other.

The protocol is the `TrainingLoop`'s own: after a start message, the parent sends `(command,
argument)` tuples, the child answers with `(outbox method, args)` tuples, in order, pickled by the pipe.  Only plain
data crosses: dataclasses of numbers and numpy copies, a TrainConfig, a MetricHistory, and for
`call` a picklable function of the trainer.  Nothing here imports Qt.

Pickle on this pipe is safe because it is private: both ends are ours (the app creates the
socket pair and hands one end to the child it starts, as an inherited descriptor), the socket
is never bound to an address or put on a network, and no other process can connect to it.

The child's import path is pinned (see `child_command`): it never imports from the folder the
app was launched in, so a `queue.py` or `torch.py` planted there cannot run in it.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from collections.abc import Callable
from functools import partial
from typing import Any

from .config import TrainConfig
from .loop import TrainingLoop, user_message

log = logging.getLogger(__name__)

#: The folder that holds the lenet_viz package (site-packages, or a source checkout).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

#: The outbox methods a child may ask the parent to run.
MESSAGES = frozenset({
    "on_ready", "on_stats", "on_snapshot", "on_phase", "on_restart", "on_running", "on_error", "on_diverged", "on_call",
})


class PipeCommands:
    """The parent's commands, read from the pipe with `queue.Queue`'s interface.

    The parent closing its end (it quit or crashed) reads as a "stop" command, so an orphaned
    child never trains on alone."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, block: bool = True, timeout: float | None = None) -> tuple[str, Any]:
        if block and not self._poll(timeout):
            raise queue.Empty
        return self._recv()

    def get_nowait(self) -> tuple[str, Any]:
        return self.get(timeout=0)

    def qsize(self) -> int:
        return int(self._poll(0))

    def _poll(self, timeout: float | None) -> bool:
        try:
            return self.conn.poll(timeout)
        except (EOFError, OSError):
            return True  # the next _recv() says stop

    def _recv(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return ("stop", None)


class PipeOutbox:
    """The `Outbox` of the training process: each call goes to the parent as `(name, args)`.

    Every method is the same one-liner, so they are made from MESSAGES instead of written out."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name not in MESSAGES:
            raise AttributeError(name)
        return partial(self._send, name)

    def _send(self, name: str, *args: Any) -> None:
        try:
            self.conn.send((name, args))  # pickled whole before a byte is written
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # the parent is gone; the next command read says stop
        except Exception as exc:  # noqa: BLE001 - only a call's result can fail to pickle: the caller's bug, say so
            log.error("%s: cannot be sent to the app", name, exc_info=exc)
            self.on_error(user_message("Sending a task's result", exc))


def child_command(fd: int, cwd: str | os.PathLike[str] | None = None) -> list[str]:
    """How the app starts a training process on its end `fd` of a socket pair.

    A fresh interpreter, not multiprocessing's spawn: spawn re-imports the parent's main script
    in the child, which starts a second app from any script that builds a window without an
    `if __name__ == "__main__"` guard.

    Isolated mode (`-I`: no current folder or script folder on the path, no PYTHON* variables,
    no user site) with the import path given explicitly: this package's folder first, then the
    app's own path minus the folder it was launched from (`cwd`, default the current one).  So
    a `queue.py`, `numpy.py` or `lenet_viz/` lying in a downloads folder, a cloned repository or
    a classroom share is never imported, while a package installed anywhere the app itself
    imports from (a venv, PYTHONPATH, a source checkout) still is."""
    boot = f"import sys; sys.path[:0] = {import_path(cwd)!r}; from {__name__} import main; main({int(fd)})"
    return [sys.executable, "-I", "-c", boot]


def import_path(cwd: str | os.PathLike[str] | None = None) -> list[str]:
    """The training process's import path: the package's folder, then ours without the launch folder."""
    launched_from = os.path.realpath(cwd if cwd is not None else os.getcwd())
    path = [str(PACKAGE_ROOT)]
    for entry in sys.path:
        if entry and entry not in path and os.path.realpath(entry) != launched_from:
            path.append(entry)
    return path


def child_env() -> dict[str, str]:
    """The app's environment for the child, with a relative data folder anchored where the user typed it
    (the child works in another folder)."""
    env = dict(os.environ)
    if data := env.get("LENET_VIZ_DATA_DIR"):
        env["LENET_VIZ_DATA_DIR"] = str(Path(data).expanduser().absolute())
    return env


def anchored(config: TrainConfig) -> TrainConfig:
    """`config` with a relative `data_dir` made absolute here, before it crosses to the child."""
    if config.data_dir and not Path(config.data_dir).expanduser().is_absolute():
        return config.replace(data_dir=str(Path(config.data_dir).expanduser().absolute()))
    return config


def serve(conn: Connection) -> None:
    """Run a TrainingLoop on `conn` until told to stop; the first message is `("start", (config, options))`."""
    try:
        name, (config, options) = conn.recv()
        if name != "start" or not isinstance(config, TrainConfig):
            raise ValueError(f"expected the start message, got {name!r}")
        TrainingLoop(PipeOutbox(conn), PipeCommands(conn), config=config, **options).run()
    except (EOFError, OSError):
        pass  # the app went away before or while we started
    except (ValueError, TypeError) as exc:
        log.error("not a lenet-viz start message; ending: %s", exc)
    finally:
        conn.close()


def main(fd: int) -> None:
    """The training process: serve the app on its socket `fd`, then leave at once.

    Ctrl+C in the terminal reaches the whole process group; the app stops this child itself
    (cleanly, or by terminate() on close), so the child ignores SIGINT instead of printing a
    KeyboardInterrupt traceback mid-step."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"lenet-viz training (pid {os.getpid()}): %(levelname)s %(message)s")
    serve(Connection(fd))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip tearing down torch's modules (up to a second): the app is waiting to close


if __name__ == "__main__":
    main(int(sys.argv[1]))
