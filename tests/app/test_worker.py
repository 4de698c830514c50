"""TrainingWorker: commands reach the engine on its own thread, results come back via drain()."""

from __future__ import annotations

import logging
import math
import operator
import time

import pytest

import trainer_jobs as jobs
from drained import Drained, ask, drain, until
from lenet_viz.app.worker import TrainingWorker
from lenet_viz.training import Phase, TrainConfig, Trainer
from lenet_viz.training.messages import RunningChanged, RunStarted, SnapshotTaken

FAST = TrainConfig(dataset="random", batch_size=16)
LONG = 60_000  # ms; generous because the first Trainer of a session pays for lazy imports


#: Run a test with the loop on a QThread and in a child process (as the app runs it).
BOTH = pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])


@pytest.fixture
def make_worker(qtbot):
    """Start workers that wait for `ready`; every one is shut down and waited in teardown."""
    workers: list[TrainingWorker] = []

    def make(config: TrainConfig | None = FAST, **kwargs) -> TrainingWorker:
        kwargs.setdefault("torch_threads", 1)  # the test machine may be small and busy
        worker = TrainingWorker(config=config, **kwargs)
        workers.append(worker)
        with qtbot.waitSignal(worker.ready, timeout=LONG):
            worker.start()
        drain(worker)  # the start-up snapshot; re-arms snapshotReady
        return worker

    yield make
    for worker in workers:
        assert worker.shutdown(5000)
        assert not worker.isRunning()


def command(qtbot, worker: TrainingWorker, send) -> Drained:
    """Send a command that ends with a fresh snapshot; return what the GUI would drain then."""
    ask(qtbot, worker, jobs.iteration)  # a barrier: earlier commands' signals are delivered
    drain(worker)
    with qtbot.waitSignal(worker.snapshotReady, timeout=LONG):
        send()
    return drain(worker)


def play_until(qtbot, worker: TrainingWorker, iterations: int, seen: list | None = None) -> list:
    """Play and drain repeatedly (as the GUI timer does) until `iterations` are done."""
    seen = [] if seen is None else seen
    worker.play()

    def enough() -> bool:
        seen.extend(drain(worker).stats)
        return bool(seen) and seen[-1].iteration >= iterations

    qtbot.waitUntil(enough, timeout=LONG)
    return seen


def pause(qtbot, worker: TrainingWorker) -> None:
    with qtbot.waitSignal(worker.stateChanged, timeout=LONG, check_params_cb=lambda running: not running):
        worker.pause()


def record(signal) -> list[tuple]:
    """Arguments of every emission of `signal`, in order."""
    seen: list[tuple] = []
    signal.connect(lambda *args: seen.append(args))
    return seen


def trainer_iteration(qtbot, worker: TrainingWorker) -> int:
    return ask(qtbot, worker, jobs.iteration)


@BOTH
def test_step_iteration_from_paused_advances_exactly_one(qtbot, make_worker, process):
    worker = make_worker(process=process)
    update = command(qtbot, worker, worker.step_iteration)
    assert [s.iteration for s in update.stats] == [1]
    assert update.snapshot is not None and update.snapshot.iteration == 1
    assert update.iteration == 1 and update.next_phase is Phase.ZERO_GRAD
    assert not update.running and not worker.running
    assert trainer_iteration(qtbot, worker) == 1


def test_prebuilt_trainer_is_driven_in_the_worker(qtbot, make_worker):
    worker = make_worker(config=None, trainer=Trainer(FAST))
    update = command(qtbot, worker, worker.request_snapshot)
    assert update.snapshot is not None and update.snapshot.iteration == 0 and update.stats == []
    assert update.config is worker.trainer.config


@BOTH
def test_step_phase_walks_the_phases_in_order(qtbot, make_worker, process):
    worker = make_worker(process=process)
    for phase in Phase:
        update = command(qtbot, worker, worker.step_phase)
        snap = update.snapshot
        assert snap.last_phase is phase and update.phase_done is phase
        assert update.next_phase is phase.next() and snap.next_phase is phase.next()
        if phase is Phase.ZERO_GRAD:
            assert snap.conv1_grad is None
        if phase is Phase.BACKWARD:
            assert snap.conv1_grad is not None and snap.conv1_grad.shape == (6, 1, 5, 5)
        if phase is Phase.UPDATE:
            assert [s.iteration for s in update.stats] == [1] and snap.iteration == 1
        else:
            assert update.stats == [] and snap.iteration == 0
    # the next zero_grad really drops the gradients the backward pass made
    update = command(qtbot, worker, worker.step_phase)
    assert update.snapshot.last_phase is Phase.ZERO_GRAD and update.snapshot.conv1_grad is None


