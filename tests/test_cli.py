"""The command line: headless training, metrics CSV, and one clear line for every bad option."""

from __future__ import annotations

import csv
import subprocess

import pytest

from lenet_viz import cli
from lenet_viz.bench.app_launch import child_python


def run_cli(*args: str) -> subprocess.CompletedProcess:
    cmd, env = child_python("-m", "lenet_viz", *args)  # safe path: nothing from the working folder
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)


def test_headless_trains_and_writes_metrics(tmp_path, capsys):
    out = tmp_path / "m.csv"
    code = cli.main(["--headless", "--dataset", "digits", "--steps", "25", "--eval-every", "10", "--metrics", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "held-out accuracy after 25 iterations" in printed.out
    assert "dataset: digits" in printed.err and "iter     25/25" in printed.err
    rows = list(csv.DictReader(out.open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 26))
    assert rows[9]["eval_accuracy"] != "" and rows[8]["eval_accuracy"] == ""
    assert float(rows[0]["grad_norm/conv1.bias"]) > 0 and "update_ratio/fc3" in rows[0]


def test_epochs_means_whole_passes(capsys):
    assert cli.main(["--headless", "--dataset", "digits", "--epochs", "1", "--batch-size", "500", "--quiet"]) == 0
    assert "after 3 iterations" in capsys.readouterr().out  # 1437 images / 500 per batch


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--lr", "-1"], "lr: must be a number in (0, 10]"),
        (["--lr", "abc"], "--lr: invalid float value"),
        (["--batch-size", "0"], "batch_size: must be an integer from 1 to 4096"),
        (["--steps", "0"], "--steps: must be at least 1"),
        (["--steps", "1", "--epochs", "1"], "give --steps or --epochs"),
        (["--dataset", "cifar"], "--dataset: invalid choice"),
        (["--optimizer", "rmsprop"], "--optimizer: invalid choice"),
        (["--update", "manual"], "momentum: the manual update is plain SGD"),
        (["--speed-limit", "-3"], "--speed-limit must be a positive number"),
        (["--no-such-flag"], "unrecognized arguments"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/lenet"], "/nonexistent/lenet"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, needle, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--headless", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("lenet-viz: error:")


def test_unwritable_metrics_file_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--headless", "--dataset", "digits", "--steps", "2", "--metrics", str(tmp_path / "no" / "m.csv")])
    assert exit_.value.code == 2 and "cannot write --metrics file" in capsys.readouterr().err


def test_divergence_stops_with_exit_3(capsys):
    assert cli.main(["--headless", "--dataset", "digits", "--steps", "100", "--lr", "5", "--quiet"]) == cli.EXIT_DIVERGED
    err = capsys.readouterr().err
    assert "training diverged at iteration" in err and "smaller --lr" in err


def test_python_dash_m_is_the_same_command():
    done = run_cli("--headless", "--dataset", "random", "--steps", "3", "--loss", "mse")
    assert done.returncode == 0, done.stderr
    assert "held-out accuracy after 3 iterations" in done.stdout
    assert run_cli("--version").stdout.startswith("lenet-viz ")


# --------------------------------------------------------------------------- checkpoints
def _losses(path) -> dict[int, str]:
    return {int(r["iteration"]): r["loss"] for r in csv.DictReader(open(path))}


def test_headless_resume_continues_the_same_run(tmp_path, capsys):
    base = ["--headless", "--dataset", "digits", "--threads", "1", "--eval-every", "5", "--quiet"]
    ck = tmp_path / "ck.pt"
    assert cli.main([*base, "--steps", "20", "--metrics", str(tmp_path / "straight.csv")]) == 0
    assert cli.main([*base, "--steps", "12", "--save-checkpoint", str(ck)]) == 0
    capsys.readouterr()
    # --lr is ignored: the checkpoint's settings win (only --steps/--epochs/--metrics and machine options apply)
    resumed_csv = str(tmp_path / "resumed.csv")
    code = cli.main(["--headless", "--threads", "1", "--checkpoint", str(ck), "--steps", "8", "--lr", "0.5", "--metrics", resumed_csv])
    assert code == 0
    printed = capsys.readouterr()
    assert f"resumed {ck} at iteration 12" in printed.err and "iter     20/20" in printed.err
    assert "held-out accuracy after 20 iterations" in printed.out
    straight, resumed = _losses(tmp_path / "straight.csv"), _losses(tmp_path / "resumed.csv")
    assert list(resumed) == list(range(13, 21)) and resumed == {i: straight[i] for i in range(13, 21)}


@pytest.mark.parametrize("headless", [True, False], ids=["headless", "app"])
@pytest.mark.parametrize("content", ["missing", b"", b"PK\x03\x04 half a zip", "not-ours"])
def test_a_bad_checkpoint_exits_2_with_one_line_naming_it(tmp_path, capsys, monkeypatch, headless, content):
    import torch

    bad = tmp_path / "bad.pt"
    if content == "not-ours":
        torch.save({"a": 1}, bad)
    elif content != "missing":
        bad.write_bytes(content)
    monkeypatch.setattr("lenet_viz.app.main_window.run_app", lambda *a, **kw: pytest.fail("the window opened"))
    code = cli.main([*(["--headless"] if headless else []), "--dataset", "digits", "--checkpoint", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"lenet-viz: error: cannot open checkpoint {bad}: ") and err.count("\n") == 1


def test_save_checkpoint_is_checked_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--headless", "--dataset", "digits", "--steps", "2", "--save-checkpoint", str(tmp_path / "no" / "ck.pt")])
    assert exit_.value.code == 2 and "its folder does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--save-checkpoint", str(tmp_path / "ck.pt")])  # the app saves from its File menu
    assert exit_.value.code == 2 and "--save-checkpoint is for --headless" in capsys.readouterr().err


def test_the_app_opens_on_the_checkpoint_with_its_settings(tmp_path, monkeypatch):
    ck = tmp_path / "ck.pt"
    assert cli.main(["--headless", "--dataset", "digits", "--steps", "3", "--lr", "0.03", "--quiet", "--save-checkpoint", str(ck)]) == 0
    opened = {}
    monkeypatch.setattr("lenet_viz.app.main_window.run_app", lambda config, **kw: opened.update(config=config, **kw) or 0)
    assert cli.main(["--checkpoint", str(ck), "--lr", "0.9", "--speed-limit", "4"]) == 0
    assert opened["checkpoint"] == str(ck) and opened["speed_limit"] == 4
    assert opened["config"].lr == 0.03 and opened["config"].threads == 1  # the run's lr; the app's thread count


def test_headless_record_writes_a_recording_of_the_run(tmp_path, capsys):
    from lenet_viz.training import Recording

    path, out = tmp_path / "run.lvz", tmp_path / "m.csv"
    code = cli.main(["--headless", "--dataset", "digits", "--steps", "12", "--threads", "1", "--record", str(path),
                     "--metrics", str(out)])
    assert code == 0 and f"recording: {path}" in capsys.readouterr().err
    with Recording.open(path) as rec:
        assert rec.losses().tolist() == [float(r["loss"]) for r in csv.DictReader(out.open())]
        assert rec.threads == 1 and [it for _, it in rec.keyframes()][-1] == 12  # the end state, to continue from


@pytest.mark.parametrize("headless", [True, False], ids=["headless", "app"])
def test_record_refuses_a_file_that_is_not_a_recording(tmp_path, capsys, monkeypatch, headless):
    precious = tmp_path / "notes.txt"
    precious.write_text("not a recording")
    monkeypatch.setattr("lenet_viz.app.main_window.run_app", lambda *a, **kw: pytest.fail("the window opened"))
    code = cli.main([*(["--headless"] if headless else []), "--dataset", "digits", "--record", str(precious)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err == f"lenet-viz: error: cannot record to {precious}: the file exists and is not a lenet-viz recording; it was left untouched\n"
    assert precious.read_text() == "not a recording"


def test_record_budget_is_settable_and_a_too_small_one_is_one_line(tmp_path, capsys):
    ok = tmp_path / "small.lvz"
    assert cli.main(["--headless", "--dataset", "random", "--steps", "3", "--quiet", "--record", str(ok),
                     "--record-budget", "8"]) == 0
    from lenet_viz.training import Recording

    with Recording.open(ok) as rec:
        assert len(rec.losses()) == 3
    capsys.readouterr()
    assert cli.main(["--headless", "--dataset", "random", "--steps", "3", "--quiet", "--record", str(tmp_path / "tiny.lvz"),
                     "--record-budget", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "budget" in err
