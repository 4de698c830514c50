"""The recording file: one SQLite database (stdlib sqlite3, WAL journal), recognised before it is touched.

Why SQLite: one file that a crash cannot corrupt (a transaction is committed or it is not),
that a second process can read while the first writes (WAL: readers never block the writer),
and that any SQLite tool can inspect.  Why the checks below: a path a user gives us may hold
anything; we read the 100-byte file header ourselves (SQLite's magic, our application_id,
our format version) before SQLite opens it, so a foreign or newer file is refused with one
line naming it and is never written to.

Tables (format version 2; version 1 named blobs by BLAKE2b and zipped integer arrays, see recording_codec):
  header(key, value)                        format, version, threads, device, dataset, versions
  branches(id, parent, fork_iteration, ...) a branch = parent branch + the iteration it forked at
  metrics(branch, iteration, <stat columns>) one row per iteration; a column per StepStats value,
                                            added when first seen ("grad_norms/conv1.weight", ...)
  settings(branch, iteration, config)       the settings in effect from that iteration on
  events(id, branch, iteration, time, kind, detail)
  keyframes(branch, iteration, created, structure)   complete training state, JSON + blob hashes
  keyframe_blobs(branch, iteration, hash)   which blobs a keyframe uses (deleting one frees them)
  blobs(hash, codec, data)                  raw array bytes, each stored once
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..data.errors import DataError
from ..data.files import missing_file

FORMAT = "lenet-viz-recording"
VERSION = 2
APPLICATION_ID = 0x4C6E567A  # "LnVz" in SQLite's application_id header field: `file` can tell it too
SQLITE_MAGIC = b"SQLite format 3\x00"
PAGE_SIZE = 8192  # a metrics row (~300 bytes) stays small against a page, so WITHOUT ROWID suits it


def wal_limits(budget: int) -> tuple[int, int]:
    """(bytes, pages): the write-ahead log beside a recording of `budget` bytes counts against the budget
    too, so it is cut back to an eighth of it (4 MB at most) whenever it is folded into the file, which
    happens every half that many bytes of pages; the file thins with twice that kept free (the writer's
    `live_limit`).  Without a limit the log kept its high-water mark (143 MB beside
    a 256 MB file in the soak).  Deleted pages are not zeroed (secure_delete=FAST): this SQLite builds with
    secure deletes on, and zeroing every page of the keyframes a thinning drops wrote ~15 MB to the log."""
    limit = min(4 * 2**20, budget // 8)
    return limit, max(16, limit // PAGE_SIZE // 2)


SCHEMA = (
    "CREATE TABLE header (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE branches (id INTEGER PRIMARY KEY, parent INTEGER, fork_iteration INTEGER NOT NULL,"
    " created REAL NOT NULL, label TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE metrics (branch INTEGER NOT NULL, iteration INTEGER NOT NULL, PRIMARY KEY (branch, iteration))"
    " WITHOUT ROWID",
    "CREATE TABLE settings (branch INTEGER NOT NULL, iteration INTEGER NOT NULL, config TEXT NOT NULL,"
    " PRIMARY KEY (branch, iteration)) WITHOUT ROWID",
    "CREATE TABLE events (id INTEGER PRIMARY KEY, branch INTEGER, iteration INTEGER, time REAL NOT NULL,"
    " kind TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE TABLE keyframes (branch INTEGER NOT NULL, iteration INTEGER NOT NULL, created REAL NOT NULL,"
    " structure TEXT NOT NULL, PRIMARY KEY (branch, iteration))",
    "CREATE TABLE keyframe_blobs (branch INTEGER NOT NULL, iteration INTEGER NOT NULL, hash TEXT NOT NULL,"
    " PRIMARY KEY (branch, iteration, hash)) WITHOUT ROWID",
    "CREATE INDEX keyframe_blobs_hash ON keyframe_blobs (hash)",
    "CREATE TABLE blobs (hash TEXT PRIMARY KEY, codec TEXT NOT NULL, data BLOB NOT NULL)",
)


class RecordingError(DataError):
    """A recording cannot be opened, written or replayed; the message names the file and says why.

    A DataError (the user's file, worded for the user), so every place that shows data errors
    as they are (the training worker, the CLI) shows this one as it is too.
    """


def quote(name: str) -> str:
    """An SQL identifier for a metric column name such as 'grad_norms/conv1.weight'."""
    return '"' + name.replace('"', '""') + '"'


def sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _file_header(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(100)


def identify(path: Path, verb: str = "open") -> dict[str, str]:
    """Check that `path` is a recording this version reads, without changing it; return its header.

    Raises RecordingError("cannot open recording PATH: why") for a missing, empty, foreign,
    newer, truncated or damaged file.
    """

    def bad(why: str) -> RecordingError:
        return RecordingError(f"cannot {verb} recording {path}: {why}")

    if (problem := missing_file(path)) is not None:
        raise bad(problem)
    try:
        size = path.stat().st_size
        head = _file_header(path)
    except OSError as e:
        raise bad(e.strerror or str(e)) from None
    if size == 0:
        raise bad("the file is empty")
    _check_header_bytes(head, bad)
    wal = sidecars(path)[0]
    if not (wal.exists() and wal.stat().st_size > 0):  # with a live WAL, pages may be there, not here
        valid = head[92:96] == head[24:28]  # SQLite's "in-header database size is valid" rule
        pages, page_size = int.from_bytes(head[28:32], "big"), int.from_bytes(head[16:18], "big")
        expected = pages * (65536 if page_size == 1 else page_size)
        if valid and pages and size < expected:
            raise bad(f"the file is truncated ({size:,} of {expected:,} bytes)")
    conn = connect_readonly(path)
    try:
        rows = conn.execute("SELECT key, value FROM header").fetchall()
    except sqlite3.DatabaseError as e:
        raise bad(f"the file is damaged ({e})") from None
    finally:
        conn.close()
    header = {str(k): str(v) for k, v in rows}
    if header.get("format") != FORMAT:
        raise bad("it is an SQLite database, but not a lenet-viz recording")
    _check_version(header.get("version"), bad)
    return header


def _check_header_bytes(head: bytes, bad) -> None:  # noqa: ANN001 - bad: str -> RecordingError
    if not head.startswith(SQLITE_MAGIC):
        raise bad("it is not a lenet-viz recording (not an SQLite database)")
    if len(head) < 100:
        raise bad("the file is truncated (shorter than an SQLite header)")
    if int.from_bytes(head[68:72], "big") != APPLICATION_ID:
        raise bad("it is an SQLite database, but not a lenet-viz recording")
    _check_version(str(int.from_bytes(head[60:64], "big")), bad)


def _check_version(version: str | None, bad) -> None:  # noqa: ANN001
    try:
        number = int(version or "")
    except ValueError:
        raise bad(f"its format version {version!r} is damaged") from None
    if number > VERSION:
        raise bad(f"it was written by a newer lenet-viz (format version {number}; this one reads up to {VERSION}); "
                  "upgrade lenet-viz to open it")
    if number < 1:
        raise bad(f"its format version {number} is damaged")


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Read-only: nothing we do through it can change the file.  Autocommit, so each read sees new rows."""
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10)


