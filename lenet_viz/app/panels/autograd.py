"""The loss's autograd graph as a tree: the tutorial's `loss.grad_fn.next_functions` walk, finished.

Reading it from the root down is reading backward() in order: each node is the derivative of
one forward operation, and every branch ends in AccumulateGrad, which writes a parameter's .grad.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ...training.types import AutogradNode, Phase, Snapshot
from .common import LAYER_COLORS, WAITING, swatch
from .common import node_tip as describe

CAPTION = "loss.grad_fn.next_functions, walked to every parameter"
HINT = "No loss yet — run the LOSS phase to build the graph"
_WAITING = object()

def stale_note(snapshot: Snapshot) -> str:
    """What the tree is, when it is not this iteration's: after zero_grad and forward the last
    graph is still shown (a new one exists only once LOSS runs), and must not pass for a new one."""
    if snapshot.autograd is None or snapshot.last_phase not in (Phase.ZERO_GRAD, Phase.FORWARD):
        return ""
    return (f"\n(still iteration {snapshot.iteration}'s graph: zero_grad() cleared the .grads, not this record;"
            " the next LOSS phase builds a new graph)")


def node_text(node: AutogradNode) -> str:
    return f"{node.name} → {node.parameter}" if node.parameter else node.name


def node_tip(node: AutogradNode) -> str:
    tip = describe(node.name)
    if node.parameter:
        tip += f" ({node.parameter}.grad)"
    if not node.children and node.name != "AccumulateGrad":
        tip += "\n(reached before by another branch: shown in full there)"
    return tip.strip()


class AutogradPanel(QWidget):
    """A QTreeWidget of `snapshot.autograd`, rebuilt only when the graph's structure changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setContentsMargins(4, 2, 4, 2)
        self.caption.setStyleSheet("font-family: monospace;")  # it is code: loss.grad_fn...
        self.caption.setToolTip(
            "Start at loss.grad_fn and follow next_functions: every path ends in AccumulateGrad,\n"
            "the node that writes a parameter's .grad.  backward() runs this graph from the top."
        )
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setUniformRowHeights(True)
        self.tree.setIndentation(14)  # the chain is ~14 levels deep: keep it inside a narrow dock
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.tree)
        self._graph: AutogradNode | None = None
        self._show_hint()

    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Show `snapshot.autograd`; cheap when its structure is unchanged.  `show()` alone shows the widget."""
        if snapshot is None:
            super().show()
            return
        graph = snapshot.autograd
        self.caption.setText(CAPTION + stale_note(snapshot))
        if graph is None and snapshot.loss is not None:  # left out while hidden: say so, never "no loss"
            if self._graph is not _WAITING:
                self._graph = _WAITING
                self._show_hint(WAITING)
            return
        # AutogradNode is a frozen dataclass of names only: equality *is* the structural signature.
        if graph is self._graph or graph == self._graph:
            return
        self._graph = graph
        if graph is None:
            self._show_hint()
            return
        self.tree.clear()
        self.tree.addTopLevelItem(self._item(graph))
        self.tree.expandAll()

    def clear(self) -> None:
        """Back to the hint (training was reset)."""
        self._graph = None
        self.caption.setText(CAPTION)
        self._show_hint()

    def _show_hint(self, text: str = HINT) -> None:
        self.tree.clear()
        hint = QTreeWidgetItem([text])
        if text == HINT:
            hint.setToolTip(0, "autograd records the graph while the loss is computed (the LOSS phase);\nuntil then there is nothing to walk")
        self.tree.addTopLevelItem(hint)

    def _item(self, node: AutogradNode) -> QTreeWidgetItem:
        item = QTreeWidgetItem([node_text(node)])
        item.setToolTip(0, node_tip(node))
        if node.parameter:
            item.setIcon(0, swatch(LAYER_COLORS.get(node.parameter.split(".")[0], "#888888")))
        item.addChildren([self._item(child) for child in node.children])
        return item
