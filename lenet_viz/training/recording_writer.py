"""The recording's writer thread: the only user of the SQLite connection (see recorder.py for why)."""

from __future__ import annotations

import queue
import sqlite3
import time
from typing import Any

from .recording_codec import encode
from .recording_store import quote, wal_limits



class Writer:
    """The writer thread: the only user of the connection; batches everything into ~0.5 s transactions."""

    def __init__(self, recorder: Any, conn: sqlite3.Connection, commit_every: float,
                 rows_every: float) -> None:  # a Recorder, not imported (a cycle)
        self.rec, self.commit_every, self.rows_every = recorder, commit_every, rows_every
        self.conn: Any = conn
        self.columns = {row[1] for row in conn.execute("PRAGMA table_info(metrics)")}
        # The file thins above this, keeping twice the log's limit for the log and the keyframe before a thinning.
        self.live_limit = recorder.budget - 2 * wal_limits(recorder.budget)[0]
        self.stored: set[str] = set()  # blob hashes in the file
        self.seen: dict = {}  # the last keyframe's large arrays (encode's `seen`): the data order is the same object
        self.rows: dict[tuple[str, ...], list[tuple]] = {}
        self.in_tx = False
        self.last_commit = time.monotonic()

    def run(self) -> None:
        q = self.rec._queue
        while True:
            timeout = self.rows_every
            if self.in_tx or self.rows:
                timeout = min(timeout, max(0.0, self.last_commit + self.commit_every - time.monotonic()))
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:  # time to collect the rows appended meanwhile
                rows = self.rec.take_rows()
                item = ("rows", rows) if rows else None
            kind = None if item is None else item[0]
            if self.rec.stopped:  # from now on nothing is written; queued items are dropped
                self._abandon()
            else:
                try:
                    self._handle(kind, item)
                except Exception as e:  # noqa: BLE001 - disk full, file gone...: stop recording, not training
                    self._fail(e)
            self.rec.writer_cpu_s = time.thread_time()  # this thread's CPU time so far
            if kind == "flush":
                item[1].set()  # committed, or nothing more ever will be
            elif kind == "close":
                return

    def _handle(self, kind: str | None, item: tuple | None) -> None:
        if kind == "rows":
            for branch, row in item[1]:
                self.rows.setdefault(tuple(row), []).append((branch, *row.values()))
        elif kind is not None:
            self._write_rows()  # in order: a branch's rows after the branch, a keyframe after its rows
            if kind in ("flush", "close"):
                self._commit()
                if kind == "close":
                    self._finish()
                return
            getattr(self, f"_do_{kind}")(*item[1:])
        if time.monotonic() - self.last_commit >= self.commit_every:
            self._commit()

    def _begin(self) -> None:
        if not self.in_tx:
            self.conn.execute("BEGIN")
            self.in_tx = True

    def _commit(self) -> None:
        self._write_rows()
        if self.in_tx:
            if self.rec._fault_hook is not None:
                self.rec._fault_hook()
            self.conn.execute("COMMIT")
            self.in_tx = False
        self.last_commit = time.monotonic()

    def _write_rows(self) -> None:
        for names, rows in self.rows.items():
            self._begin()
            for name in names:
                if name not in self.columns:
                    self.conn.execute(f"ALTER TABLE metrics ADD COLUMN {quote(name)}")
                    self.columns.add(name)
            cols = ", ".join(map(quote, ("branch", *names)))
            self.conn.executemany(f"INSERT OR REPLACE INTO metrics ({cols}) VALUES ({', '.join('?' * (len(names) + 1))})", rows)
        self.rows.clear()

    def _do_branch(self, branch: int, parent: int | None, fork: int, created: float, label: str) -> None:
        self._begin()
        self.conn.execute("INSERT INTO branches VALUES (?, ?, ?, ?, ?)", (branch, parent, fork, created, label))

    def _do_settings(self, branch: int, iteration: int, settings: str) -> None:
        self._begin()
        self.conn.execute("INSERT OR REPLACE INTO settings VALUES (?, ?, ?)", (branch, iteration, settings))

    def _do_event(self, branch: int, iteration: int, when: float, kind: str, detail: str) -> None:
        self._begin()
        self.conn.execute("INSERT INTO events (branch, iteration, time, kind, detail) VALUES (?, ?, ?, ?, ?)",
                          (branch, iteration, when, kind, detail))

    def _do_keyframe(self, branch: int, iteration: int, state: dict, capture_s: float) -> None:
        start = time.thread_time()
        enc = encode(state, known=self.stored.__contains__, seen=self.seen)
        self._begin()
        db = self.conn
        db.execute("DELETE FROM keyframe_blobs WHERE branch=? AND iteration=?", (branch, iteration))
        db.execute("INSERT OR REPLACE INTO keyframes VALUES (?, ?, ?, ?)", (branch, iteration, time.time(), enc.text))
        db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", [(h, b.codec, b.data) for h, b in enc.blobs.items()])
        db.executemany("INSERT INTO keyframe_blobs VALUES (?, ?, ?)", [(branch, iteration, h) for h in enc.refs])
        self.stored |= enc.blobs.keys()
        self._thin_if_over_budget()
        self.rec.add_keyframe_cost(capture_s + time.thread_time() - start)

    def _live_bytes(self) -> int:
        (pages,), (free,), (size,) = (self.conn.execute(f"PRAGMA {p}").fetchone()
                                      for p in ("page_count", "freelist_count", "page_size"))
        return (pages - free) * size

    def _thin_if_over_budget(self) -> None:
        """Over budget: double the interval and keep each branch's first keyframe and those spaced by it."""
        db = self.conn
        while self._live_bytes() > self.live_limit:
            self.rec.interval *= 2
            doomed, kept = [], {}
            for branch, it in db.execute("SELECT branch, iteration FROM keyframes ORDER BY branch, iteration").fetchall():
                if branch in kept and it - kept[branch] < self.rec.interval:
                    doomed.append((branch, it))
                else:
                    kept[branch] = it
            if not doomed:  # the metrics alone fill the budget: keyframes just grow rarer
                break
            db.executemany("DELETE FROM keyframes WHERE branch=? AND iteration=?", doomed)
            db.executemany("DELETE FROM keyframe_blobs WHERE branch=? AND iteration=?", doomed)
            db.execute("DELETE FROM blobs WHERE hash NOT IN (SELECT hash FROM keyframe_blobs)")
            # What is left, only when something went: a long run's file holds thousands of blobs.
            self.stored = {h for (h,) in db.execute("SELECT hash FROM blobs")}

    def _finish(self) -> None:
        """Closing: give freed pages back, fold the WAL in, and make the file a single self-contained one."""
        db = self.conn
        try:
            db.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page per step
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA busy_timeout=0")
            db.execute("PRAGMA journal_mode=DELETE")  # fails while a follower has it open: it stays WAL, still fine
        except sqlite3.Error:
            pass
        db.close()
        self.conn = None

    def _fail(self, exc: BaseException) -> None:
        self.rec._stop(exc)
        self._abandon()

    def _abandon(self) -> None:
        """Drop what was not committed (the file keeps its last commit) and let go of the file."""
        if self.conn is None:
            return
        try:
            if self.in_tx:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self.in_tx = False
        self.rows.clear()
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        self.conn = None