def check_writable(path: Path) -> None:
    """Refuse, before anything is written, a path we must not (or cannot) record to.

    A free path, or an earlier recording of ours (replaced), is fine; anything else is left alone.
    """

    def bad(why: str) -> RecordingError:
        return RecordingError(f"cannot record to {path}: {why}")

    if path.is_dir():
        raise bad("it is a folder")
    if not path.absolute().parent.is_dir():
        raise bad("its folder does not exist")
    if not path.exists():
        return
    try:
        head = _file_header(path)
    except OSError as e:
        raise bad(e.strerror or str(e)) from None
    if not head.startswith(SQLITE_MAGIC) or len(head) < 100 or int.from_bytes(head[68:72], "big") != APPLICATION_ID:
        raise bad("the file exists and is not a lenet-viz recording; it was left untouched")
    if int.from_bytes(head[60:64], "big") > VERSION:
        raise bad("it is a recording from a newer lenet-viz; it was left untouched")


def create(path: Path, header: dict[str, str], budget: int) -> sqlite3.Connection:
    """A new, empty recording at `path` (an earlier recording there is replaced), to be kept within `budget`
    bytes (see wal_limits).  Call check_writable first."""
    wal_bytes, wal_pages = wal_limits(budget)
    for p in (path, *sidecars(path)):
        p.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    try:
        for pragma in (f"page_size={PAGE_SIZE}", "auto_vacuum=INCREMENTAL", f"application_id={APPLICATION_ID}",
                       f"user_version={VERSION}", "journal_mode=WAL", "synchronous=NORMAL",
                       f"wal_autocheckpoint={wal_pages}", f"journal_size_limit={wal_bytes}", "secure_delete=FAST"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        for statement in SCHEMA:
            conn.execute(statement)
        conn.executemany("INSERT INTO header VALUES (?, ?)",
                         [("format", FORMAT), ("version", str(VERSION)), *header.items()])
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = ["FORMAT", "VERSION", "RecordingError", "check_writable", "connect_readonly", "create", "identify", "quote"]
