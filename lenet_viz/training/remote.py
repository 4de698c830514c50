"""The training loop alone in a child process, talking to the app over one duplex pipe.

Why a process: on a 2-core machine the GUI thread and a training thread fight for the GIL.
Drawing holds it for milliseconds at a time and torch releases and re-takes it around every
small op, so a training thread ran at 0.4-0.6x of a bare loop while the window was drawn
(`python -m lenet_viz.bench`).  A process has its own interpreter: training keeps its core,
the GUI keeps the other.

The protocol is the `TrainingLoop`'s own: after a start message, the parent sends commands and
the child answers with events (`training/messages.py`), in order, pickled by the pipe.  Events
leave from a sending thread (`PipeOutbox`): pickling a snapshot and its probe's forward pass run
there, on the other core, while the training thread goes on (torch releases the GIL in its ops).  Only
plain data crosses: dataclasses of numbers and numpy copies, a TrainConfig, a MetricHistory,
and for `Call` a picklable function of the trainer.  Nothing here imports Qt.

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
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .loop import TrainingLoop, user_message
from .messages import Command, Event, Failed, Stop

log = logging.getLogger(__name__)

#: The folder that holds the lenet_viz package (site-packages, or a source checkout).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class PipeCommands:
    """The parent's commands, read from the pipe with `queue.Queue`'s interface.

    The parent closing its end (it quit or crashed) reads as a "stop" command, so an orphaned
    child never trains on alone."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, block: bool = True, timeout: float | None = None) -> Command:
        if block and not self._poll(timeout):
            raise queue.Empty
        return self._recv()

    def get_nowait(self) -> Command:
        return self.get(timeout=0)

    def qsize(self) -> int:
        return int(self._poll(0))

    def _poll(self, timeout: float | None) -> bool:
        try:
            return self.conn.poll(timeout)
        except (EOFError, OSError):
            return True  # the next _recv() says stop

    def _recv(self) -> Command:
        try:
            command = self.conn.recv()
        except (EOFError, OSError):
            return Stop()
        return command if isinstance(command, Command) else Stop()  # not ours: nothing else is trusted


class PipeOutbox:
    """The `Outbox` of the training process: events go to the parent, in order, from a sending thread
    of their own, so the training thread waits neither for the socket nor, for a snapshot
    (`emit_later`), for the probe's forward pass and the pickling (~1 ms).

    `emit` pickles on the caller's thread: an event is the state of the moment it was emitted (a
    `Call`'s result may hold live tensors), and one that cannot pickle is reported there, with
    nothing half-sent.  At most `QUEUE` events wait: past that, `emit` blocks, so a parent that stops
    reading slows training down instead of filling memory, as a direct send did."""

    QUEUE = 64
    CLOSE_S = 10.0  # how long close() waits for the queue to go out

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._queue: queue.Queue[bytes | Callable[[], Event] | None] = queue.Queue(self.QUEUE)
        self._thread = threading.Thread(target=self._send_all, name="lenet-viz sender", daemon=True)
        self._thread.start()

    def emit(self, event: Event) -> None:
        self._queue.put(_pickled(event))

    def emit_later(self, make: Callable[[], Event]) -> None:
        """Send `make()`, made and pickled on the sending thread, after everything emitted before it."""
        self._queue.put(make)

    def close(self) -> None:
        """Send what is queued, then end the sending thread (give up after CLOSE_S: a parent not reading)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(self.CLOSE_S)

    def _send_all(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.conn.send_bytes(item if isinstance(item, bytes) else _pickled(item()))
            except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
                pass  # the parent is gone; the next command read says stop
            except Exception:  # noqa: BLE001 - a bug in make(): logged; this thread must go on (emit would block)
                log.exception("an event could not be made")


def _pickled(event: Event) -> bytes:
    """The event as the pipe carries it; one that cannot pickle (only a call's result can: the caller's
    bug) becomes a `Failed` with its token, so the caller waiting on it hears why."""
    try:
        return bytes(ForkingPickler.dumps(event))
    except Exception as exc:  # noqa: BLE001 - said to the user in one line
        log.error("%s: cannot be sent to the app", type(event).__name__, exc_info=exc)
        return bytes(ForkingPickler.dumps(
            Failed(event.run, user_message("Sending a task's result", exc), getattr(event, "token", 0))))


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


def spawn(child_end: socket.socket) -> subprocess.Popen:
    """Start a training process on its end of a socket pair.  Only that socket is inherited (close_fds), and
    the child works in the package's folder, not the user's: nothing there is on its import path either."""
    fd = child_end.fileno()
    return subprocess.Popen(child_command(fd), pass_fds=(fd,), close_fds=True, env=child_env(), cwd=PACKAGE_ROOT,
                            stdin=subprocess.DEVNULL)


class WarmChild:
    """A training process started before the window is built (before Qt is even imported, by the
    command line): it imports torch and loads `config`'s data meanwhile, told so by a first
    `("prefetch", config)` message.  The app's transport adopts it (`adopt_warm_child`) and sends
    the start message as to any child.  Unadopted, it ends when this process does (its socket closes)."""

    def __init__(self, config: TrainConfig) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = spawn(theirs)
        finally:
            theirs.close()  # the child's copy is the only one left: its exit reads as EOF here
        self.conn = Connection(ours.detach())
        self.conn.send(("prefetch", anchored(config)))


_warm: WarmChild | None = None


def start_warm_child(config: TrainConfig) -> None:
    """Start the app's training process now (see WarmChild); a failure here only means it starts later."""
    global _warm
    try:
        _warm = WarmChild(config)
    except OSError as exc:
        log.info("no early training process: %s", exc)


