"""Training configuration: one validated dataclass shared by the CLI, the app and scripts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .bugs import BUGS


class ConfigError(ValueError):
    """A configuration value a user chose is not allowed; the message names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class OptimizerKind(str, Enum):
    SGD = "sgd"
    ADAM = "adam"


class LossKind(str, Enum):
    CROSS_ENTROPY = "cross_entropy"
    MSE = "mse"  # on one-hot targets, as the tutorial's MSELoss


class UpdateMode(str, Enum):
    OPTIM = "optim"  # torch.optim does the update
    MANUAL = "manual"  # the tutorial's p.data.sub_(p.grad.data * lr)


DATASETS = ("auto", "mnist", "digits", "random")
DEVICES = ("auto", "cpu", "cuda")


def _choice(field_name: str, value: Any, enum: type[Enum]) -> Enum:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ConfigError(field_name, f"must be one of {allowed} (got {value!r})") from None


@dataclass
class TrainConfig:
    """Everything that decides how LeNet trains.  Defaults train MNIST to >97% in one epoch."""

    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    optimizer: OptimizerKind = OptimizerKind.SGD
    loss: LossKind = LossKind.CROSS_ENTROPY
    update: UpdateMode = UpdateMode.OPTIM
    seed: int = 0
    dataset: str = "auto"
    data_dir: str | None = None
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    eval_every: int = 250  # iterations between held-out evaluations (0 = never)
    eval_samples: int = 500  # held-out images per periodic evaluation (~2 % of training time)
    bugs: frozenset[str] = frozenset()  # the bug lab's switches (names in training/bugs.py), live
    histogram_every: int = 50  # iterations between weight/gradient/activation histograms (0 = never)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field and what is allowed."""
        self.optimizer = _choice("optimizer", self.optimizer, OptimizerKind)  # type: ignore[assignment]
        self.loss = _choice("loss", self.loss, LossKind)  # type: ignore[assignment]
        self.update = _choice("update", self.update, UpdateMode)  # type: ignore[assignment]
        _number("lr", self.lr, float)
        if not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise ConfigError("lr", f"must be a number in (0, 10] (got {self.lr!r})")
        _number("momentum", self.momentum, float)
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ConfigError("momentum", f"must be in [0, 1) (got {self.momentum!r})")
        _number("batch_size", self.batch_size, int)
        if not 1 <= self.batch_size <= 4096:
            raise ConfigError("batch_size", f"must be an integer from 1 to 4096 (got {self.batch_size!r})")
        _number("seed", self.seed, int)
        if not 0 <= self.seed < 2**63:
            raise ConfigError("seed", f"must be a non-negative integer (got {self.seed!r})")
        _number("threads", self.threads, int)
        if not 0 <= self.threads <= 256:
            raise ConfigError("threads", f"must be 0 (torch default) to 256 (got {self.threads!r})")
        _number("eval_every", self.eval_every, int)
        if self.eval_every < 0:
            raise ConfigError("eval_every", f"must be >= 0 (got {self.eval_every!r})")
        _number("eval_samples", self.eval_samples, int)
        if self.eval_samples < 1:
            raise ConfigError("eval_samples", f"must be >= 1 (got {self.eval_samples!r})")
        _number("histogram_every", self.histogram_every, int)
        if self.histogram_every < 0:
            raise ConfigError("histogram_every", f"must be >= 0 (got {self.histogram_every!r})")
        self.bugs = _bugs(self.bugs)
        if self.dataset not in DATASETS:
            raise ConfigError("dataset", f"must be one of {', '.join(DATASETS)} (got {self.dataset!r})")
        if self.device not in DEVICES:
            raise ConfigError("device", f"must be one of {', '.join(DEVICES)} (got {self.device!r})")
        if self.update is UpdateMode.MANUAL:
            if self.optimizer is not OptimizerKind.SGD:
                raise ConfigError("update", "'manual' is the tutorial's plain SGD step; choose optimizer sgd")
            if self.momentum != 0:
                raise ConfigError(
                    "momentum", "the manual update is plain SGD (p -= lr * grad); set momentum to 0"
                )

    def needs_new_data(self, other: "TrainConfig") -> bool:
        """True when training with `other` instead of this needs its data loaded again: another source or
        folder, or the random source with another seed (its images follow the seed)."""
        if (self.dataset, self.data_dir) != (other.dataset, other.data_dir):
            return True
        return other.dataset == "random" and other.seed != self.seed

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (safe for JSON and weights_only checkpoints)."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, Enum):
                d[k] = v.value
        d["bugs"] = sorted(self.bugs)  # a list: JSON and weights_only know no frozenset
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(sorted(unknown)[0], "is not a configuration field")
        return cls(**d)


def _bugs(value: Any) -> frozenset[str]:
    """Any collection of bug names (a list from a dict, a set from code) as a frozenset."""
    allowed = ", ".join(BUGS)
    if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)):
        raise ConfigError("bugs", f"must be a set of bug names from {allowed} (got {value!r})")
    unknown = sorted(str(v) for v in value if v not in BUGS)
    if unknown:
        raise ConfigError("bugs", f"unknown bug {unknown[0]!r}; choose from {allowed}")
    return frozenset(value)


def _number(field_name: str, value: Any, kind: type) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        what = "a number" if kind is float else "an integer"
        raise ConfigError(field_name, f"must be {what} (got {value!r})")
