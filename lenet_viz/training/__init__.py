"""The Qt-free engine: configure, train phase by phase, observe.  Usable from scripts and notebooks."""

from .config import ConfigError, LossKind, OptimizerKind, TrainConfig, UpdateMode
from .history import MetricHistory
from .trainer import Trainer, resolve_device
from .types import ACTIVATION_SHAPES, AutogradNode, ParamRow, Phase, Snapshot, StepStats

__all__ = [
    "ACTIVATION_SHAPES", "AutogradNode", "ConfigError", "LossKind", "MetricHistory", "OptimizerKind",
    "ParamRow", "Phase", "Snapshot", "StepStats", "TrainConfig", "Trainer", "UpdateMode", "resolve_device",
]
