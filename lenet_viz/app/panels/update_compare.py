"""The tutorial's hand-written update beside optimizer.step(): the same step, to the last bit or nearly.

`show(Trainer.compare_manual_update())`: one row per parameter with the size of each update
and the largest difference between them, which is 0 or float rounding (~1e-9).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...training.types import UpdateComparison

HINT = "Run BACKWARD, then compare: the same gradients, updated by hand and by optim.SGD(momentum=0)"
COLUMNS = ("parameter", "‖update‖\nby hand", "‖update‖\nstep()", "max\n|diff|")  # two short lines: ~285 px in all at 9pt
COLUMN_TIPS = (
    "Parameter name, as model.named_parameters() gives it",
    "L2 norm of the update f.data.sub_(f.grad.data * lr) makes (after - before)",
    "L2 norm of the update optim.SGD(net.parameters(), lr, momentum=0).step() makes",
    "The largest |difference| between the two updates, element by element: 0, or float32 rounding",
)
#: Four significant digits, as the parameter table's norms: equal updates read equal, and a 1280-px
#: screen's ~320-px column holds the four columns without scrolling sideways.
DIGITS = ".4g"


def caption(cmp: UpdateComparison) -> str:
    worst = max(cmp.max_abs_diff.values(), default=0.0)
    verdict = "identical, bit for bit" if worst == 0 else f"equal up to float32 rounding (at most {worst:.1e})"
    return (
        f"for f in net.parameters(): f.data.sub_(f.grad.data * {cmp.lr:g})\n"
        f"optim.SGD(net.parameters(), lr={cmp.lr:g}).step()\n→ {verdict}"
    )


class UpdateComparePanel(QWidget):
    """A caption with both update lines and the verdict, over a table of per-parameter sizes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(HINT)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("font-family: monospace;")  # it quotes code
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("compareTable")  # style.qss: 9pt, tight headers
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)

    def show(self, comparison: UpdateComparison | None | object = ...) -> None:  # type: ignore[override]
        """Fill the table from `comparison`; None: the hint.  No argument: QWidget.show()."""
        if comparison is ...:
            super().show()
            return
        if comparison is None:
            self.table.setRowCount(0)
            self.caption.setText(HINT)
            return
        cmp: UpdateComparison = comparison  # type: ignore[assignment]
        self.table.setRowCount(len(cmp.manual))
        for row, name in enumerate(cmp.manual):
            values = (
                name,
                f"{float(np.linalg.norm(cmp.manual[name])):{DIGITS}}",
                f"{float(np.linalg.norm(cmp.optim[name])):{DIGITS}}",
                f"{cmp.max_abs_diff[name]:.1e}" if cmp.max_abs_diff[name] else "0",
            )
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.caption.setText(caption(cmp))
        # Every row on screen (the dock scrolls instead): a scroll bar of its own took ~14 px of the width.
        table = self.table
        table.setMinimumHeight(table.verticalHeader().length() + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth())
