"""The loss's autograd graph as a layered DAG: what torchviz's make_dot draws, plus the gradients.

The loss's grad_fn is on top; each arrow is one entry of `next_functions`, the way backward()
walks; the AccumulateGrad leaves at the bottom write the parameters' .grad.  A node shared by
two branches is drawn once.  After BACKWARD every box is coloured by the norm of the gradient
that reached it, on a log scale (gradients shrink by decades on the way down).

Items are made once per structure; a frame with the same structure only re-colours and re-labels.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ...training.types import AutogradGraph, GraphNode
from ..graph_layout import GraphLayout, layered_layout
from .common import LogLegend, decade_range, node_tip, norm_colour, shape_text
from .steady_label import SteadyLabel

HINT = "No loss yet — run the LOSS phase to build the graph"
#: A node's gradient when backward ran while the graph was not watched (its dock hidden): it exists, unrecorded.
UNRECORDED = "its gradient was not recorded: this backward ran while the Graph was hidden; step (N) to record one"
#: Below a graph on screen, until a node is hovered (the line before it, e.g. WAITING, is no longer true).
NODE_HINT = "Hover a node: what it computes, its shape, the gradient that reached it, where backward goes next"
FONT_PT = 16  # the name's size at 100 % zoom (shape and norm: 2 pt less); the view fits, the wheel zooms
_WIDGET = object()  # show() without an argument is QWidget.show()
MIN_FIT_SCALE = 0.45  # fitting a tall graph into a small dock stops here: below it no text is readable


def node_lines(node: GraphNode) -> list[str]:
    """The text in a node's box: what it is, what it produced, the gradient that reached it."""
    norm = "‖grad‖ —" if node.grad_norm is None else f"‖grad‖ = {node.grad_norm:.3g}"
    if node.parameter:
        return [node.parameter, f"AccumulateGrad  {shape_text(node.shape)}", norm]
    return [node.name, shape_text(node.shape), norm]


def node_details(node: GraphNode, graph: AutogradGraph) -> str:
    """The hover text: a node's meaning, its shape, its gradient, and where backward goes next."""
    nxt = [graph.nodes[b] for a, b in graph.edges if a == node.id]
    lines = [f"{node.name}  (node {node.id})"]
    if tip := node_tip(node.name):
        lines.append(tip)
    shape = shape_text(node.shape)
    lines.append(f"parameter {node.parameter}, shape {shape}" if node.parameter else f"produced {shape}")
    lines.append(
        UNRECORDED
        if node.grad_norm is None and graph.unrecorded
        else "no gradient yet (before backward, or after zero_grad)"
        if node.grad_norm is None
        else f"norm of the gradient that reached it in iteration {graph.norms_at:,}: {node.grad_norm:.6g}"
        if graph.norms_at is not None
        else f"norm of the gradient that reached it: {node.grad_norm:.6g}"
    )
    if nxt:
        lines.append("next_functions → " + ", ".join(n.parameter or n.name for n in nxt))
    return "\n".join(lines)


def legend_title(norms_at: int | None, unrecorded: bool = False) -> str:
    """Over the colour scale: whose gradients the colours are (while training runs, the norms are
    recorded a few times a second, so they may be a few iterations older than the loss on screen)."""
    if unrecorded:
        return "‖grad‖ reaching each node\nnot recorded: step to see it"
    if norms_at is None:
        return "‖grad‖ reaching each node\n(log colour scale)"
    return f"‖grad‖ reaching each node\nin iteration {norms_at:,} (log scale)"  # two short lines: the scale keeps its room


