"""The training loop as Python source, with the line that runs next lit up in lockstep with Step phase.

The text comes from `training.code_text` (torch-free), so it always matches the settings:
optim or the hand-written update, MSE or cross-entropy, and a lab bug shown as the code that
causes it.  Large monospace type and strong line colours: it is read from the back of a room.
"""

from __future__ import annotations

import keyword
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetricsF, QSyntaxHighlighter, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from ...training.code_text import CodeText
from ...training.types import Phase
from .common import first_that_fits

CODE_PT = 15  # the largest: in a wide dock the loop reads from the back of a room
MIN_CODE_PT = 9  # narrower docks shrink the type down to this so the longest line fits; below, it scrolls
CODE_SIZES = tuple(CODE_PT - k / 2 for k in range(int(2 * (CODE_PT - MIN_CODE_PT)) + 1))  # 15, 14.5 ... 9
NEXT_BACKGROUND = QColor("#6b5412")  # amber: the line(s) the next Step phase runs
LAST_BACKGROUND = QColor("#1f4a2c")  # green: what just ran
BUG_BACKGROUND = QColor("#4d1f24")  # red: a lab bug's lines
HINT = "the line that runs next is amber; the one that just ran is green"

_STYLES = {  # token kind -> (colour, bold, italic); bright on the dark palette
    "keyword": ("#c792ea", True, False),
    "builtin": ("#82aaff", False, False),
    "call": ("#ffcb6b", False, False),
    "number": ("#f78c6c", False, False),
    "string": ("#c3e88d", False, False),
    "comment": ("#8a93a3", False, True),
    "bug": ("#ff8a80", True, True),
}
_RULES = [
    ("call", re.compile(r"\b[A-Za-z_]\w*(?=\()")),
    ("builtin", re.compile(r"\b(?:self|len|range|print|super|True|False|None)\b")),
    ("keyword", re.compile(r"\b(?:" + "|".join(keyword.kwlist) + r")\b")),
    ("number", re.compile(r"\b\d+(?:\.\d*)?(?:e-?\d+)?\b")),
    ("string", re.compile(r"\"[^\"]*\"|'[^']*'")),
    ("bug", re.compile(r"#\s*lab bug.*$")),
    ("comment", re.compile(r"#(?!\s*lab bug).*$")),
]


def _format(colour: str, bold: bool, italic: bool) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class PythonHighlighter(QSyntaxHighlighter):
    """Enough Python for the loop: keywords, calls, numbers, strings, comments, and lab-bug comments."""

    def __init__(self, document) -> None:  # noqa: ANN001 - a QTextDocument
        super().__init__(document)
        self.formats = {kind: _format(*style) for kind, style in _STYLES.items()}

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt's name
        for kind, pattern in _RULES:  # later rules win: a comment repaints what it covers
            for m in pattern.finditer(text):
                self.setFormat(m.start(), m.end() - m.start(), self.formats[kind])


class CodePanel(QWidget):
    """`show(code, next_phase, last_phase)`: the loop's source with the running lines marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(HINT)
        self.caption.setWordWrap(True)
        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSize(CODE_PT)
        self.editor.setFont(mono)
        self.code_pt = 0.0
        self._set_code_pt(CODE_PT)
        self.highlighter = PythonHighlighter(self.editor.document())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.editor, 1)
        self.code: CodeText | None = None
        self.next_lines: tuple[int, ...] = ()
        self.last_lines: tuple[int, ...] = ()

    def show(self, code: CodeText | object = ..., next_phase: Phase | None = None, last_phase: Phase | None = None) -> None:  # type: ignore[override]
        """Show `code` with `next_phase`'s lines amber and `last_phase`'s green.  No argument: QWidget.show()."""
        if code is ...:
            super().show()
            return
        assert isinstance(code, CodeText)
        new_text = self.code is None or code.source != self.code.source
        self.code = code
        if new_text:
            self.editor.setPlainText(code.source)
            self._fit_code()  # a lab bug's comment may make the longest line longer
        self.next_lines = code.lines.get(next_phase, ()) if next_phase else ()
        self.last_lines = code.lines.get(last_phase, ()) if last_phase else ()
        selections = [self._line(n, BUG_BACKGROUND) for lines in code.bug_lines.values() for n in lines]
        selections += [self._line(n, LAST_BACKGROUND) for n in self.last_lines]
        selections += [self._line(n, NEXT_BACKGROUND) for n in self.next_lines]  # last added wins
        self.editor.setExtraSelections(selections)
        if self.next_lines:
            self._scroll_to(self.next_lines[0])
        self.caption.setText(_caption(code, next_phase, last_phase))

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        super().resizeEvent(event)
        self._fit_code()

    def _fit_code(self) -> None:
        """The largest type from CODE_PT down to MIN_CODE_PT at which the longest line fits the editor's
        width: at 15pt a 1280-px screen's ~320-px column showed the loop cut after ~25 characters."""
        if self.code is None:
            return
        longest = max(self.code.source.splitlines(), key=len, default="")
        room = (self.editor.contentsRect().width() - self.editor.verticalScrollBar().sizeHint().width()
                - 2 * self.editor.document().documentMargin() - 4)
        font = QFont(self.editor.font())

        def fits(pt: float) -> bool:  # measured at each size: hinting makes widths not scale evenly
            font.setPointSizeF(pt)
            return QFontMetricsF(font).horizontalAdvance(longest) <= room

        pt = first_that_fits(CODE_SIZES, fits)
        if pt != self.code_pt:
            self._set_code_pt(pt)
            if self.next_lines:
                self._scroll_to(self.next_lines[0])

    def _set_code_pt(self, pt: float) -> None:
        """The code at `pt`, the caption above it two points smaller (not under 9pt): a widget's own sheet
        beats the app's 11pt."""
        self.code_pt = pt
        self.editor.setStyleSheet(f"font-size: {pt:g}pt;")
        self.caption.setStyleSheet(f"font-size: {max(MIN_CODE_PT, pt - 2):g}pt;")

    def line_text(self, number: int) -> str:
        """Line `number` (1-based) as shown."""
        return self.editor.document().findBlockByNumber(number - 1).text()

    def _line(self, number: int, colour: QColor) -> QTextEdit.ExtraSelection:
        sel = QTextEdit.ExtraSelection()
        sel.format.setBackground(colour)
        sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        sel.cursor = QTextCursor(self.editor.document().findBlockByNumber(number - 1))
        return sel

    def _scroll_to(self, number: int) -> None:
        cursor = QTextCursor(self.editor.document().findBlockByNumber(number - 1))
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()


def _caption(code: CodeText, next_phase: Phase | None, last_phase: Phase | None) -> str:
    rows = code.source.splitlines()
    parts = []
    if next_phase is not None and code.lines.get(next_phase):
        parts.append(f"next ({next_phase.label}): {rows[code.lines[next_phase][0] - 1].strip()}")
    if last_phase is not None and code.lines.get(last_phase):
        parts.append(f"just ran: {rows[code.lines[last_phase][0] - 1].strip()}")
    return "   ·   ".join(parts) or HINT