@BOTH
def test_pause_really_holds(qtbot, make_worker, process):
    worker = make_worker(process=process)
    play_until(qtbot, worker, 6)
    pause(qtbot, worker)
    held = drain(worker)
    assert not held.running
    frozen = trainer_iteration(qtbot, worker)
    assert held.iteration == frozen > 5
    for _ in range(10):  # events while nothing should happen, drained as the GUI timer would
        qtbot.wait(30)
        assert drain(worker).stats == []
    assert trainer_iteration(qtbot, worker) == frozen


@BOTH
def test_toggle_flips_between_running_and_paused(qtbot, make_worker, process):
    worker = make_worker(process=process)
    with qtbot.waitSignal(worker.stateChanged, timeout=LONG) as blocker:
        worker.toggle()
    assert blocker.args == [True]
    with qtbot.waitSignal(worker.stateChanged, timeout=LONG) as blocker:
        worker.toggle()
    assert blocker.args == [False] and not drain(worker).running


@BOTH
def test_no_stats_are_dropped(qtbot, make_worker, process):
    worker = make_worker(process=process)
    seen = play_until(qtbot, worker, 300)
    pause(qtbot, worker)
    seen.extend(drain(worker).stats)
    assert [s.iteration for s in seen] == list(range(1, len(seen) + 1))
    assert len(seen) >= 300


@BOTH
def test_drain_reports_throughput_while_running(qtbot, make_worker, process):
    worker = make_worker(process=process)
    worker.play()
    qtbot.waitUntil(lambda: drain(worker).iters_per_s > 0, timeout=LONG)
    update = drain(worker)
    assert update.running
    pause(qtbot, worker)
    assert drain(worker).iters_per_s == 0


@BOTH
def test_speed_limit_bounds_the_rate(qtbot, make_worker, process):
    worker = make_worker(process=process)
    limit = 5.0
    worker.set_speed_limit(limit)
    seen = play_until(qtbot, worker, 1)
    start, t0 = seen[-1].iteration, time.perf_counter()
    qtbot.wait(500)
    seen.extend(drain(worker).stats)
    elapsed = time.perf_counter() - t0
    # iterations start at least 1/limit apart; +1 for one already under way, +1 slack
    assert seen[-1].iteration - start <= elapsed * limit + 2
    pause(qtbot, worker)  # a limited worker sleeps on the queue, so commands still wake it
    worker.set_speed_limit(None)
    play_until(qtbot, worker, seen[-1].iteration + 10)
    with pytest.raises(ValueError):
        worker.set_speed_limit(-1)


@BOTH
def test_apply_config_mid_iteration_waits_for_the_boundary(qtbot, make_worker, process):
    worker = make_worker(process=process)
    command(qtbot, worker, worker.step_phase)  # zero_grad
    command(qtbot, worker, worker.step_phase)  # forward
    update = command(qtbot, worker, lambda: worker.apply_config(FAST.replace(lr=0.05)))
    assert update.snapshot.lr == pytest.approx(0.01) and not update.reset
    finishing = command(qtbot, worker, worker.step_iteration)
    assert [s.lr for s in finishing.stats] == [pytest.approx(0.01)]
    following = command(qtbot, worker, worker.step_iteration)
    assert [s.lr for s in following.stats] == [pytest.approx(0.05)]


@BOTH
def test_apply_config_that_restarts_reports_a_reset(qtbot, make_worker, process):
    worker = make_worker(process=process)
    command(qtbot, worker, worker.step_iteration)
    worker.apply_config(FAST.replace(seed=1))
    update = until(qtbot, worker, RunStarted, LONG)
    assert update.reset and update.iteration == 0 and update.config.seed == 1


@BOTH
def test_reset_pauses_and_starts_over(qtbot, make_worker, process):
    worker = make_worker(process=process)
    play_until(qtbot, worker, 3)
    worker.reset()
    update = until(qtbot, worker, RunStarted, LONG)
    assert update.reset and not update.running and update.stats == []
    assert update.snapshot.iteration == 0 and update.iteration == 0
    update = command(qtbot, worker, worker.step_iteration)
    assert [s.iteration for s in update.stats] == [1] and not update.reset


