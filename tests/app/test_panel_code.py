"""CodePanel shows the loop's source for the settings, the next line amber and the last one green."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from lenet_viz.app.panels.code_panel import BUG_BACKGROUND, CODE_PT, LAST_BACKGROUND, NEXT_BACKGROUND, CodePanel
from lenet_viz.training.code_text import training_code, training_code_for
from lenet_viz.training.config import TrainConfig
from lenet_viz.training.types import Phase


@pytest.fixture
def panel(make_panel) -> CodePanel:
    return make_panel(CodePanel, (800, 520))


def marked(panel: CodePanel) -> dict[int, QColor]:
    """Line number -> background of its extra selection (the last one wins, as on screen)."""
    return {s.cursor.blockNumber() + 1: s.format.background().color() for s in panel.editor.extraSelections()}


def test_the_line_that_runs_next_and_the_one_that_just_ran(panel):
    code = training_code()
    panel.show(code, Phase.BACKWARD, Phase.LOSS)
    assert panel.editor.toPlainText() == code.source
    (nxt,), (last,) = code.lines[Phase.BACKWARD], code.lines[Phase.LOSS]
    assert panel.line_text(nxt).strip() == "loss.backward()"
    assert marked(panel) == {nxt: NEXT_BACKGROUND, last: LAST_BACKGROUND}
    assert panel.caption.text() == "next (backward()): loss.backward()   ·   just ran: loss = criterion(output, target)"
    assert panel.editor.textCursor().blockNumber() + 1 == nxt  # scrolled to it


def test_stepping_moves_the_highlight_without_resetting_the_text(panel):
    code = training_code(update="manual")
    panel.show(code, Phase.ZERO_GRAD, None)
    revision = panel.editor.document().revision()
    panel.show(code, Phase.UPDATE, Phase.BACKWARD)
    assert panel.editor.document().revision() == revision
    assert [panel.line_text(n).strip() for n, c in marked(panel).items() if c == NEXT_BACKGROUND] == [
        "for f in net.parameters():",
        "f.data.sub_(f.grad.data * learning_rate)",
    ]


def test_a_lab_bug_is_marked_red_and_a_new_setting_replaces_the_text(panel):
    panel.show(training_code(), Phase.ZERO_GRAD, Phase.UPDATE)
    code = training_code(bugs={"skip_zero_grad"})
    panel.show(code, Phase.FORWARD, Phase.ZERO_GRAD)
    assert panel.editor.toPlainText() == code.source
    comment, line = code.bug_lines["skip_zero_grad"]
    colours = marked(panel)
    assert colours[comment] == BUG_BACKGROUND
    assert colours[line] == LAST_BACKGROUND  # the commented-out zero_grad "ran": nothing happened
    assert panel.line_text(line).strip().startswith("# optimizer.zero_grad()")


def test_syntax_colours(panel):
    code = training_code(bugs={"double_softmax"})
    panel.show(code, Phase.LOSS, None)
    loop = next(n for n in range(1, 30) if panel.line_text(n).startswith("for "))
    formats = panel.editor.document().findBlockByNumber(loop - 1).layout().formats()
    keyword = panel.highlighter.formats["keyword"].foreground().color()
    assert any(f.start == 0 and f.length == 3 and f.format.foreground().color() == keyword for f in formats)
    bug_line = code.bug_lines["double_softmax"][0]
    bug_formats = panel.editor.document().findBlockByNumber(bug_line - 1).layout().formats()
    assert bug_formats[-1].format.foreground().color() == panel.highlighter.formats["bug"].foreground().color()
    assert panel.editor.isReadOnly()


def test_projector_size_type_survives_the_apps_11pt_stylesheet(qtbot, styled_parent):
    panel = CodePanel(styled_parent)
    styled_parent.show()
    qtbot.waitExposed(styled_parent)
    panel.editor.ensurePolished()
    assert panel.editor.font().pointSize() == CODE_PT
    assert panel.editor.font().fixedPitch() or "mono" in panel.editor.font().family().lower()


def test_the_type_shrinks_until_the_longest_line_fits_a_narrow_dock(qtbot, styled_parent):
    """A 1280x800 screen's right column is ~320 px: at 15pt the loop was cut after ~25 characters.
    The type takes the largest size (down to MIN_CODE_PT) at which the longest line fits."""
    from PySide6.QtGui import QFontMetricsF

    from lenet_viz.app.panels.code_panel import MIN_CODE_PT

    panel = CodePanel(styled_parent)
    styled_parent.show()
    code = training_code_for(TrainConfig())
    longest = max(code.source.splitlines(), key=len)
    for width, expect in ((1200, "whole"), (560, "fits"), (470, "fits"), (320, "smallest")):  # 470: a 1920-px screen
        panel.resize(width, 360)
        panel.show(code, Phase.ZERO_GRAD, None)
        qtbot.wait(20)
        font = panel.editor.font()
        fits = QFontMetricsF(font).horizontalAdvance(longest) <= panel.editor.viewport().width()
        assert panel.caption.font().pointSizeF() == max(MIN_CODE_PT, font.pointSizeF() - 2)  # the caption follows
        if expect == "whole":
            assert font.pointSizeF() == CODE_PT and fits
        elif expect == "fits":
            assert MIN_CODE_PT <= font.pointSizeF() < CODE_PT and fits
            assert panel.editor.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways
        else:
            assert font.pointSizeF() == MIN_CODE_PT
