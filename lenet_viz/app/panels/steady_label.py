"""A label whose text changes every frame without re-laying out the whole window.

`QLabel.setText` calls `updateGeometry()`, and Qt passes that up every layout to the main window
(each `QLayout.activate()` ends in its widget's `updateGeometry()`): the readouts, the status line,
the timeline and the probe lines did it on every frame, and the window's dock layout then cost about
4 ms a frame, with ~20 dock animations made and deleted (measured offscreen at 30 fps, the app bench).

A `SteadyLabel` sits in a `holder` without a layout, so the label's own geometry requests stop
there; the holder asks its layout for room again only when the text needs more than it has (a
wider single line, or another wrapped line).  Put `label.holder` in a layout, not the label.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QSize
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


_DIGITS = re.compile(r"[0-9]")


class SteadyLabel(QLabel):
    """A QLabel for text shown anew every frame.  Single-line: its width only grows (digits that
    come and go do not make the line jitter).  Word-wrapped: the height follows the wrapped lines.

    A new text that differs from the last only in its digits is not measured again (a rich-text
    size hint costs ~0.2 ms): UI fonts draw the ten digits equally wide."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        self.holder = _Holder(parent)  # first: Qt may ask for the holder while the label is built
        super().__init__(text, self.holder)
        self.holder.label = self
        self.holder.refit()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text == self.text():
            return
        same_shape = len(text) == len(self.text()) and _DIGITS.sub("0", text) == _DIGITS.sub("0", self.text())
        super().setText(text)
        if not same_shape:
            self.holder.refit()

    def setWordWrap(self, on: bool) -> None:  # noqa: N802 - Qt's name
        super().setWordWrap(on)
        self.holder.refit()

    def setSizePolicy(self, *policy) -> None:  # noqa: N802 - Qt's name
        super().setSizePolicy(*policy)
        self.holder.setSizePolicy(self.sizePolicy())

    def setMinimumWidth(self, width: int) -> None:  # noqa: N802 - Qt's name
        super().setMinimumWidth(width)
        self.holder.refit()

    def setVisible(self, visible: bool) -> None:  # noqa: N802 - Qt's name
        super().setVisible(visible)
        self.holder.setVisible(visible)


class _Holder(QWidget):
    """No layout: the label fills it, and only `refit` tells the layout above that the size changed."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.label: SteadyLabel | None = None
        self._hint = QSize(0, 0)
        self._wrapped_height = -1

    def refit(self) -> None:
        label = self.label
        if label is None:
            return
        self.setSizePolicy(label.sizePolicy())
        hint = label.sizeHint().expandedTo(label.minimumSize())
        hint = QSize(max(hint.width(), self._hint.width()), hint.height())
        grew, self._hint = hint != self._hint, hint
        if label.wordWrap():  # the layout asks heightForWidth: another wrapped line needs room
            lines = label.heightForWidth(self.width())
            grew, self._wrapped_height = grew or lines != self._wrapped_height, lines
        if grew:
            self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(self._hint)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        if self.label is None:
            return QSize(0, 0)
        if self.label.wordWrap() or self.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored:
            return self.label.minimumSizeHint()
        return QSize(self._hint)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return self.label is not None and self.label.wordWrap()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return self.label.heightForWidth(width) if self.label is not None else -1

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        if self.label is not None:
            self.label.setGeometry(self.rect())
            if self.label.wordWrap():
                self._wrapped_height = self.label.heightForWidth(event.size().width())
        super().resizeEvent(event)
