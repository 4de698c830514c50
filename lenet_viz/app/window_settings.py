"""What the main window remembers between launches: its geometry, its docks, the filter inspector's
mode and the speed limit, in the window's QSettings.

A hand-edited or foreign settings file never stops a launch: whatever cannot be read is named in
one notice, the defaults are used, and the file is rewritten on quit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

FILTER_MODES = ("weights", "gradient", "last update")


def restore_geometry(window: Any) -> bool:
    """The window's saved size and place (a staged window's frame gets them before it is first shown); a
    first launch gets the default size.  False where a saved geometry could not be read."""
    bad: list[str] = []
    if not _restore_bytes(window.settings, "geometry", window.restoreGeometry, bad):
        # first launch: 1600 × 960, or the whole screen where that is smaller (a 1280 × 800 projector)
        screen = QApplication.primaryScreen()
        room = screen.availableGeometry() if screen is not None else None
        window.resize(min(1600, room.width()) if room else 1600, min(960, room.height()) if room else 960)
    return not bad


def restore_settings(window: Any) -> None:
    """Give `window` (a MainWindow) what its settings hold; a first launch gets the default size and layout.
    The geometry again, though a staged window's frame had it: adding the docks may have grown the window."""
    s = window.settings
    bad = [] if restore_geometry(window) else ["geometry"]
    if not _restore_bytes(s, "windowState", window.restoreState, bad):
        window.default_layout()
    mode = s.value("filterMode")
    if isinstance(mode, str) and mode in FILTER_MODES:
        window.filter_panel.set_mode(mode)
    elif mode is not None:
        bad.append("filterMode")
    speed = s.value("speedLimit")
    if speed is not None:
        try:
            value = float(speed)
        except (TypeError, ValueError):
            value = math.nan
        if math.isfinite(value):
            window.form.speed.setValue(value)
        else:
            bad.append("speedLimit")
    if bad:
        log.warning("ignored unreadable settings %s in %s", bad, s.fileName())
        window.session.notify_after_start(f"Ignored unreadable settings ({', '.join(bad)}) in {s.fileName()}: "
                                          "defaults used, rewritten on quit", time.perf_counter())


def save_settings(window: Any) -> None:
    s = window.settings
    s.setValue("geometry", window.saveGeometry())
    s.setValue("windowState", window.saveState())
    s.setValue("filterMode", window.filter_panel.mode)
    s.setValue("speedLimit", window.form.speed.value())
    s.sync()


def _restore_bytes(settings: Any, key: str, restore: Callable[[QByteArray], bool], bad: list[str]) -> bool:
    """Restore a saved Qt state; False (and `key` in `bad` when something was there) if it cannot be read."""
    value = settings.value(key)
    if value is None:
        return False
    try:
        if isinstance(value, (QByteArray, bytes)) and restore(value):
            return True
    except (TypeError, ValueError):
        pass
    bad.append(key)
    return False
