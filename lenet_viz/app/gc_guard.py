"""Collect Python's cyclic garbage in the GUI thread only, while a training thread runs; and keep
full collections short once the window is up (`freeze_launch`).

CPython's cyclic collector runs in whichever thread happens to cross its allocation threshold,
and the training thread allocates the most.  If that collection frees a Qt object (a closed
window's widgets, a pyqtgraph item in a reference cycle), its C++ destructor runs in the training
thread: it takes Qt's object lock, then waits for the GIL to ask Python about overrides, while the
GUI thread holds the GIL and waits for that lock — a deadlock (seen here: tests/app/test_abuse.py
froze this way).  pyqtgraph's `GarbageCollector` is the known remedy; this is it with reference
counting (several workers may overlap) and the collector's previous state restored at the end.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QTimer

INTERVAL_MS = 100
#: A full (generation 2) collection walks every object (~300k with torch and Qt loaded: ~0.1-0.3 s),
#: so it runs at most this often, like CPython's own rule that makes full collections rare.
FULL_EVERY_S = 60.0

_holders = 0
_timer: QTimer | None = None
_was_enabled = True
_last_full = 0.0


def hold() -> None:
    """From the GUI thread, before starting a thread that runs Python; pair with `release()`."""
    global _holders, _timer, _was_enabled, _last_full
    _holders += 1
    if _holders == 1:
        _was_enabled = gc.isenabled()
        gc.disable()
        _last_full = time.monotonic()
        _timer = QTimer()
        _timer.timeout.connect(collect)
        _timer.start(INTERVAL_MS)


def release() -> None:
    """From the GUI thread, once that thread has ended."""
    global _holders, _timer
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0:
        assert _timer is not None
        _timer.stop()
        _timer = None
        if _was_enabled:
            gc.enable()


def collect() -> None:
    """What the automatic collector would do now (thresholds as gc.get_threshold()), here."""
    global _last_full
    (l0, l1, l2), (t0, t1, t2) = gc.get_count(), gc.get_threshold()
    if l2 > t2 and time.monotonic() - _last_full > FULL_EVERY_S:
        gc.collect(2)
        _last_full = time.monotonic()
    elif l1 > t1:
        gc.collect(1)
    elif l0 > t0:
        gc.collect(0)


def freeze_launch() -> None:
    """Exempt every object alive now from later collections (`gc.freeze`).  For the app's process, once its
    window has drawn its first snapshot: the modules, widgets, plot items and Qt wrappers made at launch
    (~230k objects) live as long as the window, and walking them made each full collection (at most once a
    minute, see FULL_EVERY_S) stall the window ~0.11 s; afterwards it walks only what came since (~0.1 ms).
    A frozen object that later becomes cyclic garbage is never reclaimed, so this is done once, at a moment
    when a full collection finds nothing (measured: 0 unreachable objects at the first snapshot), and not
    collected first (that would stall the first frames by the same 0.11 s)."""
    gc.freeze()
