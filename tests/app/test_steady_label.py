"""SteadyLabel: text changed every frame without re-laying out the window, and room when it needs more."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from lenet_viz.app.panels.steady_label import SteadyLabel


class LayoutRequests(QObject):
    """Counts the LayoutRequest events a widget receives (what makes Qt lay out its children again)."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, _watched, event) -> bool:  # noqa: ANN001, N802 - Qt's names
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


@pytest.fixture
def window(qtbot):
    w = QWidget()
    QVBoxLayout(w)
    qtbot.addWidget(w)
    w.resize(400, 200)
    return w


def place(window: QWidget, label: QLabel, qtbot) -> LayoutRequests:
    window.layout().addWidget(label.holder if isinstance(label, SteadyLabel) else label)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(20)
    return LayoutRequests(window)


@pytest.mark.parametrize(("kind", "lays_out"), [(SteadyLabel, False), (QLabel, True)])
def test_a_new_number_repaints_the_label_and_lays_nothing_out(qtbot, window, kind, lays_out) -> None:
    """A SteadyLabel's new number re-lays nothing; the same texts in a QLabel make its window lay out
    again every time (why SteadyLabel exists)."""
    label = kind("iteration 1,000 of 1,000")
    requests = place(window, label, qtbot)
    for k in range(1001, 1021):
        label.setText(f"iteration {k:,} of {k:,}")
        qtbot.wait(1)
    assert label.text() == "iteration 1,020 of 1,020"
    assert requests.count >= 10 if lays_out else requests.count == 0


def test_a_longer_text_gets_its_room_and_a_shorter_one_keeps_it(qtbot, window) -> None:
    label = SteadyLabel("loss 2.3")
    label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    place(window, label, qtbot)
    label.setText("loss 2.302585092994046 (not yet trained)")
    qtbot.waitUntil(lambda: label.width() >= label.sizeHint().width(), timeout=1000)
    wide = label.width()
    label.setText("loss 0.1")
    qtbot.wait(20)
    assert label.width() == wide  # no jitter: the readout keeps the width it had


def test_a_wrapped_label_gets_another_line_when_the_text_needs_it(qtbot, window) -> None:
    label = SteadyLabel("short")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    window.resize(200, 300)
    place(window, label, qtbot)
    window.layout().addStretch(1)  # the label gets the height it asks for, no more
    qtbot.wait(20)
    one_line = label.height()
    assert one_line < 2 * label.fontMetrics().height()
    label.setText("a much longer line that cannot fit in two hundred pixels of width, so it wraps")
    qtbot.waitUntil(lambda: label.height() > one_line, timeout=1000)
    assert label.height() >= label.heightForWidth(label.width())


def test_hiding_the_label_hides_its_room(qtbot, window) -> None:
    label = SteadyLabel("x")
    place(window, label, qtbot)
    label.hide()
    assert not label.holder.isVisible()
    label.show()
    assert label.holder.isVisible() and label.isVisible()