class NodeItem(QGraphicsPathItem):
    """A rounded box (square corners for a parameter leaf) with three lines of text."""

    def __init__(self, node_id: int, rect: QRectF, leaf: bool, fonts: list[QFont], on_hover) -> None:  # noqa: ANN001
        path = QPainterPath()
        radius = 4.0 if leaf else 16.0
        path.addRoundedRect(rect, radius, radius)
        super().__init__(path)
        self.node_id = node_id
        self._on_hover = on_hover
        self.setAcceptHoverEvents(True)
        self.setPen(QPen(QColor("#e4e6ea" if leaf else "#8a8f98"), 3.0 if leaf else 1.5))
        self.texts: list[QGraphicsSimpleTextItem] = []
        top = rect.top() + 5
        for font in fonts:
            item = QGraphicsSimpleTextItem(self)
            item.setFont(font)
            item.setY(top)
            top += QFontMetricsF(font).height() + 1
            self.texts.append(item)
        self._rect = rect
        self._fill: QColor | None = None
        self._dark_ink: bool | None = None
        self.lines = ["", "", ""]

    def set_content(self, lines: list[str], fill: QColor) -> None:
        """Change only what changed: a frame usually changes the norm line and the colour."""
        if fill is not self._fill:
            self._fill = fill
            self.setBrush(fill)
            dark_ink = fill.lightnessF() > 0.55
            if dark_ink is not self._dark_ink:
                self._dark_ink = dark_ink
                ink = QBrush(QColor("#111111") if dark_ink else QColor("#f4f5f7"))
                for item in self.texts:
                    item.setBrush(ink)
        for row, (item, text) in enumerate(zip(self.texts, lines)):
            if self.lines[row] != text:
                self.lines[row] = text
                item.setText(text)
                item.setX(self._rect.center().x() - item.boundingRect().width() / 2)

    def hoverEnterEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        self.setToolTip(self._on_hover(self.node_id))  # written now, not every frame
        super().hoverEnterEvent(event)


class GraphView(QGraphicsView):
    """Drag to pan, wheel to zoom under the mouse; fits the graph until the user zooms."""

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("#181a1f"))
        self.auto_fit = True

    def wheelEvent(self, event) -> None:  # noqa: ANN001, N802
        self.auto_fit = False
        factor = 1.2 ** (event.angleDelta().y() / 120)
        self.scale(factor, factor)

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect().adjusted(-12, -12, 12, 12)
        if rect.isEmpty():
            return
        self.resetTransform()
        s = min(self.viewport().width() / rect.width(), self.viewport().height() / rect.height(), 1.0)
        s = max(s, MIN_FIT_SCALE)
        self.scale(s, s)
        self.centerOn(rect.center().x(), rect.top() + min(rect.height(), self.viewport().height() / s) / 2)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()


