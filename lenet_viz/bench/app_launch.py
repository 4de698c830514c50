"""The app measures that need a fresh interpreter: launch → first drawn window, and the long soak.

Three launch figures: the window drawn (its frame: title, phase strip, toolbar, status line, "Loading
the plots…"; run_app's window is `staged`, so pyqtgraph is imported after this first paint), every
panel made in it (menus, docks, empty plots; training starts in its own process meanwhile), and the
network drawn (the first snapshot painted: filters, feature maps, parameter table), which waits
for torch's import in the training process.

Launch is timed from outside: CLOCK_MONOTONIC (`time.perf_counter()` on Linux) is shared by
processes, so the child's clock at its first painted snapshot minus ours just before spawning
it includes interpreter start-up and every import, as a user's double-click would.  The child
runs the real `run_app()` (theme, stylesheet, icon, default QSettings: pointed at a temporary
XDG_CONFIG_HOME, so the user's layout is never read or written).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..training import TrainConfig

TIMEOUT_S = 600.0

#: Where `lenet_viz` is importable from, for the children (the repo root, or site-packages).
ROOT = Path(__file__).resolve().parents[2]

#: `lenet-viz --dataset D --data-dir X --threads T`: times its first painted window, then stops at its first painted
#: snapshot.  The probe is installed when the app imports its window module, so the command line runs as a user's
#: does: Qt is imported when `main()` imports it (after it has started the training process), not before.
LAUNCH_SCRIPT = """
import time; T = [time.perf_counter()]
import importlib.abc, importlib.machinery, json, sys
probe = {}
def install(module):
    run_app = module.run_app
    def probed(*args, **kwargs):
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication.instance() or QApplication([]); T.append(time.perf_counter())
        def poll():
            for w in app.topLevelWidgets():
                if isinstance(w, module.MainWindow) and w.isVisible() and len(T) == 2:  # the window, painted once
                    app.processEvents(); T.append(time.perf_counter())
                if isinstance(w, module.MainWindow) and w.built and "built" not in probe:  # every panel made
                    probe["built"] = time.perf_counter()
                if isinstance(w, module.MainWindow) and w.snapshot is not None and len(T) == 3:  # and the network
                    T.append(time.perf_counter()); app.processEvents(); app.processEvents(); T.append(time.perf_counter())
                    print("LAUNCH", json.dumps(T + [probe["built"]]), flush=True); w.close(); app.quit()
        probe["timer"] = timer = QTimer(); timer.timeout.connect(poll); timer.start(2)
        return run_app(*args, **kwargs)
    module.run_app = probed
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "lenet_viz.app.main_window":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module
        def exec_module(module):
            load(module); install(module)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Probe())
from lenet_viz.cli import main
sys.exit(main(sys.argv[1:]))
"""


def child_python(*args: str, **env: str) -> tuple[list[str], dict[str, str]]:
    """`python -P ARGS` (3.11's safe path: the working folder is not importable) with this lenet_viz
    first on PYTHONPATH, so a benchmark child imports our code and nothing planted beside it."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return [sys.executable, "-P", *args], {**os.environ, **env, "PYTHONPATH": os.pathsep.join(paths)}


def launch_args(config: TrainConfig) -> list[str]:
    """The command line a user would type for this configuration (the rest are the app's defaults)."""
    args = ["--dataset", config.dataset, "--threads", str(config.threads or 1)]
    return args + (["--data-dir", config.data_dir] if config.data_dir else [])


def launch(config: TrainConfig) -> dict[str, Any]:
    """Seconds from spawning `python` to the window drawn and to its first snapshot drawn, and where they went."""
    with tempfile.TemporaryDirectory(prefix="lenet-viz-launch-") as home:  # the app's QSettings go here
        cmd, env = child_python("-c", LAUNCH_SCRIPT, *launch_args(config), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=home)
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=ROOT)
    line = next((x for x in done.stdout.splitlines() if x.startswith("LAUNCH ")), None)
    if line is None:
        raise RuntimeError(f"app benchmark: the launch probe failed: {done.stderr.strip()[-500:]}")
    t_start, t_imports, t_window, t_snapshot, t_painted, t_built = json.loads(line.split(" ", 1)[1])
    return {
        "launch_s": t_window - start,
        "launch_to_built_s": t_built - start,
        "launch_to_data_s": t_painted - start,
        "launch_breakdown_s": {
            "interpreter": t_start - start,
            "imports_and_qapp": t_imports - t_start,
            "window_drawn": t_window - t_imports,
            "first_snapshot": t_snapshot - t_window,
            "first_paint": t_painted - t_snapshot,
        },
    }


def soak(iterations: int) -> dict[str, Any]:
    """RSS over a long run of the app: `python -m lenet_viz.bench.soak` (its small, fast
    configuration: the figure is memory per iteration, not speed), in a child of its own so
    nothing the benchmark allocated counts."""
    with tempfile.TemporaryDirectory(prefix="lenet-viz-soak-") as tmp:
        out = Path(tmp) / "soak.json"
        cmd, env = child_python("-m", "lenet_viz.bench.soak", "--iterations", str(iterations), "--json", str(out),
                                QT_QPA_PLATFORM="offscreen")
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if not out.is_file():
            raise RuntimeError(f"app benchmark: the soak run failed: {done.stderr.strip()[-500:]}")
        r = json.loads(out.read_text())
    keep = ("ok", "failures", "iterations", "wall_s", "iters_per_s", "warmup_iterations", "rss_mb", "lost", "config")
    return {k: r.get(k) for k in keep}
