"""The runs of a recording as a tree: each branch under the run it forked from, with a show/hide box.

A branch is a parent plus the iteration it forked at (see training/recording.py).  The user
ticks which lines the plots overlay (the current one, its ghosts); ticks survive updates, and
a new branch arrives ticked.  Branches are read by attribute (id, parent, fork_iteration,
last_iteration, label), so `Recording.branches()` can be passed as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

COLUMNS = ("run", "from", "iterations")
#: What an empty tree says, by why it is empty (`set_recording`).
NOT_RECORDING = ("This run is not recorded (the app was started with --no-record, or recording stopped): "
                 "there are no earlier runs or branches to list, scrub or rewind to.")
WAITING = "The recording's runs and branches appear here once its first iterations are written (within a second)."


def describe(branch: Any) -> tuple[str, str, str]:
    """The row's texts: name, where it starts, how far it went."""
    name = branch.label or (f"run {branch.id}" if branch.parent is None else f"branch {branch.id}")
    start = "the start" if branch.parent is None and branch.fork_iteration == 0 else f"iteration {branch.fork_iteration:,}"
    return name, start, f"{branch.last_iteration:,}"


class RunTreePanel(QWidget):
    """Tree of runs and branches; `visibility_changed(id, shown)` and `branch_chosen(id)` go out."""

    visibility_changed = Signal(int, bool)
    branch_chosen = Signal(int)  # double-clicked: make this branch's line the one the timeline scrubs

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setToolTip("Tick the lines the plots overlay; double-click one to scrub it")
        self.note = QLabel(WAITING)  # an empty tree says why, instead of bare column headers
        self.note.setWordWrap(True)
        self.note.setContentsMargins(6, 6, 6, 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.tree)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._filling = False
        self.tree.itemChanged.connect(self._changed)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self.branch_chosen.emit(item.data(0, Qt.ItemDataRole.UserRole)))

    def show(self, branches: Sequence[Any] | None = None, current: int | None = None) -> None:  # type: ignore[override]
        """Show these branches (parents before children, as Recording.branches() lists them); bold the current one."""
        if branches is None:
            super().show()
            return
        self._filling = True
        try:
            for branch in branches:
                item = self._items.get(branch.id)
                if item is None:
                    item = self._items[branch.id] = QTreeWidgetItem()
                    item.setData(0, Qt.ItemDataRole.UserRole, branch.id)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(0, Qt.CheckState.Checked)
                    parent = self._items.get(branch.parent) if branch.parent is not None else None
                    if parent is not None:
                        parent.addChild(item)
                    else:
                        self.tree.addTopLevelItem(item)
                    self.tree.expandItem(item)
                for col, text in enumerate(describe(branch)):
                    item.setText(col, text)
                font = item.font(0)
                font.setBold(branch.id == current)
                item.setFont(0, font)
            self.tree.resizeColumnToContents(0)  # nested names stay readable
        finally:
            self._filling = False
        self.note.setVisible(not self._items)

    def set_recording(self, recorded: bool) -> None:
        """Whether the run on screen is recorded (or a recording is open): what an empty tree says."""
        self.note.setText(WAITING if recorded else NOT_RECORDING)
        self.note.setVisible(not self._items)

    def shown(self) -> set[int]:
        """Ids of the ticked branches."""
        return {b for b, item in self._items.items() if item.checkState(0) == Qt.CheckState.Checked}

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if not self._filling and column == 0:
            self.visibility_changed.emit(item.data(0, Qt.ItemDataRole.UserRole), item.checkState(0) == Qt.CheckState.Checked)
