"""A slider over a recording: drag to preview any iteration, release for the exact state, continue from it.

Dragging emits `scrubbed` on every move (cheap previews: the nearest known state); releasing,
or moving by keyboard or by a click on the groove, emits `chosen` (the exact state after that
iteration).  While the handle sits at the end it follows the run as it grows, like a video
player at "live"; dragging it back pauses the following until it is dragged to the end again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QWidget

from .steady_label import SteadyLabel


class TimelinePanel(QWidget):
    """Iteration slider with a readout, "Continue from here" and "Live"."""

    scrubbed = Signal(int)  # dragging: preview this iteration
    chosen = Signal(int)  # settled on this iteration: show it exactly
    continue_requested = Signal(int)  # rewind the run to this iteration and train on from it
    live_requested = Signal()  # back to the running end

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Drag through the run: every iteration is recorded and can be shown exactly")
        self.readout = SteadyLabel("no recording")
        self.readout.setMinimumWidth(self.readout.fontMetrics().horizontalAdvance("iteration 000,000 of 000,000"))
        self.continue_button = QPushButton("Continue from here")
        self.continue_button.setToolTip("Rewind training to this iteration; with changed settings it becomes a new branch")
        self.live_button = QPushButton("Live")
        self.live_button.setToolTip("Back to the end of the run, following it as it trains")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for widget in (self.slider, self.readout.holder, self.continue_button, self.live_button):
            layout.addWidget(widget)
        layout.setStretch(0, 1)
        self.slider.sliderMoved.connect(self._dragged)
        self.slider.sliderReleased.connect(lambda: self.chosen.emit(self.slider.value()))
        self.slider.valueChanged.connect(self._moved)
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.slider.value()))
        self.live_button.clicked.connect(self._live)
        self._refresh()

    @property
    def iteration(self) -> int:
        return self.slider.value()

    @property
    def following(self) -> bool:
        """The handle is at the end: it moves on as the run grows."""
        return self.slider.value() == self.slider.maximum()

    def show(self, last_iteration: int | None = None) -> None:  # type: ignore[override]
        """The run now has `last_iteration` iterations.  No argument: QWidget.show()."""
        if last_iteration is None:
            super().show()
            return
        follow = self.following
        self._quietly(lambda: self.slider.setMaximum(max(0, last_iteration)))
        if follow:
            self._quietly(lambda: self.slider.setValue(self.slider.maximum()))
        self._refresh()

    def set_iteration(self, iteration: int) -> None:
        """Move the handle (another view chose an iteration) without emitting anything."""
        self._quietly(lambda: self.slider.setValue(iteration))
        self._refresh()

    # ----------------------------------------------------------------- helpers
    def _quietly(self, change) -> None:  # noqa: ANN001 - a no-argument callable
        blocked = self.slider.blockSignals(True)
        try:
            change()
        finally:
            self.slider.blockSignals(blocked)

    def _dragged(self, value: int) -> None:
        self._refresh(value)
        self.scrubbed.emit(value)

    def _moved(self, value: int) -> None:
        self._refresh()
        if not self.slider.isSliderDown():  # keys, a click on the groove: settled at once
            self.chosen.emit(value)

    def _live(self) -> None:
        self._quietly(lambda: self.slider.setValue(self.slider.maximum()))
        self._refresh()
        self.live_requested.emit()

    def _refresh(self, value: int | None = None) -> None:
        value = self.slider.value() if value is None else value
        last = self.slider.maximum()
        self.readout.setText(f"iteration {value:,} of {last:,}" + ("  (live)" if value == last else ""))
        self.continue_button.setEnabled(value < last)
        self.live_button.setEnabled(value < last)
