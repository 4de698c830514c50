"""The layered layout: loss on top, every arrow pointing down, no two boxes on top of each other."""

from __future__ import annotations

from lenet_viz.app.graph_layout import layered_layout

#: LeNet's cross-entropy graph (Snapshot.autograd_graph.edges after one step).
LENET_EDGES = (
    (0, 1), (1, 2), (2, 3), (2, 4), (2, 5), (4, 6), (5, 7), (6, 8), (6, 9), (6, 10), (9, 11), (10, 12), (11, 13),
    (11, 14), (11, 15), (14, 16), (15, 17), (16, 18), (18, 19), (19, 20), (19, 21), (19, 22), (20, 23), (23, 24),
    (24, 25), (24, 26),
)


def test_lenet_graph_is_layered_top_down_without_overlaps():
    lay = layered_layout(27, LENET_EDGES, box=(200, 60), gap=(20, 30))
    w, h = lay.box
    assert min(lay.centres.values(), key=lambda p: p[1]) == lay.centres[0]  # the loss on top
    assert lay.layers[0] == 0 and max(lay.layers.values()) == 14  # the tutorial's chain, 15 layers deep
    for a, b in LENET_EDGES:
        assert lay.layers[b] > lay.layers[a]
        assert lay.centres[b][1] > lay.centres[a][1]
        path = lay.paths[(a, b)]
        assert path[0][1] == lay.centres[a][1] + h / 2 and path[-1][1] == lay.centres[b][1] - h / 2
    boxes = list(lay.centres.values())
    for i, (x1, y1) in enumerate(boxes):
        for x2, y2 in boxes[i + 1 :]:
            assert abs(x1 - x2) >= w or abs(y1 - y2) >= h  # no two boxes overlap


def test_same_structure_same_layout():
    assert layered_layout(27, LENET_EDGES).centres == layered_layout(27, LENET_EDGES).centres


def test_a_long_edge_bends_through_the_layers_it_skips_and_a_repeated_edge_is_drawn_once():
    lay = layered_layout(4, [(0, 1), (1, 2), (2, 3), (0, 3), (0, 3)])
    assert list(lay.paths) == [(0, 1), (1, 2), (2, 3), (0, 3)]
    assert len(lay.paths[(0, 3)]) == 4  # start, one point in each skipped layer, end
    assert lay.layers == {0: 0, 1: 1, 2: 2, 3: 3}


def test_a_single_node_and_separate_pieces():
    assert layered_layout(1, []).centres[0][1] > 0
    lay = layered_layout(4, [(0, 1), (2, 3)], box=(100, 40))
    assert lay.centres[2][0] - lay.centres[0][0] >= 100  # side by side, not stacked
