"""The training process's protocol, without a process: `serve()` on a thread, over a real socket pair."""

from __future__ import annotations

import socket
import threading
from multiprocessing.connection import Connection

import pytest

from lenet_viz.training import Phase, TrainConfig, jobs
from lenet_viz.training.remote import MESSAGES, serve

FAST = TrainConfig(dataset="random", batch_size=8, threads=1)
TIMEOUT = 60.0


@pytest.fixture
def child():
    """(our end, the serving thread): the loop runs as in the child process."""
    ours, theirs = socket.socketpair()
    conn, their_conn = Connection(ours.detach()), Connection(theirs.detach())
    thread = threading.Thread(target=serve, args=(their_conn,), daemon=True)
    thread.start()
    yield conn, thread
    try:
        conn.send(("stop", None))
    except OSError:
        pass
    thread.join(TIMEOUT)
    conn.close()
    assert not thread.is_alive()


def until(conn: Connection, name: str) -> list[tuple[str, tuple]]:
    """Every message up to and including the first `name`."""
    seen = []
    while True:
        assert conn.poll(TIMEOUT), f"no {name} within {TIMEOUT} s; got {[n for n, _ in seen]}"
        message = conn.recv()
        assert message[0] in MESSAGES
        seen.append(message)
        if message[0] == name:
            return seen


def test_start_step_call_stop(child):
    conn, thread = child
    conn.send(("start", (FAST, {"torch_threads": 1})))
    started = until(conn, "on_ready")
    assert [n for n, _ in started] == ["on_snapshot", "on_ready"]
    snapshot, config = started[0][1]
    assert snapshot.iteration == 0 and config == FAST
    assert started[1][1][0].dataset == "random"

    conn.send(("step_iteration", None))
    stepped = until(conn, "on_snapshot")
    assert [n for n, _ in stepped] == ["on_stats", "on_snapshot"]
    assert stepped[0][1][0].iteration == 1 and stepped[1][1][0].iteration == 1

    conn.send(("step_phase", None))
    phased = until(conn, "on_snapshot")
    assert phased[0] == ("on_phase", (Phase.ZERO_GRAD,))

    conn.send(("call", (7, jobs.iteration, False)))
    assert until(conn, "on_call")[-1] == ("on_call", (7, 1))

    conn.send(("stop", None))
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    with pytest.raises(EOFError):  # serve closed its end
        conn.recv()


def test_a_run_that_cannot_start_reports_why_and_ends(child, tmp_path):
    conn, thread = child
    conn.send(("start", (TrainConfig(dataset="mnist", data_dir=str(tmp_path)), {})))
    (name, (message,)), = until(conn, "on_error")
    assert "MNIST files missing" in message and str(tmp_path) in message
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_the_app_going_away_stops_an_orphan(child):
    """The parent died (its end closed) while the loop was running flat out: it must not train on."""
    conn, thread = child
    conn.send(("start", (FAST, {})))
    until(conn, "on_ready")
    conn.send(("play", None))
    until(conn, "on_stats")
    conn.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_a_wrong_first_message_ends_the_child(child):
    conn, thread = child
    conn.send(("play", None))
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def a_lock(trainer) -> threading.Lock:  # noqa: ANN001 - a job whose result cannot be pickled
    return threading.Lock()


def test_a_result_that_cannot_travel_is_an_error_not_a_crash(child):
    conn, _ = child
    conn.send(("start", (FAST, {})))
    until(conn, "on_ready")
    conn.send(("call", (1, a_lock, False)))
    (name, (message,)), = [m for m in until(conn, "on_error") if m[0] == "on_error"]
    assert message.startswith("Sending a task's result failed")
    conn.send(("call", (2, jobs.iteration, False)))  # still serving
    assert until(conn, "on_call")[-1] == ("on_call", (2, 0))
