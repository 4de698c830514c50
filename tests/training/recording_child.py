"""A training process that records, for the crash and follow tests: `python recording_child.py PATH MODE`.

MODE "pause": train 20 iterations, print "paused", wait for a line on stdin, train 20 more, close.
MODE "forever": train and record until killed, printing each iteration.
"""

from __future__ import annotations

import sys

import torch

from lenet_viz.data import load_dataset
from lenet_viz.training import Recorder, TrainConfig, Trainer


def main(path: str, mode: str) -> None:
    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(dataset="digits", threads=1, eval_every=5, eval_samples=50), dataset=load_dataset("digits"))
    recorder = Recorder(path, trainer, keyframe_every=16, time_share=1.0)
    if mode == "pause":
        for _ in range(20):
            trainer.step()
        print("paused", flush=True)
        sys.stdin.readline()
        for _ in range(20):
            trainer.step()
        recorder.close()
        print("closed", flush=True)
        return
    while True:
        print(trainer.step().iteration, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