@BOTH
def test_probe_choices(qtbot, make_worker, process):
    worker = make_worker(process=process)

    def probe(which) -> int:
        return command(qtbot, worker, lambda: worker.set_probe(which)).snapshot.probe_index

    num_probes = ask(qtbot, worker, operator.attrgetter("num_probes"))
    assert probe(5) == 5
    assert probe("next") == 6
    assert probe("previous") == 5
    assert probe(0) == 0 and probe("previous") == num_probes - 1  # wraps around
    picks = [probe("random") for _ in range(6)]
    assert all(0 <= p < num_probes for p in picks) and len(set(picks)) > 1
    with pytest.raises(ValueError):
        worker.set_probe("sideways")


def test_exception_in_worker_is_reported_and_pauses(qtbot, make_worker, caplog):
    worker = make_worker()
    play_until(qtbot, worker, 2)
    states = record(worker.stateChanged)
    with caplog.at_level(logging.ERROR, logger="lenet_viz.app.worker"):
        with qtbot.waitSignal(worker.errorOccurred, timeout=LONG) as blocker:
            worker.call(lambda t: 1 / 0)
    message = blocker.args[0]
    assert states == [(False,)]
    assert "ZeroDivisionError" in message and "\n" not in message
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)  # full traceback logged
    update = drain(worker)
    assert not update.running and update.error == message
    done = update.iteration
    update = command(qtbot, worker, worker.step_iteration)  # still alive and listening
    assert [s.iteration for s in update.stats][-1] == done + 1


@BOTH
def test_construction_error_is_reported_and_the_thread_ends(qtbot, tmp_path, process):
    worker = TrainingWorker(config=TrainConfig(dataset="mnist", data_dir=str(tmp_path)), process=process)
    ready, errors = record(worker.ready), record(worker.errorOccurred)
    try:
        with qtbot.waitSignal(worker.finished, timeout=LONG):
            worker.start()
        [(message,)] = errors
        assert "MNIST files missing" in message and str(tmp_path) in message
        assert worker.wait(2000) and not worker.isRunning()
        assert ready == [] and drain(worker).error == message
    finally:
        assert worker.shutdown(2000)


@BOTH
def test_divergence_pauses_and_says_where(qtbot, make_worker, process):
    worker = make_worker(TrainConfig(dataset="random", batch_size=16, lr=10, loss="mse"), process=process)
    seen: list = []
    with qtbot.waitSignal(worker.diverged, timeout=LONG) as blocker:
        worker.play()
    iteration, loss = blocker.args
    assert not math.isfinite(loss)
    update = drain(worker)
    seen.extend(update.stats)
    assert not update.running and not worker.running
    assert seen[-1].iteration == iteration and seen[-1].diverged
    assert update.snapshot is not None and update.snapshot.iteration == iteration
    assert trainer_iteration(qtbot, worker) == iteration


def test_snapshot_ready_is_not_reemitted_until_drained(qtbot, make_worker):
    worker = make_worker(snapshot_interval=0, snapshot_budget=1.0)  # a snapshot after every iteration
    emitted: list[bool] = []
    worker.snapshotReady.connect(lambda: emitted.append(True))
    worker.play()
    qtbot.waitUntil(lambda: len(emitted) == 1, timeout=LONG)
    qtbot.waitUntil(lambda: worker.trainer.iteration >= 10, timeout=LONG)
    pause(qtbot, worker)

    def paused_snapshot_queued() -> bool:  # the snapshot the loop sends after pausing, not drained yet: else a
        with worker._lock:  # drain before it arrives leaves its signal emitted before waitSignal below listens
            events = [e for e in worker._events if e is not None]
        last = max((k for k, e in enumerate(events) if isinstance(e, RunningChanged)), default=None)
        return last is not None and any(isinstance(e, SnapshotTaken) for e in events[last + 1 :])

    qtbot.waitUntil(paused_snapshot_queued, timeout=LONG)
    assert len(emitted) == 1
    update = drain(worker)
    assert update.snapshot.iteration == len(update.stats)  # the latest snapshot won
    with qtbot.waitSignal(worker.snapshotReady, timeout=LONG):  # drained: armed again
        worker.request_snapshot()
    assert len(emitted) == 2