class AutogradGraphPanel(QWidget):
    """`show(snapshot.autograd_graph)`: lay out on a new structure, otherwise only re-colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = QGraphicsScene(self)
        self.view = GraphView(self.scene)
        self.details = QLabel(HINT)
        self.details.setWordWrap(True)
        self.details.setMinimumHeight(5 * self.details.fontMetrics().height())
        self.legend = LogLegend()
        scale = QHBoxLayout()
        self.legend_title = SteadyLabel(legend_title(None))
        scale.addWidget(self.legend_title.holder)
        scale.addWidget(self.legend, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.view, 1)
        layout.addLayout(scale)
        layout.addWidget(self.details)
        self.graph: AutogradGraph | None = None
        self.layout_: GraphLayout | None = None
        self.nodes: dict[int, NodeItem] = {}
        self._key: tuple | None = None
        self.hovered: int | None = None  # the node whose details show below the graph
        self.clear()

    def show(self, graph: AutogradGraph | None | object = _WIDGET) -> None:  # type: ignore[override]
        """Draw `graph` (`snapshot.autograd_graph`; None: the hint).  No argument: QWidget.show()."""
        if graph is _WIDGET:
            super().show()
            return
        self.update_graph(graph)  # type: ignore[arg-type]

    def update_graph(self, graph: AutogradGraph | None) -> None:
        """Draw `graph`; None clears back to the hint (before the first loss, after a reset)."""
        if graph == self.graph:
            return  # the same frame again (or still no graph)
        if graph is None:
            self.clear()
            return
        self.graph = graph
        key = (tuple((n.name, n.parameter) for n in graph.nodes), graph.edges)
        if key != self._key:
            self._build(graph)
            self._key = key
        norms = [n.grad_norm for n in graph.nodes if n.grad_norm is not None]
        decades = decade_range(norms)
        self.legend.set_decades(decades if norms else None)  # no norms: no scale to read
        self.legend_title.setText(legend_title(graph.norms_at, graph.unrecorded))
        for node in graph.nodes:
            self.nodes[node.id].set_content(node_lines(node), norm_colour(node.grad_norm, decades))
        if self.hovered is not None:  # keep the details under the mouse current
            self._hovered(self.hovered)

    def clear(self, text: str = HINT) -> None:
        """Back to the hint (before the first loss, after a reset), or to another line (`WAITING`)."""
        self.scene.clear()
        self.graph, self.nodes, self._key, self.layout_, self.hovered = None, {}, None, None, None
        self.scene.addSimpleText(text).setBrush(QColor("#c9cdd3"))
        self.details.setText(text)
        self.legend_title.setText(legend_title(None))
        self.legend.set_decades(None)

    def _build(self, graph: AutogradGraph) -> None:
        self.scene.clear()
        self.nodes, self.hovered = {}, None
        fonts = _fonts()
        widest = max(QFontMetricsF(f).horizontalAdvance(t) for n in graph.nodes for f, t in zip(fonts, _widest_lines(n)))
        height = sum(QFontMetricsF(f).height() + 1 for f in fonts) + 10
        self.layout_ = lay = layered_layout(len(graph.nodes), graph.edges, box=(widest + 24, height), gap=(18, 30))
        w, h = lay.box
        edge_pen = QPen(QColor("#9aa0a8"), 2.0)
        for (a, b), pts in lay.paths.items():
            path = QPainterPath(QPointF(*pts[0]))
            for x, y in pts[1:]:
                path.lineTo(x, y)
            self.scene.addPath(path, edge_pen)
            tip, before = QPointF(*pts[-1]), QPointF(*pts[-2])
            self.scene.addPolygon(_arrow(before, tip), edge_pen, QBrush(QColor("#9aa0a8")))
        for node in graph.nodes:
            cx, cy = lay.centres[node.id]
            item = NodeItem(node.id, QRectF(cx - w / 2, cy - h / 2, w, h), node.parameter is not None, fonts, self._hovered)
            self.scene.addItem(item)
            self.nodes[node.id] = item
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-40, -40, 40, 40))
        self.details.setText(NODE_HINT)
        self.view.auto_fit = True
        self.view.fit()

    def _hovered(self, node_id: int) -> str:
        """Show a node's details below the graph; returns them for its tooltip."""
        if self.graph is None or node_id >= len(self.graph.nodes):
            return ""
        text = node_details(self.graph.nodes[node_id], self.graph)
        self.hovered = node_id
        self.details.setText(text)
        return text


def _fonts() -> list[QFont]:
    """Name (bold), shape, gradient norm."""
    fonts = [QFont(), QFont(), QFont()]
    for row, font in enumerate(fonts):
        font.setPointSizeF(FONT_PT if row == 0 else FONT_PT - 2)
        font.setBold(row == 0)
    return fonts


def _widest_lines(node: GraphNode) -> list[str]:
    """A node's lines with the widest norm text it can get, so the box fits every frame."""
    return node_lines(node)[:2] + ["‖grad‖ = 8.88e-88"]


def _arrow(before: QPointF, tip: QPointF, size: float = 11.0) -> QPolygonF:
    """A filled arrowhead at `tip`, pointing along before -> tip (backward's direction)."""
    dx, dy = tip.x() - before.x(), tip.y() - before.y()
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    base = QPointF(tip.x() - ux * size, tip.y() - uy * size)
    half_x, half_y = uy * size / 2, ux * size / 2
    return QPolygonF([tip, QPointF(base.x() - half_x, base.y() + half_y), QPointF(base.x() + half_x, base.y() - half_y)])
