"""Where the training loop runs, behind one small interface: a thread of this process or a child process.

`TrainingWorker` (a QThread) calls `transport.run(deliver)` on its thread and `transport.send()`
from any thread; it never asks which transport it has.

- `ThreadTransport`: the loop runs right there on the worker's thread, reading a queue.  The
  trainer can be read while the loop is stopped (tests, scripts).
- `ProcessTransport`: the loop runs in a child process (`training/remote.py`), the worker's
  thread relays its events.  Commands are pickled in the caller (a lambda fails there, at
  once) and written by a small writer thread from a bounded queue, so the GUI thread never
  blocks on a child that stopped reading (SIGSTOP, a stuck step): the queue fills, and
  `unanswered_s()` says for how long the child has been silent.

No Qt here: the worker owns the signals.
"""

from __future__ import annotations

import logging
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol

from ..training import TrainConfig
from ..training.loop import TrainingLoop
from ..training.messages import Command, Event, Failed, RunningChanged, Stop
from ..training.remote import adopt_warm_child, anchored, spawn

log = logging.getLogger(__name__)

#: How long a training process may take to stop by itself before it is terminated.
PROCESS_GRACE_S = 2.0
#: Commands waiting for a child that stopped reading; more than this and new ones are refused.
MAX_PENDING_COMMANDS = 256

Deliver = Callable[[Event], None]


class Transport(Protocol):
    def send(self, command: Command) -> None: ...  # any thread; never blocks
    def run(self, deliver: Deliver) -> None: ...  # the worker's thread: until the loop ends
    def terminate(self, waited: bool = True) -> bool: ...  # end at once (waited=False: a child still loading); False: cannot
    def unanswered_s(self) -> float: ...  # seconds a sent command has waited for any event (0: none)


class _Outbox:
    def __init__(self, deliver: Deliver) -> None:
        self.emit = deliver


class ThreadTransport:
    def __init__(self, config: TrainConfig | None, trainer: Any, options: dict[str, Any]) -> None:
        self._commands: queue.Queue[Command] = queue.Queue()
        self._config, self._options = config, options
        self.loop: TrainingLoop | None = None
        self.prebuilt = trainer
        self.child_pid = None

    def send(self, command: Command) -> None:
        self._commands.put(command)

    def run(self, deliver: Deliver) -> None:
        self.loop = TrainingLoop(_Outbox(deliver), self._commands, config=self._config, trainer=self.prebuilt, **self._options)
        self.loop.run()

    def terminate(self, waited: bool = True) -> bool:
        return False  # a thread cannot be killed; the worker waits for it

    def unanswered_s(self) -> float:
        return 0.0

    @property
    def trainer(self) -> Any:
        return self.loop.trainer if self.loop is not None else self.prebuilt


class ProcessTransport:
    trainer = None  # it lives in the child: ask it with commands

    def __init__(self, config: TrainConfig, options: dict[str, Any]) -> None:
        self._child: subprocess.Popen | None = None
        self._child_end: socket.socket | None = None
        warm = adopt_warm_child()  # started by the command line before the window: torch is imported already
        if warm is not None:
            self._conn, self._child = warm.conn, warm.process
        else:
            ours, self._child_end = socket.socketpair()
            self._conn = Connection(ours.detach())
        self._outgoing: queue.Queue[bytes | None] = queue.Queue(MAX_PENDING_COMMANDS)
        self._stopping = False
        self._waiting_since: float | None = None  # a command went out and no event came back since
        self._run = 1
        self._deliver: Deliver | None = None
        self._ended = False  # the child is gone: commands are answered here
        self._writer = threading.Thread(target=self._write, name="lenet-viz command writer", daemon=True)
        self._put(("start", (anchored(config), options)))  # read first, whenever the child starts

    @property
    def child_pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def send(self, command: Command) -> None:
        if isinstance(command, Stop):
            self._stopping = True
        elif self._stopping:  # after a stop (the window closing hides its docks): nobody is left to answer or tell
            return
        elif self._ended and self._deliver is not None:  # say so, instead of vanishing into a closed pipe
            self._deliver(Failed(self._run, "The training process has stopped; use Training ▸ Restart training",
                                 getattr(command, "token", 0)))
            return
        self._put(command)

    def _put(self, message: Any) -> None:
        data = bytes(ForkingPickler.dumps(message))  # here: a lambda in a Call raises to the caller
        try:
            self._outgoing.put_nowait(data)
        except queue.Full:
            raise RuntimeError("the training process is not reading commands; this one was not sent") from None
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    def _write(self) -> None:
        while (data := self._outgoing.get()) is not None:
            try:
                self._conn.send_bytes(data)
            except OSError:
                return  # the child is gone: the relay reports it

    def unanswered_s(self) -> float:
        since = self._waiting_since
        return time.monotonic() - since if since is not None and self.child_pid is not None else 0.0

    def run(self, deliver: Deliver) -> None:
        """Start the training process, then hand each of its events to `deliver` until it ends."""
        self._deliver = deliver
        if self._child_end is not None:
            try:
                self._child = spawn(self._child_end)
            except OSError as exc:
                log.error("could not start the training process", exc_info=exc)
                deliver(Failed(self._run, f"Could not start the training process: {exc}"))
                return
            finally:
                self._child_end.close()  # the child's copy is the only one left: its exit reads as EOF here
        self._writer.start()
        child, running = self._child, False
        while True:
            try:
                event = self._conn.recv()
            except (EOFError, OSError):
                break
            self._waiting_since = None
            if isinstance(event, Event):
                self._run = event.run
                running = event.running if isinstance(event, RunningChanged) else running
                deliver(event)
        self._ended = True
        self._outgoing.put(None) if not self._outgoing.full() else None
        try:
            child.wait(PROCESS_GRACE_S)
        except subprocess.TimeoutExpired:
            self.terminate()
        # Exit code 0 without a stop: the trainer could not be built, and the loop said why.
        if not self._stopping and child.returncode != 0:
            if running:
                deliver(RunningChanged(self._run, False))
            deliver(Failed(self._run, f"The training process stopped unexpectedly (exit code {child.returncode})"))
        self._conn.close()

    def terminate(self, waited: bool = True) -> bool:
        """End the training process now; `waited`: it was given time to stop and did not (said as a
        warning), else it was still starting, with nothing to lose (the window closed meanwhile)."""
        child = self._child
        if child is not None and child.poll() is None:
            if waited:
                log.warning("the training process did not stop in time; terminating it")
            else:
                log.info("closing before the training process was ready: ending it")
            child.terminate()
            try:
                child.wait(PROCESS_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return True
