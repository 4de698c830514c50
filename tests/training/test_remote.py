"""The training process's protocol, without a process: `serve()` on a thread, over a real socket pair."""

from __future__ import annotations

import socket
import threading
from multiprocessing.connection import Connection

import pytest

import trainer_jobs as jobs
from lenet_viz.training import Phase, TrainConfig
from lenet_viz.training.messages import (
    Call, CallDone, Event, Failed, PhaseRan, Play, Ready, SnapshotTaken, Stats, StepIteration, StepPhase, Stop,
)
from lenet_viz.training.remote import serve

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
        conn.send(Stop())
    except OSError:
        pass
    thread.join(TIMEOUT)
    conn.close()
    assert not thread.is_alive()


def until(conn: Connection, kind: type) -> list[Event]:
    """Every event up to and including the first of `kind`."""
    seen = []
    while True:
        assert conn.poll(TIMEOUT), f"no {kind.__name__} within {TIMEOUT} s; got {[type(e).__name__ for e in seen]}"
        event = conn.recv()
        assert isinstance(event, Event)
        seen.append(event)
        if isinstance(event, kind):
            return seen


def kinds(events: list[Event]) -> list[type]:
    return [type(e) for e in events]


def test_start_step_call_stop(child):
    conn, thread = child
    conn.send(("start", (FAST, {"torch_threads": 1})))
    started = until(conn, Ready)
    assert kinds(started) == [SnapshotTaken, Ready]
    snapshot, config = started[0].snapshot, started[0].config
    assert snapshot.iteration == 0 and config == FAST
    assert started[1].info.dataset == "random" and started[1].run == 1

    conn.send(StepIteration())
    stepped = until(conn, SnapshotTaken)
    assert kinds(stepped) == [Stats, SnapshotTaken]
    assert stepped[0].stats.iteration == 1 and stepped[1].snapshot.iteration == 1

    conn.send(StepPhase())
    phased = until(conn, SnapshotTaken)
    assert phased[0] == PhaseRan(1, Phase.ZERO_GRAD)

    conn.send(Call(7, jobs.iteration))
    assert until(conn, CallDone)[-1] == CallDone(1, 7, 1)

    conn.send(Stop())
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    with pytest.raises(EOFError):  # serve closed its end
        conn.recv()


def test_a_run_that_cannot_start_reports_why_and_ends(child, tmp_path):
    conn, thread = child
    conn.send(("start", (TrainConfig(dataset="mnist", data_dir=str(tmp_path)), {})))
    (failed,) = until(conn, Failed)
    message = failed.message
    assert "MNIST files missing" in message and str(tmp_path) in message
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_the_app_going_away_stops_an_orphan(child):
    """The parent died (its end closed) while the loop was running flat out: it must not train on."""
    conn, thread = child
    conn.send(("start", (FAST, {})))
    until(conn, Ready)
    conn.send(Play())
    until(conn, Stats)
    conn.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_a_wrong_first_message_ends_the_child(child):
    conn, thread = child
    conn.send(Play())
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def a_lock(trainer) -> threading.Lock:  # noqa: ANN001 - a job whose result cannot be pickled
    return threading.Lock()


def test_a_result_that_cannot_travel_is_an_error_not_a_crash(child):
    conn, _ = child
    conn.send(("start", (FAST, {})))
    until(conn, Ready)
    conn.send(Call(1, a_lock))
    (failed,) = [e for e in until(conn, Failed) if isinstance(e, Failed)]
    assert failed.message.startswith("Sending a task's result failed") and failed.token == 1
    conn.send(Call(2, jobs.iteration))  # still serving
    assert until(conn, CallDone)[-1] == CallDone(1, 2, 0)


@pytest.fixture
def pipe():
    """(a PipeOutbox on one end of a socket pair, the other end)."""
    from lenet_viz.training.remote import PipeOutbox

    ours, theirs = socket.socketpair()
    conn, their_conn = Connection(ours.detach()), Connection(theirs.detach())
    outbox = PipeOutbox(their_conn)
    yield outbox, conn
    outbox.close()
    their_conn.close()
    conn.close()


def received(conn: Connection, n: int) -> list[Event]:
    out = []
    for _ in range(n):
        assert conn.poll(TIMEOUT)
        out.append(conn.recv())
    return out


def test_the_outbox_sends_in_order_and_makes_later_events_on_its_own_thread(pipe):
    """The training thread hands a snapshot over unmade: it is made (the probe's forward pass) and
    pickled on the sending thread, and still arrives after what was emitted before it and before what follows."""
    outbox, conn = pipe
    made_on = []

    def make() -> Event:
        made_on.append(threading.current_thread())
        return Failed(1, "made later")

    outbox.emit(Failed(1, "first"))
    outbox.emit_later(make)
    outbox.emit(Failed(1, "third"))
    assert [e.message for e in received(conn, 3)] == ["first", "made later", "third"]
    assert made_on and made_on[0] is not threading.current_thread()


def test_an_event_is_the_state_of_the_moment_it_was_emitted(pipe):
    """A call's result may hold live tensors that the next step changes: emit() pickles at once, on the
    training thread, so what arrives is what was there when it was emitted."""
    import numpy as np

    outbox, conn = pipe
    gate = threading.Event()
    outbox.emit_later(lambda: (gate.wait(TIMEOUT), Failed(1, "sender busy"))[1])
    live = np.zeros(4)
    outbox.emit(CallDone(1, 7, live))
    live[:] = 99  # the next iteration, while the event still waits in the queue
    gate.set()
    busy, done = received(conn, 2)
    assert busy.message == "sender busy" and done.token == 7 and done.result.tolist() == [0, 0, 0, 0]


def test_an_event_that_cannot_pickle_becomes_a_failure_with_its_token(pipe):
    outbox, conn = pipe
    outbox.emit(CallDone(1, 8, lambda: None))  # a lambda cannot travel
    (failed,) = received(conn, 1)
    assert isinstance(failed, Failed) and failed.token == 8 and "Sending a task's result" in failed.message


def test_a_failing_make_is_logged_and_the_outbox_goes_on(pipe, caplog):
    outbox, conn = pipe
    outbox.emit_later(lambda: 1 / 0)
    outbox.emit(Failed(1, "after"))
    assert [e.message for e in received(conn, 1)] == ["after"]
    assert "could not be made" in caplog.text


def test_close_sends_what_is_queued(pipe):
    outbox, conn = pipe
    for k in range(20):
        outbox.emit(Failed(1, str(k)))
    outbox.close()
    assert [e.message for e in received(conn, 20)] == [str(k) for k in range(20)]


def test_a_parent_that_stops_reading_slows_the_loop_down_instead_of_filling_memory(pipe, monkeypatch):
    """At most QUEUE events wait; past that emit() blocks, as a direct send on a full socket did."""
    outbox, conn = pipe
    gate = threading.Event()
    outbox.emit_later(lambda: (gate.wait(TIMEOUT), Failed(1, "held"))[1])  # the sender is busy with this one
    emitted = []

    def flood() -> None:
        for k in range(outbox.QUEUE + 5):
            outbox.emit(Failed(1, str(k)))
            emitted.append(k)

    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    flooding.join(1.0)
    assert flooding.is_alive() and len(emitted) == outbox.QUEUE  # blocked on the full queue
    gate.set()
    events = received(conn, outbox.QUEUE + 6)
    flooding.join(TIMEOUT)
    assert [e.message for e in events] == ["held", *[str(k) for k in range(outbox.QUEUE + 5)]]
