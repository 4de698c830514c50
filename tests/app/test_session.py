"""The Qt-free session: feed it events, read what the screen would say (no display, no worker)."""

from __future__ import annotations

import numpy as np

from lenet_viz.app.session import Session
from lenet_viz.training import Phase, RunInfo, Snapshot, TrainConfig
from lenet_viz.training.messages import Ready, RunningChanged, SnapshotTaken

INFO = RunInfo("digits", 1437, 360, "no MNIST files in /data/mnsit, using digits", "cpu")


def snapshot(iteration: int = 0) -> Snapshot:
    zeros = np.zeros
    return Snapshot(
        iteration=iteration, epoch=0, last_phase=None, next_phase=Phase.ZERO_GRAD, probe_index=0,
        probe_image=zeros((32, 32), np.float32), probe_label=3, activations={}, prediction=3,
        conv1_weight=zeros((6, 1, 5, 5), np.float32), conv1_grad=None, conv1_update=None,
        conv1_bias=zeros(6, np.float32), conv1_bias_grad=None, params=(), autograd=None, loss=None, lr=0.01,
    )


def test_a_named_data_folder_without_mnist_is_said_whichever_comes_first_ready_or_the_snapshot():
    config = TrainConfig(dataset="auto", data_dir="/data/mnsit")
    for order in ([Ready(1, INFO), SnapshotTaken(1, snapshot(), config)], [SnapshotTaken(1, snapshot(), config), Ready(1, INFO)]):
        s = Session()
        s.apply(order, 0.0)
        assert s.banner() is not None and "You named that folder" in s.banner()
        s.dismiss_banner()
        s.apply([SnapshotTaken(1, snapshot(), config)], 1.0)
        assert s.banner() is None  # dismissed stays dismissed


def test_events_of_a_replaced_run_are_dropped_and_the_story_follows_the_state():
    s = Session()
    config = TrainConfig(dataset="digits")
    s.apply([SnapshotTaken(2, snapshot(5), config), Ready(2, INFO)], 0.0)
    s.apply([RunningChanged(1, True)], 0.1)  # a leftover of run 1: ignored
    assert not s.running and s.iteration == 5 and s.story().startswith("Paused at iteration 5")
    s.apply([RunningChanged(2, True)], 0.2)
    assert s.running and s.story().startswith("Training:")