@pytest.mark.parametrize("state", ["running", "paused", "mid-phase", "speed-limited"])
@BOTH
def test_shutdown_from_any_state(qtbot, make_worker, state, process):
    worker = make_worker(process=process)
    if state == "running":
        play_until(qtbot, worker, 2)
    elif state == "mid-phase":
        command(qtbot, worker, worker.step_phase)
        worker.step_phase()  # and one still in the queue
    elif state == "speed-limited":
        worker.set_speed_limit(0.5)
        play_until(qtbot, worker, 1)
    t0 = time.perf_counter()
    assert worker.shutdown(1000)
    assert not worker.isRunning() and time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------ process mode only
def test_process_call_needs_a_picklable_function(qtbot, make_worker):
    worker = make_worker(process=True)
    with pytest.raises(Exception, match="pickle"):  # at once, in the caller: a programming error
        worker.call(lambda t: t.iteration)
    assert ask(qtbot, worker, jobs.iteration) == 0  # and the pipe is still in step


def test_process_job_error_is_reported_and_the_loop_goes_on(qtbot, make_worker):
    worker = make_worker(process=True)
    play_until(qtbot, worker, 2)
    with qtbot.waitSignal(worker.errorOccurred, timeout=LONG) as blocker:
        worker.call(operator.itemgetter("no such key"))  # raises TypeError in the training process
    message = blocker.args[0]
    assert message.startswith("Running a task failed: TypeError") and "\n" not in message
    update = drain(worker)
    assert not update.running and update.error == message
    done = update.iteration
    update = command(qtbot, worker, worker.step_iteration)
    assert [s.iteration for s in update.stats][-1] == done + 1


def test_process_that_dies_is_reported_not_hung(qtbot, make_worker):
    worker = make_worker(process=True)
    play_until(qtbot, worker, 2)
    with qtbot.waitSignal(worker.errorOccurred, timeout=LONG) as blocker:
        worker.transport._child.kill()  # as the kernel's OOM killer would
    assert "stopped unexpectedly" in blocker.args[0] and "-9" in blocker.args[0]
    qtbot.waitUntil(lambda: not worker.isRunning(), timeout=LONG)
    assert not worker.running and not drain(worker).running
    with qtbot.waitSignal(worker.errorOccurred, timeout=LONG) as blocker:
        worker.step_iteration()  # a command to a dead process says so instead of vanishing
    assert "has stopped" in blocker.args[0]


def test_process_shutdown_before_ready_does_not_wait_for_the_build(qtbot, caplog):
    worker = TrainingWorker(config=TrainConfig(dataset="random", batch_size=16), process=True)
    worker.start()
    qtbot.waitUntil(lambda: worker.transport._child is not None, timeout=LONG)
    t0 = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="lenet_viz"):
        assert worker.shutdown(5000)
        assert time.perf_counter() - t0 < 2.5  # terminated, not waited for torch's import and the data
        assert worker.transport._child.poll() is not None
        from lenet_viz.training.messages import ShowGraph

        worker.send(ShowGraph(False))  # the window hides its docks as it closes: nothing to say to the user
        events = worker.drain()
    # Closing a window while training is still starting is no failure: nothing alarming in the terminal
    # ("did not stop in time" when nobody waited) and no "has stopped, restart training" after the user quit.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert not [e for e in events if type(e).__name__ == "Failed"], events


def test_running_records_the_graph_norms_a_few_times_a_second_and_snapshots_say_whose(qtbot, make_worker):
    """The graph's norms cost ~1 ms an iteration: running, they are recorded at most 1/GRAPH_NORMS_GAP_S
    times a second; every snapshot in between carries the latest recorded graph, never a newer label."""
    from lenet_viz.training.loop import GRAPH_NORMS_GAP_S

    worker = make_worker(process=False)
    worker.play()
    start, snapshots = time.perf_counter(), []
    while time.perf_counter() - start < 1.5:
        qtbot.wait(15)
        if (snap := drain(worker).snapshot) is not None:
            snapshots.append(snap)
    pause(qtbot, worker)
    seconds = time.perf_counter() - start
    graphs = [(s.iteration, s.autograd_graph.norms_at) for s in snapshots if s.autograd_graph is not None]
    assert len(graphs) >= 10
    assert all(at is not None and at <= iteration for iteration, at in graphs[1:])
    recorded = {at for _, at in graphs}
    assert len(recorded) <= seconds / GRAPH_NORMS_GAP_S + 2 < len(graphs)
