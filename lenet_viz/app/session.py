"""What the user sees, as one Qt-free object: the run and its history, the phase story, the status
line, the banner, notices, the probe and the selected filter.

The window feeds it the worker's events (`apply`) and reads back what to draw.  Every text the
user reads is derived from the state at the moment it is asked for (`story()`, `banner()`,
`status_line()`), never patched by the handler of one event, so the screen cannot keep saying
something an earlier event made true.  A test can build a Session, feed it events and read
exactly what the screen would say, without a display.

Events of a run that was replaced (reset, a restarting config, a checkpoint opened) are
dropped: each event carries its run id, and the session keeps the newest it has seen.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..training import MetricHistory, Phase, RunInfo, Snapshot, TrainConfig
from ..training.distributions import DistributionHistory
from ..training.messages import (
    CallDone, CellExplained, CheckpointSaved, ConfusionReady, Diverged, Event, Failed, GalleryReady, MetricsExported,
    PhaseRan, Ready, RecordingState, RunningChanged, RunStarted, ScrubView, SnapshotTaken, Stats, UpdateCompared,
)

#: Seconds of history behind the it/s and samples/s figures.
RATE_WINDOW_S = 2.0
#: How long a notice ("Saved …", "Opened …", why this dataset) stays in the status bar.
NOTICE_S = 10.0
#: A training process that leaves a command unanswered this long is reported in the banner.
SILENT_S = 5.0

#: What each phase did, in the tutorial's words: shown after the phase runs.
PHASE_STORY = {
    Phase.ZERO_GRAD: "optimizer.zero_grad(): every .grad is None again — conv1.bias.grad prints None",
    Phase.FORWARD: "out = net(input): a batch flowed through conv1 → pool → conv2 → pool → fc1 → fc2 → fc3",
    Phase.LOSS: "loss = criterion(out, target): one number, with loss.grad_fn leading back through the net",
    Phase.BACKWARD: "loss.backward(): every parameter now has a .grad (see the filter inspector's gradient view)",
    Phase.UPDATE: "weights moved: p ← p − lr·grad (torch.optim, or the tutorial's p.data.sub_(p.grad.data * lr))",
}
#: Commands whose failure a later success of either clears from the banner (a file problem the user fixed).
FILE_COMMANDS = ("SaveCheckpoint", "OpenCheckpoint")
KEYS = "Press P to run one phase, N for a whole iteration, Space to train."


class RateMeter:
    """Iterations and samples per second over a sliding window (not since start: the user wants to
    see a speed limit or a lighter config take effect within a couple of seconds)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, int, int]] = deque()  # (time, iteration, samples_seen)

    def add(self, now: float, iteration: int, samples_seen: int) -> None:
        points = self._points
        points.append((now, iteration, samples_seen))
        while now - points[0][0] > self.window_s:
            points.popleft()

    def clear(self) -> None:
        self._points.clear()

    def rates(self) -> tuple[float, float]:
        """(iterations/s, samples/s); zeros until two points span some time."""
        if len(self._points) < 2:
            return 0.0, 0.0
        (t0, i0, s0), (t1, i1, s1) = self._points[0], self._points[-1]
        if t1 <= t0:
            return 0.0, 0.0
        return (i1 - i0) / (t1 - t0), (s1 - s0) / (t1 - t0)


#: The settings a user changes within a run (Apply): a marker on the plots says which, and to what.
HYPERPARAMETERS = ("lr", "momentum", "batch_size", "optimizer", "loss", "update")


def settings_change(old: TrainConfig, new: TrainConfig) -> str:
    """"lr 0.01 → 0.1, batch_size 64 → 8", or "" when no hyperparameter changed."""
    parts = []
    for name in HYPERPARAMETERS:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            parts.append(f"{name} {_plain(a)} → {_plain(b)}")
    return ("settings changed: " + ", ".join(parts)) if parts else ""


