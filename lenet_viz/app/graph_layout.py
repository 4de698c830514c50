"""A layered (Sugiyama) layout of the autograd graph: loss on top, parameters at the bottom.

Qt-free, so it is testable and timeable alone.  grandalf does the four Sugiyama steps we would
otherwise write and debug ourselves - layering, dummy nodes for edges that skip layers,
crossing reduction, coordinate assignment (Brandes-Köpf) - in pure Python with no native
graphviz binary, in ~5 ms for LeNet's 27 nodes.  It runs only when the graph's structure
changes (a new loss, a lab bug, another optimizer), never per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

Point = tuple[float, float]


@dataclass(frozen=True)
class GraphLayout:
    """Box centres (y grows downward, the root on top) and edge polylines between box borders."""

    centres: dict[int, Point]  # node id -> centre
    paths: dict[tuple[int, int], tuple[Point, ...]]  # (from_id, to_id) -> points, bottom of from to top of to
    box: tuple[float, float]  # width, height of every box
    layers: dict[int, int]  # node id -> layer (0 = the root)


class _View:
    """What grandalf reads (w, h) and writes (xy) for a vertex; `setpath` receives an edge's points."""

    def __init__(self, w: float = 0.0, h: float = 0.0) -> None:
        self.w, self.h, self.xy, self.path = w, h, (0.0, 0.0), []

    def setpath(self, points: list[Point]) -> None:
        self.path = points


def layered_layout(
    n_nodes: int,
    edges: Sequence[tuple[int, int]],
    box: tuple[float, float] = (230.0, 64.0),
    gap: tuple[float, float] = (24.0, 40.0),
) -> GraphLayout:
    """Lay out nodes 0..n-1 (0 is the root) with `edges` pointing down, boxes of one size `box`."""
    w, h = box
    vertices = [Vertex(k) for k in range(n_nodes)]
    for v in vertices:
        v.view = _View(w, h)
    unique = list(dict.fromkeys(edges))  # x * x lists a node twice in next_functions: draw one edge
    graph_edges = [Edge(vertices[a], vertices[b]) for a, b in unique]
    for e in graph_edges:
        e.view = _View()
    graph = Graph(vertices, graph_edges)
    layers: dict[int, int] = {}
    x_offset = 0.0
    for component in graph.C:  # one component for a loss; more only for hand-made graphs
        sug = SugiyamaLayout(component)
        sug.xspace, sug.yspace = gap
        roots = [v for v in component.sV if not v.e_in()]
        sug.init_all(roots=roots or None)
        sug.draw(3)
        left = min(v.view.xy[0] for v in component.sV) - w / 2
        shift = x_offset - left
        for v in component.sV:
            v.view.xy = (v.view.xy[0] + shift, v.view.xy[1])
            layers[v.data] = sug.grx[v].rank
        for e in component.sE:
            e.view.path = [(x + shift, y) for x, y in e.view.path]
        x_offset = max(v.view.xy[0] for v in component.sV) + w / 2 + gap[0]
    centres = {v.data: (float(v.view.xy[0]), float(v.view.xy[1])) for v in vertices}
    paths = {}
    for (a, b), e in zip(unique, graph_edges):
        pts = [(float(x), float(y)) for x, y in e.view.path] or [centres[a], centres[b]]
        pts[0] = (pts[0][0], centres[a][1] + h / 2)  # leave the box at its bottom edge
        pts[-1] = (pts[-1][0], centres[b][1] - h / 2)  # arrive at the top edge of the next one
        paths[(a, b)] = tuple(pts)
    return GraphLayout(centres=centres, paths=paths, box=box, layers=layers)
