"""Reading a recording: metrics, branches, events and keyframes; exact rewind and scrub previews.

`Recording.open(path)` is read-only and torch-free (the GUI process reads metrics and
branches from it); `trainer_at` and `observe` load torch on first use.  Every read runs
in its own read transaction, so a recording another process is still writing is followed
simply by reading again: new rows appear as the writer commits them (about twice a second).

Lines and branches: a branch is a parent branch plus the iteration it forked at.  The line
of a branch is its ancestors' iterations up to each fork, then its own.  The *main line*
is the line of the newest branch: where training went on after the last rewind or reset.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .recording_codec import Blob, CodecError, decode
from .recording_store import RecordingError, connect_readonly, identify
from .types import StepStats

if TYPE_CHECKING:
    from ..data import Dataset
    from .trainer import Trainer
    from .types import Snapshot

_END = 2**62  # "no upper bound" for an iteration range


@dataclass(frozen=True)
class RecordedBranch:
    """One branch of a recording, for a run tree: plain values, safe to hand to the GUI."""

    id: int
    parent: int | None  # None: a root (the first run, or a run after a reset)
    fork_iteration: int  # its own iterations start after this one
    last_iteration: int  # its last recorded iteration (== fork_iteration before the first)
    created: float  # time.time() when it was made
    label: str


@dataclass(frozen=True)
class Segment:
    """Iterations (after, upto] of `branch`: one piece of a line."""

    branch: int
    after: int
    upto: int


@dataclass(frozen=True)
class RecordedEvent:
    branch: int | None
    iteration: int | None
    time: float
    kind: str  # "settings", "reset", "branch", "divergence", "lab_bug", ...
    detail: Any


def _numeric(column: np.ndarray) -> np.ndarray:
    try:
        return column.astype(np.float64)
    except (TypeError, ValueError):
        return column


class Recording:
    """A run recorded by `Recorder`, opened read-only.  Use `Recording.open(path)`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, header: dict[str, str]) -> None:
        self.path, self._conn, self.header = path, conn, header
        self._replay: Any = None  # the torch side (datasets, scrub cache), made on first use

    @classmethod
    def open(cls, path: str | Path) -> "Recording":
        """Open a recording read-only; RecordingError naming the file if it is not one we can read."""
        path = Path(path).expanduser()
        header = identify(path)
        return cls(path, connect_readonly(path), header)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def threads(self) -> int:
        """torch CPU threads the run trained with: replays use the same (summation order)."""
        return int(self.header.get("threads", "1"))

    # ------------------------------------------------------------------ reading
    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One consistent read transaction; any SQLite failure becomes one line naming the file."""
        try:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise RecordingError(f"cannot read recording {self.path}: the file is damaged ({e})") from None
        except CodecError as e:
            raise RecordingError(f"cannot read recording {self.path}: {e}") from None

    def branches(self) -> list[RecordedBranch]:
        with self._reading() as db:
            last = dict(db.execute("SELECT branch, max(iteration) FROM metrics GROUP BY branch").fetchall())
            rows = db.execute("SELECT id, parent, fork_iteration, created, label FROM branches ORDER BY id").fetchall()
        return [RecordedBranch(b, p, f, max(f, last.get(b) or f), c, lab) for b, p, f, c, lab in rows]

    @property
    def main_branch(self) -> int:
        """The newest branch: its line is where the run went on."""
        with self._reading() as db:
            (newest,) = db.execute("SELECT max(id) FROM branches").fetchone()
        if newest is None:
            raise RecordingError(f"cannot read recording {self.path}: it has no runs in it")
        return int(newest)

    def line(self, branch: int | None = None) -> list[Segment]:
        """The pieces of the line that ends in `branch` (default: the main line), root first."""
        branch = self.main_branch if branch is None else branch
        with self._reading() as db:
            tree = {b: (p, f) for b, p, f in db.execute("SELECT id, parent, fork_iteration FROM branches")}
        if branch not in tree:
            raise RecordingError(f"recording {self.path} has no branch {branch}")
        segments, upto, b = [], _END, branch
        while b is not None and len(segments) <= len(tree):
            parent, fork = tree[b]
            segments.append(Segment(b, fork, upto))
            upto, b = fork, parent
        return segments[::-1]

    def _line_rows(self, sql: str, line: list[Segment], after: int = -1, upto: int = _END) -> tuple[list, list[str]]:
        """Rows of `sql` (with placeholders branch, lower, upper) over a line, and its column names."""
        rows: list = []
        names: list[str] = []
        with self._reading() as db:
            for s in line:
                cur = db.execute(sql, (s.branch, max(s.after, after), min(s.upto, upto)))
                rows += cur.fetchall()
                names = [d[0] for d in cur.description]
        return rows, names

    def metrics(self, branch: int | None = None, after: int = 0) -> dict[str, np.ndarray]:
        """Every recorded column of the line (float64, NaN where absent), iterations > `after`.

        Keys: "iteration", "loss", "accuracy", "grad_norms/conv1.weight", ... (StepStats,
        dicts flattened as field/key).  A follower passes the last iteration it has as `after`.
        """
        rows, names = self._line_rows(
            "SELECT * FROM metrics WHERE branch=? AND iteration>? AND iteration<=? ORDER BY iteration",
            self.line(branch), after)
        try:
            table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
        except (TypeError, ValueError):  # a column of text (a newer field): that one stays objects
            table = np.array(rows, dtype=object).reshape(len(rows), len(names))
            return {n: _numeric(table[:, i]) for i, n in enumerate(names) if n != "branch"}
        return {n: table[:, i].copy() for i, n in enumerate(names) if n != "branch"}

    def step_stats(self, branch: int | None = None, after: int = 0) -> list[StepStats]:
        """The line's recorded iterations after `after` as StepStats (the per-iteration scalars; flags, bugs
        and histograms are not rebuilt): what a window plots for a recording it opens or follows."""
        m = self.metrics(branch, after)
        if not m or not len(m.get("iteration", ())):
            return []

        def group(field: str) -> list[tuple[str, np.ndarray]]:
            return [(k.split("/", 1)[1], v) for k, v in m.items() if k.startswith(field + "/")]

        grads, weights, ratios, dead = group("grad_norms"), group("weight_norms"), group("update_ratios"), group("dead_relu")
        nan = np.full(len(m["iteration"]), np.nan)
        evals, diverged = m.get("eval_accuracy", nan), m.get("diverged", np.zeros_like(nan))
        return [
            StepStats(
                iteration=int(m["iteration"][i]), epoch=int(m["epoch"][i]), loss=float(m["loss"][i]),
                accuracy=float(m["accuracy"][i]), grad_norms={k: float(v[i]) for k, v in grads},
                weight_norms={k: float(v[i]) for k, v in weights}, update_ratios={k: float(v[i]) for k, v in ratios},
                lr=float(m["lr"][i]), samples_seen=int(m["samples_seen"][i]),
                eval_accuracy=None if not np.isfinite(evals[i]) else float(evals[i]), diverged=bool(diverged[i] == 1),
                dead_relu={k: float(v[i]) for k, v in dead if np.isfinite(v[i])},
            )
            for i in range(len(m["iteration"]))
        ]

    def losses(self, branch: int | None = None) -> np.ndarray:
        """The line's per-iteration losses: element i is iteration i+1 (NaN where none was recorded)."""
        rows, _ = self._line_rows(
            "SELECT iteration, loss FROM metrics WHERE branch=? AND iteration>? AND iteration<=?", self.line(branch))
        if not rows:
            return np.empty(0)
        a = np.array(rows, dtype=np.float64)
        out = np.full(int(a[:, 0].max()), np.nan)
        out[a[:, 0].astype(np.int64) - 1] = a[:, 1]
        return out

    def loss_at(self, k: int, branch: int | None = None) -> float:
        """The recorded loss of iteration k on the line (NaN if none)."""
        rows, _ = self._line_rows("SELECT loss FROM metrics WHERE branch=? AND iteration>? AND iteration<=?",
                                  self.line(branch), k - 1, k)
        return float("nan") if not rows or rows[-1][0] is None else float(rows[-1][0])

    def last_iteration(self, branch: int | None = None) -> int:
        """The line's last recorded iteration (its start, before any; 0 while a new recording has no run committed yet,
        as a follower may see it)."""
        if branch is None and not self.branches():
            return 0
        line = self.line(branch)
        rows, _ = self._line_rows("SELECT max(iteration) FROM metrics WHERE branch=? AND iteration>? AND iteration<=?", line)
        return max([line[0].after] + [r[0] for r in rows if r[0] is not None])

    def events(self) -> list[RecordedEvent]:
        with self._reading() as db:
            rows = db.execute("SELECT branch, iteration, time, kind, detail FROM events ORDER BY id").fetchall()
        return [RecordedEvent(b, i, t, k, json.loads(d)) for b, i, t, k, d in rows]

    def settings(self, branch: int | None = None, after: int = -1, upto: int = _END) -> list[tuple[int, dict]]:
        """(iteration, settings) changes on the line: the settings in effect from that iteration on."""
        rows, _ = self._line_rows("SELECT iteration, config FROM settings WHERE branch=? AND iteration>? AND iteration<=?"
                                  " ORDER BY iteration", self.line(branch), after, upto)
        return [(int(i), json.loads(c)) for i, c in rows]

    # ---------------------------------------------------------------- keyframes
    def keyframes(self, branch: int | None = None) -> list[tuple[int, int]]:
        """(branch, iteration) of every keyframe usable on the line, in iteration order."""
        rows, _ = self._line_rows("SELECT branch, iteration FROM keyframes WHERE branch=? AND iteration>=? AND iteration<=?"
                                  " ORDER BY iteration", self.line(branch))
        return sorted(rows, key=lambda r: r[1])

    def nearest_keyframe(self, iteration: int, branch: int | None = None, before: bool = False) -> tuple[int, int]:
        """The keyframe at or before `iteration` on the line (strictly before with `before`, if any is)."""
        usable = [kf for kf in self.keyframes(branch) if kf[1] <= iteration]
        if before and len(usable) > 1 and usable[-1][1] == iteration:
            usable.pop()
        if not usable:
            raise RecordingError(f"recording {self.path} cannot go to iteration {iteration}: it holds no state that early")
        return usable[-1]

    def keyframe(self, branch: int, iteration: int, as_tensor: Callable[[np.ndarray], Any] | None = None,
                 only: Callable[[list[Any]], bool] | None = None) -> dict[str, Any]:
        """The training state recorded at (branch, iteration), decoded (arrays as numpy unless `as_tensor`)."""
        with self._reading() as db:
            row = db.execute("SELECT structure FROM keyframes WHERE branch=? AND iteration=?", (branch, iteration)).fetchone()
            if row is None:
                raise RecordingError(f"recording {self.path} has no keyframe at iteration {iteration} of branch {branch}")

            def fetch(digest: str) -> Blob:
                found = db.execute("SELECT codec, data FROM blobs WHERE hash=?", (digest,)).fetchone()
                if found is None:
                    raise CodecError(f"an array of the keyframe at iteration {iteration} is missing")
                return Blob(found[0], bytes(found[1]))

            return decode(row[0], fetch, as_tensor, only)

    def conv1_history(self, branch: int | None = None) -> list[tuple[int, np.ndarray]]:
        """(iteration, conv1 weights (6, 1, 5, 5)) at every keyframe of the line: exact, and torch-free."""
        wanted = ["model", "conv1.weight"]
        frames = []
        for b, it in self.keyframes(branch):
            state = self.keyframe(b, it, only=lambda path: path == wanted)
            frames.append((it, np.asarray(state["model"]["conv1.weight"], dtype=np.float32)))
        return frames

    # ------------------------------------------------------------ time travel
    def trainer_at(self, k: int, branch: int | None = None, dataset: Dataset | None = None) -> Trainer:
        """A Trainer in exactly the state after iteration k of the line; `step()` continues the run.

        Restores the nearest keyframe at or before k and replays with the recorded settings and
        thread count (torch's thread count is left at the recorded one, so continuing is exact).
        `dataset` spares loading the data again (it must be the run's).  Its history is empty:
        the recording holds the metrics (`metrics()`).
        """
        return self._replayer().trainer_at(k, branch, dataset)

    def observe(self, k: int, branch: int | None = None, probe_index: int = 0, exact: bool = True,
                dataset: Dataset | None = None) -> Snapshot:
        """What the user saw after iteration k: weights, the probe's feature maps, grads, autograd.

        Never touches a live trainer, the global torch RNG or the thread count: it replays on a
        private scratch trainer, kept for the next call so scrubbing forward is incremental, and
        keeps every 4th replayed state in memory so scrubbing back is too.  `exact=False` returns
        the nearest state already known at or before k instead (a keyframe or a kept state; no
        replay: for the preview while a slider is dragged; its `iteration` says which).
        `dataset`: as for trainer_at.
        """
        return self._replayer().observe(k, branch, probe_index, exact, dataset)

    def _replayer(self) -> Any:
        if self._replay is None:
            from .recording_replay import Replayer  # torch: only where state is rebuilt

            self._replay = Replayer(self)
        return self._replay


__all__ = ["RecordedBranch", "RecordedEvent", "Recording", "RecordingError", "Segment"]
