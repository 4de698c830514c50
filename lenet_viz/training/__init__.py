"""The Qt-free engine: configure, train phase by phase, observe.  Usable from scripts and notebooks.

`Trainer` (and torch with it) loads on first use: the app's GUI process needs only the data
types and never trains, so it starts without paying for torch.
"""

from typing import Any

from .config import ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode
from .history import MetricHistory
from .types import ACTIVATION_SHAPES, AutogradNode, ParamRow, Phase, RunInfo, Snapshot, StepStats

__all__ = [
    "ACTIVATION_SHAPES", "AutogradNode", "ConfigError", "LossKind", "MetricHistory", "OptimizerKind",
    "ParamRow", "Phase", "Recorder", "Recording", "RecordingError", "RunInfo", "Snapshot", "StepStats", "TrainConfig",
    "Trainer", "UpdateMode", "resolve_device",
]

#: Loaded on first use: name -> submodule (Recording and RecordingError are torch-free, Recorder is not).
_LAZY = {"Trainer": "trainer", "resolve_device": "trainer", "Recording": "recording", "RecordingError": "recording_store",
         "Recorder": "recorder"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
