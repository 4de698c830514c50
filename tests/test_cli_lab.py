"""`--bug NAME` on the command line; health flags printed once and written in the metrics CSV."""

from __future__ import annotations

import csv

import pytest

from lenet_viz import cli


def test_bugs_reach_the_config_and_flags_reach_the_csv_and_the_terminal(tmp_path, capsys):
    out = tmp_path / "m.csv"
    args = ["--headless", "--dataset", "digits", "--steps", "12", "--threads", "1", "--bug", "raw_pixels",
            "--bug", "shuffled_labels", "--metrics", str(out)]
    assert cli.config_from_args(cli.build_parser().parse_args(args), app=False).bugs == {"raw_pixels", "shuffled_labels"}
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert err.count("flag raised at iteration 1: Initial loss far from ln 10:") == 1  # once, not every iteration
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[-5:] == ["dead_relu/conv1", "dead_relu/conv2", "dead_relu/fc1", "dead_relu/fc2", "flags"]
    assert "initial_loss" in rows[0]["flags"].split(";")
    assert all(0.0 <= float(r["dead_relu/fc2"]) <= 1.0 for r in rows)


def test_no_bug_by_default_and_an_unknown_one_is_one_clear_line(capsys):
    assert cli.config_from_args(cli.build_parser().parse_args([]), app=False).bugs == frozenset()
    with pytest.raises(SystemExit) as e:
        cli.main(["--headless", "--bug", "forgot_eval"])
    assert e.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--bug: invalid choice: 'forgot_eval'" in err and "double_softmax" in err
