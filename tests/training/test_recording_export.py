"""Exports from a recording: the conv1 filters as an animated GIF and a PNG strip, the metrics as CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from lenet_viz.data import load_dataset
from lenet_viz.training import Recording, RecordingError
from lenet_viz.training.recording_export import export_filters_gif, export_filters_png, export_metrics_csv

from recording_helpers import make_trainer, record

FRAME_W, FRAME_H = 2 * 4 + 6 * 16 * 5 + 5 * 3, 14 + 16 * 5 + 4  # margins, six 5x5 filters at scale 16, gaps; label


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "run.lvz"
    losses = record(path, make_trainer(load_dataset("digits")), 40)  # keyframes at 0, 16, 32 and the end, 40
    with Recording.open(path) as r:
        r.reference_losses = losses
        yield r


def test_gif_has_a_frame_per_keyframe_with_the_real_weights(rec, tmp_path):
    out = tmp_path / "filters.gif"
    assert export_filters_gif(rec, out) == 4
    gif = Image.open(out)
    assert (gif.format, gif.n_frames, gif.size, gif.info["loop"]) == ("GIF", 4, (FRAME_W, FRAME_H), 0)
    weights = rec.conv1_history()[-1][1]
    gif.seek(3)
    frame = np.asarray(gif.convert("RGB"))
    limit = max(np.abs(w).max() for _, w in rec.conv1_history())
    for f in range(6):  # each filter's top-left weight, at its tile's top-left pixel
        r, g, b = frame[14, 4 + f * (80 + 3)].astype(int)
        w = weights[f, 0, 0, 0] / limit
        assert (r > b) == (w > 0) and abs(min(r, b) - 255 * (1 - abs(w))) < 12


def test_png_strip_stacks_the_chosen_moments(rec, tmp_path):
    out = tmp_path / "filters.png"
    assert export_filters_png(rec, out, max_frames=3) == (FRAME_W, 3 * FRAME_H)
    assert Image.open(out).size == (FRAME_W, 3 * FRAME_H)


def test_csv_has_a_row_per_iteration_with_exact_values(rec, tmp_path):
    out = tmp_path / "metrics.csv"
    assert export_metrics_csv(rec, out) == 40
    rows = list(csv.DictReader(out.open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 41))
    assert [float(r["loss"]) for r in rows] == rec.reference_losses
    assert rows[0]["eval_accuracy"] == "" and float(rows[4]["eval_accuracy"]) >= 0 and rows[0]["diverged"] == "0"
    assert "grad_norms/conv1.weight" in rows[0] and "update_ratios/fc3" in rows[0]


def test_an_unwritable_export_is_one_line_naming_it(rec, tmp_path):
    out = tmp_path / "no such folder" / "f.gif"
    with pytest.raises(RecordingError, match=f"^cannot write {out}: No such file or directory$"):
        export_filters_gif(rec, out)