def adopt_warm_child() -> WarmChild | None:
    """The training process `start_warm_child` started, if it is still alive; each is adopted once."""
    global _warm
    warm, _warm = _warm, None
    if warm is not None and warm.process.poll() is not None:
        warm.conn.close()
        return None
    return warm


def _prefetch(config: Any) -> Any:
    """The data of `config`, loaded before the start message comes; None if that fails (the start reports it)."""
    try:
        from ..data import load_dataset
        from . import trainer  # noqa: F401 - torch, while the window is built

        return load_dataset(config.dataset, config.data_dir, seed=config.seed)
    except Exception as exc:  # noqa: BLE001 - the Trainer loads it again and says what is wrong
        log.debug("prefetching the data failed: %s", exc)
        return None


def serve(conn: Connection) -> None:
    """Run a TrainingLoop on `conn` until told to stop; the first message is `("start", (config, options))`,
    after an optional `("prefetch", config)` (see WarmChild)."""
    try:
        name, payload = conn.recv()
        prefetched, dataset = None, None
        if name == "prefetch" and isinstance(payload, TrainConfig):
            prefetched, dataset = payload, _prefetch(payload)
            name, payload = conn.recv()
        config, options = payload
        if name != "start" or not isinstance(config, TrainConfig):
            raise ValueError(f"expected the start message, got {name!r}")
        if dataset is not None and prefetched.needs_new_data(config):  # the app changed its mind (a checkpoint)
            dataset = None
        outbox = PipeOutbox(conn)
        try:
            TrainingLoop(outbox, PipeCommands(conn), config=config, dataset=dataset, **options).run()
        finally:
            outbox.close()  # what the loop said last (a failure, a saved checkpoint) reaches the app
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
    KeyboardInterrupt traceback mid-step.  SIGTERM (the app giving up on a stuck command) unwinds
    instead of vanishing, so a checkpoint being written removes its temporary file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    logging.basicConfig(level=logging.WARNING, format=f"lenet-viz training (pid {os.getpid()}): %(levelname)s %(message)s")
    serve(Connection(fd))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip tearing down torch's modules (up to a second): the app is waiting to close


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main(int(sys.argv[1]))
