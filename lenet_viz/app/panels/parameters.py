"""The tutorial's `params[i].size()` print as a live table, with weight and gradient norms.

Its grad column reads `None` between zero_grad() and backward(), exactly what the tutorial's
`print(net.conv1.bias.grad)` shows, and fills in once backward() has run.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...training.types import ParamRow, Snapshot
from .common import layer_colour, shape_text

COLUMNS = ("name", "shape", "count", "weight norm", "grad norm")
#: What the header shows: two lines where the words are wider than the numbers under them.
HEADER_TEXT = ("name", "shape", "count", "weight\nnorm", "grad\nnorm")
HEADER_TIPS = (
    "Parameter name, as model.named_parameters() gives it",
    "Tensor shape: out × in × kernel height × kernel width for conv weights, out × in for linear ones",
    "Number of values (p.numel())",
    "L2 norm of the weights, ‖p‖",
    "L2 norm of p.grad.  None while .grad is None: after zero_grad(set_to_none=True) until backward()",
)
NUMERIC = {2, 3, 4}
THEME_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange, QEvent.Type.StyleChange)


#: The widest a norm can read (`norm_text`): the number columns are sized to it once.
WIDEST_NORM = "0.0001234"


def norm_text(v: float) -> str:
    """Four significant digits: "0.0001234" at most, from 1e-4 to 1e9 (norms of this net stay there)."""
    return f"{v:.4g}"


def phase_text(snapshot: Snapshot) -> str:
    last = snapshot.last_phase.label if snapshot.last_phase else "start"
    return f"after {last} · next: {snapshot.next_phase.label}"


class ParameterTable(QWidget):
    """One row per parameter tensor plus a bold total row; cells are updated in place."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel("no snapshot yet")
        self.header.setToolTip("The phase that just ran and the one that runs next")
        bold = self.header.font()
        bold.setBold(True)
        self.header.setFont(bold)
        self.header.setContentsMargins(4, 2, 4, 2)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(HEADER_TEXT)
        for col, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        # A narrow dock cuts names at their end: "conv1.wei…" and "conv2.wei…" still differ ("conv…ight" did not).
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        # Names, shapes and counts never change after _build: sized to their text once there.  The
        # norms change every frame: they share the rest (no per-frame re-measuring).
        # The name stretches (and elides in the middle when the dock is narrow); the numbers never do:
        # at 1280 px a stretched grad-norm column read "0....39".
        for col in range(len(COLUMNS)):
            mode = QHeaderView.ResizeMode.Stretch if col == 0 else QHeaderView.ResizeMode.Interactive
            header.setSectionResizeMode(col, mode)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.table)
        self._shown: tuple | None = None
        self._names: tuple[str, ...] | None = None
        self.table.installEventFilter(self)  # its palette follows the theme: see eventFilter
        self._none_color = self.palette().placeholderText().color()

    def show(self, snapshot: Snapshot | None = None) -> None:  # type: ignore[override]
        """Fill the table from `snapshot`; cheap when nothing in it changed.  `show()` alone shows the widget."""
        if snapshot is None:
            super().show()
            return
        key = (snapshot.last_phase, snapshot.next_phase, snapshot.params)
        if key == self._shown:
            return
        self._shown = key
        self.header.setText(phase_text(snapshot))
        rows = snapshot.params
        if tuple(p.name for p in rows) != self._names:
            self._build(rows)
        for r, p in enumerate(rows):
            self._set(r, 3, norm_text(p.weight_norm))
            grad = self.table.item(r, 4)
            grad.setText("None" if p.grad_norm is None else norm_text(p.grad_norm))
            # Grey `None`, default colour for numbers (ForegroundRole None = the view's own).
            grad.setData(Qt.ItemDataRole.ForegroundRole, self._none_color if p.grad_norm is None else None)
        self._set(len(rows), 2, f"{sum(p.count for p in rows):,}")

    def changeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        """A zoom (new font or stylesheet): the rows and number columns follow."""
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) and self.table.rowCount():
            self.fit()

    def eventFilter(self, watched, event) -> bool:  # noqa: ANN001, N802 - Qt's name
        """The table's own palette changed (a theme, after the stylesheet re-polished it): the names' colours."""
        if watched is self.table and event.type() in THEME_EVENTS and self._names:
            self._colour_names()
        return super().eventFilter(watched, event)

    def _colour_names(self) -> None:
        """Each name in its layer's colour (as every panel draws that layer), not after a swatch: the swatch's
        ~20 px cut "conv1.weight" short in a 1280-px screen's right column.  On a light table the colours
        are darkened (`layer_colour`)."""
        light = self.table.palette().base().color().lightness() > 128  # the stylesheet's table background too
        for r, name in enumerate(self._names or ()):
            self.table.item(r, 0).setForeground(layer_colour(name.split(".")[0], on_light=light))

    def clear(self) -> None:
        """Empty the table (training was reset; the next snapshot refills it)."""
        self._shown = self._names = None
        self.table.setRowCount(0)
        self.header.setText("no snapshot yet")

    def _build(self, rows: tuple[ParamRow, ...]) -> None:
        """Create the cells once per structure; later snapshots only change their text."""
        self._names = tuple(p.name for p in rows)
        self.table.setRowCount(0)  # drop old items: none of them is reused
        self.table.setRowCount(len(rows) + 1)
        bold = QFont(self.table.font())
        bold.setBold(True)
        for r in range(len(rows) + 1):
            for c in range(len(COLUMNS)):
                item = QTableWidgetItem()
                if c in NUMERIC:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r == len(rows):
                    item.setFont(bold)
                self.table.setItem(r, c, item)
        for r, p in enumerate(rows):
            self._set(r, 0, p.name)
            self._set(r, 1, shape_text(p.shape))
            self._set(r, 2, f"{p.count:,}")
        self._set(len(rows), 0, "total")
        self._set(len(rows), 2, f"{sum(p.count for p in rows):,}")
        self._colour_names()
        # Here, not in __init__: by now the stylesheet's font is in force.
        self.fit()

    def fit(self) -> None:
        """Size rows and number columns to the font (again after a zoom): every row visible, the total
        included, and every number whole."""
        metrics = self.table.fontMetrics()
        self.table.verticalHeader().setDefaultSectionSize(metrics.height() + 4)
        for col in (1, 2):
            self.table.resizeColumnToContents(col)
        for col in (3, 4):
            self.table.setColumnWidth(col, metrics.horizontalAdvance(WIDEST_NORM) + 8)
        rows = self.table.rowCount() * (metrics.height() + 4)
        self.table.setMinimumHeight(rows + self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth())

    def _set(self, row: int, col: int, text: str) -> None:
        item = self.table.item(row, col)
        if item.text() != text:
            item.setText(text)
