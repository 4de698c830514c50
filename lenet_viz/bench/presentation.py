"""GUI stall and fps of the real window with presentation mode (zoom 150 %, light theme) off and on,
interleaved rounds: `python -m lenet_viz.bench.presentation [iterations] [rounds]`.  Issue 12 asks
that presentation mode cost no more than the normal look."""

from __future__ import annotations

import json
import os
import sys


def main(iterations: int = 300, rounds: int = 2) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ..app.main_window import MainWindow
    from ..data import load_dataset
    from ..training import TrainConfig
    from . import app as bench_app

    init, on = MainWindow.__init__, [False]

    def presented(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        init(self, *args, **kwargs)
        if on[0]:
            self.presentation.set_zoom(1.5)
            self.presentation.set_theme("light")

    MainWindow.__init__ = presented
    config, dataset = TrainConfig(dataset="digits", threads=1, eval_every=0), load_dataset("digits")
    try:
        for _ in range(rounds):
            for mode in ("off", "on"):
                on[0] = mode == "on"
                r = bench_app.measure(config, dataset, iterations, 1)
                keep = {k: r[k] for k in ("iters_per_s", "gui_stall_ms", "gui_busy_ms", "display_fps", "plot_fps") if k in r}
                print(mode, json.dumps(keep), flush=True)
    finally:
        MainWindow.__init__ = init


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
