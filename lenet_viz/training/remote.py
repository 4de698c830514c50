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
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from .config import TrainConfig
from .history import MetricHistory
from .loop import TrainingLoop, user_message
from .types import Phase, RunInfo, Snapshot, StepStats

log = logging.getLogger(__name__)

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
    """Sends every outbox call to the parent as `(name, args)`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _send(self, name: str, *args: Any) -> None:
        try:
            self.conn.send((name, args))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # the parent is gone; the next command read says stop

    def on_ready(self, info: RunInfo) -> None:
        self._send("on_ready", info)

    def on_stats(self, stats: StepStats) -> None:
        self._send("on_stats", stats)

    def on_snapshot(self, snapshot: Snapshot, config: TrainConfig) -> None:
        self._send("on_snapshot", snapshot, config)

    def on_phase(self, phase: Phase) -> None:
        self._send("on_phase", phase)

    def on_restart(self, info: RunInfo, history: MetricHistory | None, snapshot: Snapshot, config: TrainConfig) -> None:
        self._send("on_restart", info, history, snapshot, config)

    def on_running(self, running: bool) -> None:
        self._send("on_running", running)

    def on_error(self, message: str) -> None:
        self._send("on_error", message)

    def on_diverged(self, iteration: int, loss: float) -> None:
        self._send("on_diverged", iteration, loss)

    def on_call(self, token: int, result: Any) -> None:
        try:
            pickle.dumps(result)
        except Exception as exc:  # noqa: BLE001 - a result that cannot travel is the caller's bug: say so
            log.error("the result of a worker call cannot be sent back", exc_info=exc)
            self.on_error(user_message("Sending a task's result", exc))
            return
        self._send("on_call", token, result)


def child_command(fd: int) -> list[str]:
    """How the app starts a training process on its end `fd` of a socket pair.

    A fresh interpreter running this module, not multiprocessing's spawn: spawn re-imports the
    parent's main script in the child, which starts a second app from any script that builds
    a window without an `if __name__ == "__main__"` guard."""
    return [sys.executable, "-m", __name__, str(fd)]


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