def _plain(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(getattr(v, "value", v))


@dataclass(frozen=True)
class DivergedAt:
    iteration: int
    loss: float


class Session:
    """The state behind the screen.  `apply()` returns which aspects changed, so the window redraws only those:
    "reset" (a new run: clear the plots), "history", "snapshot", "config" (show it in the form),
    "running", "text" (story, banner, status or notice: show now).  A new iteration or snapshot alone is
    "history" / "snapshot": the texts follow at the window's pace (STATUS_HZ while running)."""

    def __init__(self) -> None:
        self.run = 0
        self.history = MetricHistory()
        self.snapshot: Snapshot | None = None
        self.config: TrainConfig | None = None
        self.info: RunInfo | None = None
        self.built = False  # a trainer exists (its history and network can be kept)
        self.running = False
        self.iteration = 0
        self.epoch = 0
        self.next_phase = Phase.ZERO_GRAD
        self.phase_done: Phase | None = None  # the phase the newest snapshot shows just ran
        self.opened_from: str | None = None  # the checkpoint this run was opened from, until it moves on
        self.error: str | None = None
        self.error_from = ""  # the command whose failure `error` is ("SaveCheckpoint"), if one
        self.process_lost = False
        self.last_saved: tuple[str, int] | None = None  # (path, iteration) last saved or opened: where a restart goes on
        self.diverged: DivergedAt | None = None
        self.silent_s = 0.0
        self.warning: str | None = None  # something the user did in the window that could not be done
        self.selected_filter: int | None = None
        self.confusion: tuple | None = None  # (matrix, iteration) of the newest held-out pass
        self.gallery = None  # the examples of the confusion cell asked for last
        self.scrubbed: Snapshot | None = None  # the past on screen (from the recording) instead of the live run
        self.scrub_target: int | None = None
        self.recording: str | None = None  # where this run is recorded
        self.recording_problem: str | None = None
        self.branch = 0  # the recording's branch the live run is written to (0: not recorded)
        self.viewing: str | None = None  # a recording opened to look at (and followed while it grows)
        self.problem: str | None = None  # see report()
        self.fallback: str | None = None  # the data folder the user named held no MNIST: said until dismissed
        self._fallback_checked = False
        self.markers: list[tuple[int, str]] = []  # (iteration, what happened there): drawn on the plots
        self.speed_limit: float | None = None  # iterations/s the window asked for (shown: it may come from the last session)
        self.rate = RateMeter()
        self._notices: deque[tuple[str, float]] = deque(maxlen=4)
        self._pending: set[str] = set()
        self.last_stats = None  # the newest iteration's StepStats (health flags, dead ReLUs)
        self.distributions = DistributionHistory()  # histograms over time, as sampled by the engine
        self.explained: CellExplained | None = None  # the formula behind one conv1 gradient cell
        self.compared: UpdateCompared | None = None  # manual update beside optimizer.step()
        self._after_start: list[str] = []

    # ------------------------------------------------------------------ events in
    def apply(self, events: list[Event], now: float) -> set[str]:
        changed, self._pending = self._pending, set()  # what restart() changed, for the next redraw
        for event in events:
            if event.run < self.run:
                continue  # a replaced run's leftovers
            self.run = event.run
            handler = getattr(self, f"_on_{type(event).__name__}", None)
            if handler is not None:
                handler(event, now, changed)
        return changed

    def _on_Ready(self, e: Ready, now: float, changed: set[str]) -> None:
        self.built = True
        first = self.info is None
        self.info = e.info
        if first:
            self.notify(e.info.reason, now)
            for text in self._after_start:  # after the dataset's reason, so the newest notice is theirs
                self.notify(text, now)
            self._after_start.clear()
            changed.add("config")
            self._check_fallback()
        changed.add("text")

    def _check_fallback(self) -> None:
        """A data folder the user named held no MNIST, so auto fell back: say it in the banner, once both the
        run's data (Ready) and its settings (the first snapshot, which may come after Ready) are known."""
        info, config = self.info, self.config
        if self._fallback_checked or info is None or config is None:
            return
        self._fallback_checked = True
        if config.data_dir and config.dataset == "auto" and info.dataset != "mnist":
            self.fallback = (f"⚠ {info.reason}. You named that folder (--data-dir): check its spelling, or "
                             "download MNIST there (lenet-viz --download-mnist).")

    def _on_Stats(self, e: Stats, now: float, changed: set[str]) -> None:
        s = e.stats
        self.history.append(s)
        if s.eval_accuracy is not None:
            self.history.add_eval(s.iteration, s.eval_accuracy)
        self.iteration, self.epoch, self.next_phase = s.iteration, s.epoch, Phase.ZERO_GRAD
        self.rate.add(now, s.iteration, s.samples_seen)
        self.last_stats = s
        if getattr(s, "histograms", None) is not None:
            self.distributions.append(s.histograms)
        self.opened_from = None
        changed.add("history")  # the status line follows at STATUS_HZ while running (the window's clock)
        if s.diverged:
            self.diverged = DivergedAt(s.iteration, s.loss)
            changed.add("text")  # the banner says it at once

    def _on_SnapshotTaken(self, e: SnapshotTaken, now: float, changed: set[str]) -> None:
        self._show(e.snapshot, e.config, changed)

    def _show(self, snap: Snapshot, config: TrainConfig, changed: set[str]) -> None:
        if self.config is not None and (what := settings_change(self.config, config)):
            self._mark(snap.iteration, what, changed)
        self.snapshot, self.config = snap, config
        self.iteration, self.epoch, self.next_phase, self.phase_done = snap.iteration, snap.epoch, snap.next_phase, snap.last_phase
        fallback = self.fallback
        self._check_fallback()
        changed.add("snapshot")
        if self.fallback is not fallback:
            changed.add("text")  # a banner to show at once

    def _on_PhaseRan(self, e: PhaseRan, now: float, changed: set[str]) -> None:
        self.phase_done, self.next_phase = e.phase, e.phase.next()
        self.opened_from = None
        changed.add("text")

    def _on_RunStarted(self, e: RunStarted, now: float, changed: set[str]) -> None:
        self.built = True
        if e.cause == "branch":  # the abandoned line stays on screen, faintly (drawn from the recording)
            self.notify(f"Continuing from iteration {e.snapshot.iteration:,} as a new branch; the old line is a ghost", now)
        self.scrubbed = self.scrub_target = None
        self.branch = e.branch or self.branch
        self.history = e.history if e.history is not None else MetricHistory()
        self.rate.clear()
        self.info, self.diverged, self.error, self.process_lost = e.info, None, None, False
        self.confusion = self.gallery = self.explained = self.compared = None  # they described weights that are gone
        self.last_stats = None
        self.distributions.clear()
        self.opened_from = e.path
        self.markers = []
        self.config = None  # a new run: its settings are not a change within it
        self._show(e.snapshot, e.config, changed)
        self.viewing = e.path if e.cause == "recording" else None
        self._mark(e.snapshot.iteration, {"reset": "reset: weights re-initialized from the seed",
                                          "config": f"restarted with new settings (seed {e.config.seed})",
                                          "opened": f"opened {e.path}", "recording": f"opened {e.path}",
                                          "branch": "continued from here as a new branch"}.get(e.cause, e.cause), changed)
        if e.cause == "opened":
            self.last_saved = (str(e.path), e.snapshot.iteration)
        if e.cause in ("opened", "recording"):
            self.notify(f"Opened {e.path}: iteration {e.snapshot.iteration:,}", now)
            changed.add("config")
        elif e.cause == "config":  # Apply never restarts a run without saying so
            self.notify(f"New settings restarted training at iteration 0 (seed {e.config.seed}, {e.info.describe()})", now)
        changed.update(("reset", "history", "running", "confusion"))

    def _on_CheckpointSaved(self, e: CheckpointSaved, now: float, changed: set[str]) -> None:
        self.notify(f"Saved iteration {e.iteration:,} to {e.path}", now)
        self.last_saved = (e.path, e.iteration)
        if self.error is not None and self.error_from in FILE_COMMANDS:
            self.error = None  # the file problem is solved: an old "cannot save" would now mislead
        changed.add("text")

    def _on_RunningChanged(self, e: RunningChanged, now: float, changed: set[str]) -> None:
        self.running = e.running
        self.rate.clear()
        if e.running:
            self.opened_from = None
        changed.update(("running", "text"))

    def _on_Failed(self, e: Failed, now: float, changed: set[str]) -> None:
        if self.process_lost:
            pass  # the first words (with the exit code) stay: every later command fails the same way
        elif "training process stopped unexpectedly" in e.message:
            self.process_lost, self.running, self.error = True, False, e.message
        elif self.error is None or self.built:  # a startup error keeps its own words after a key press
            self.error, self.error_from = e.message, e.command
        changed.update(("text", "running"))

    def _on_Diverged(self, e: Diverged, now: float, changed: set[str]) -> None:
        self.diverged = DivergedAt(e.iteration, e.loss)
        self._mark(e.iteration, f"diverged: the loss became {e.loss:.4g}; the update was skipped", changed)
        changed.add("text")

    def _on_MetricsExported(self, e: MetricsExported, now: float, changed: set[str]) -> None:
        span = f" (iterations {e.first_iteration:,}–{e.first_iteration + e.rows - 1:,})" if e.rows and e.first_iteration else ""
        self.notify(f"Exported {e.rows:,} iterations{span} to {e.path}", now)
        changed.add("text")

    def _on_CallDone(self, e: CallDone, now: float, changed: set[str]) -> None:
        pass  # its future carries the result

    def _on_ScrubView(self, e: ScrubView, now: float, changed: set[str]) -> None:
        if self.scrub_target is not None:  # not if the user went back to the live run meanwhile
            self.scrubbed = e.snapshot
            changed.update(("snapshot", "text"))

    def _on_RecordingState(self, e: RecordingState, now: float, changed: set[str]) -> None:
        self.recording, self.recording_problem, self.branch = e.path, e.problem, e.branch
        if e.problem:
            self.notify(f"⚠ {e.problem}", now)
        changed.add("text")

    def _on_CellExplained(self, e: CellExplained, now: float, changed: set[str]) -> None:
        self.explained = e
        changed.add("explained")

    def _on_UpdateCompared(self, e: UpdateCompared, now: float, changed: set[str]) -> None:
        self.compared = e
        changed.add("compared")

    def _on_ConfusionReady(self, e: ConfusionReady, now: float, changed: set[str]) -> None:
        self.confusion = (e.matrix, e.iteration)
        changed.add("confusion")

    def _on_GalleryReady(self, e: GalleryReady, now: float, changed: set[str]) -> None:
        self.gallery = e.gallery
        changed.add("gallery")

    def _mark(self, iteration: int, what: str, changed: set[str]) -> None:
        self.markers.append((iteration, what))
        changed.add("markers")

    # ------------------------------------------------------------------ user acts
    def notify(self, text: str, now: float) -> None:
        """A short-lived notice in the status bar ("Saved …")."""
        if text:
            self._notices.append((text, now + NOTICE_S))
            self._pending.add("text")

    def notify_after_start(self, text: str, now: float) -> None:
        """A notice from the launch itself (settings ignored): shown once the trainer is built,
        so the dataset's notice does not cover it at once."""
        if self.info is None:
            self._after_start.append(text)
        else:
            self.notify(text, now)

    @property
    def view(self) -> Snapshot | None:
        """The snapshot the panels show: the scrubbed past, or the live run."""
        return self.scrubbed if self.scrubbed is not None else self.snapshot

    def scrub_to(self, iteration: int | None) -> set[str]:
        """The user moved the timeline (None: back to the live run)."""
        self.scrub_target = iteration
        if iteration is None and self.scrubbed is not None:
            self.scrubbed = None
            self._pending |= {"snapshot", "text"}
        self._pending.add("text")
        return set(self._pending)

    def warn(self, text: str) -> None:
        """Something the user asked of the window failed (an unreadable image, ...): one line in the banner."""
        self.warning = text

    def report(self, message: str) -> None:
        """A problem of the window's own (an export that could not be written, a failed download): the
        banner says it, and only it: training goes on as it was."""
        self.problem = message

    def dismiss_banner(self) -> None:
        self.error = None
        self.diverged = None
        self.warning = None
        self.fallback = None
        self.problem = None
        self._fallback_checked = True  # dismissed: not said again

    def restart(self, now: float) -> None:
        """A fresh training process replaces the lost one: its events start again at run 1, and the
        curves go (the new run starts at iteration 0, or brings the saved history with it)."""
        self.run, self.history, self.snapshot, self.info = 0, MetricHistory(), None, None
        self.built = self.running = self.process_lost = False
        self.error, self.error_from, self.diverged, self.silent_s, self.opened_from = None, "", None, 0.0, None
        self.iteration, self.epoch, self.next_phase, self.phase_done = 0, 0, Phase.ZERO_GRAD, None
        self.rate.clear()
        self.notify(f"Restarted training from {self._restart_point()}", now)
        self._pending = {"reset", "history", "running", "text"}

    def _restart_point(self) -> str:
        if self.last_saved is None:
            return "the seed at iteration 0 (nothing was saved or opened in this session)"
        path, iteration = self.last_saved
        return f"{path} (iteration {iteration:,}, saved or opened in this session)"

    def set_speed_limit(self, limit: float | None) -> None:
        self.speed_limit = limit or None

    def select_filter(self, index: int | None) -> None:
        self.selected_filter = index

    def set_silence(self, seconds: float) -> set[str]:
        """How long the training process has not answered; the banner says so past SILENT_S."""
        was, self.silent_s = self.silent_s >= SILENT_S, seconds
        return {"text"} if (seconds >= SILENT_S) != was or seconds >= SILENT_S else set()

    # ------------------------------------------------------------------ what the screen says
    def notice(self, now: float) -> str:
        while self._notices and self._notices[0][1] <= now:
            self._notices.popleft()
        return self._notices[-1][0] if self._notices else ""

    def story(self) -> str:
        if self.running:
            return "Training: all five phases run every iteration. Space pauses."
        if self.snapshot is None:
            return "Loading the data and building LeNet…" if self.error is None else "Nothing to train yet."
        done, it = self.phase_done, self.iteration
        if self.scrubbed is not None:
            return (f"Looking back at iteration {self.scrubbed.iteration:,} (from the recording); training is at "
                    f"{it:,}. Continue from here trains on from it as a new branch; Live returns.")
        if self.opened_from is not None:
            return f"Paused at iteration {it:,}, as saved in {self.opened_from}. {KEYS}"
        if done is None:
            return f"Paused at iteration {it:,}: the untrained network. {KEYS}" if it == 0 else f"Paused at iteration {it:,}. {KEYS}"
        what = PHASE_STORY[done]
        snap = self.snapshot
        if done is Phase.LOSS and snap.last_phase is Phase.LOSS and snap.loss is not None:
            what = f"{what} — this batch: loss = {snap.loss:.4g}"
        if done is Phase.UPDATE and self.diverged is not None and self.diverged.iteration == it:
            what = "skipped: the loss or a gradient was NaN/Inf, so the weights were left as they were"
        return f"Just ran {done.label} — {what}.   Next: {self.next_phase.label}"

    def banner(self) -> str | None:
        if self.process_lost:
            return (f"⚠ {self.error} — the network was in that process and is gone; the curves and the last picture "
                    f"stay until you restart. Restart training starts again from {self._restart_point()}.")
        if self.silent_s >= SILENT_S:
            return f"⚠ The training process has not answered for {self.silent_s:.0f} s (stopped or stuck?). Commands wait until it does."
        if self.error is not None:
            if not self.built:
                return f"⚠ {self.error} — no network was built. Fix this and start lenet-viz again."
            return f"⚠ {self.error} — training is paused; the network and its history are kept."
        if self.problem is not None:
            return f"⚠ {self.problem}"
        if self.diverged is not None:
            return self._diverged_text(self.diverged)
        if self.warning is not None:
            return f"⚠ {self.warning}"
        return self.fallback

    def _diverged_text(self, d: DivergedAt) -> str:
        snap = self.snapshot  # the diverged iteration's: its lr, not whatever is typed in the form
        lr = snap.lr if snap is not None else None
        hint = f"lower the learning rate (e.g. to {lr / 10:g})" if lr else "lower the learning rate"
        size = f" (largest ‖w‖ {max(r.weight_norm for r in snap.params):.2g})" if snap is not None else ""
        return (
            f"⚠ Training diverged at iteration {d.iteration}: the loss became {d.loss:.4g}. The update was skipped, "
            f"so the weights are still finite{size}. Paused — {hint} in Settings and press Apply, then press R "
            "to restart from the seed: weights that have already blown up diverge again even at a lower rate."
        )

    def status_line(self, fps: float) -> str:
        ips, sps = self.rate.rates() if self.running else (0.0, 0.0)
        dataset = self.info.describe() if self.info is not None else ""
        limit = f" (limit {self.speed_limit:g})" if self.speed_limit else ""
        return (
            f"{'RUNNING' if self.running else 'paused'}   iteration {self.iteration:,}   epoch {self.epoch}   "
            f"next: {self.next_phase.label}   {ips:,.0f} it/s{limit}   {sps:,.0f} samples/s   display {fps:.0f} fps   {dataset}"
        )

