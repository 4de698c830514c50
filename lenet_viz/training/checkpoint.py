"""Checkpoints: save a training run to one file and resume it bit for bit, safely.

Why it is built this way:

- A checkpoint is `Trainer.state_dict()` (weights, optimizer, iteration, data order, RNG
  state, metric history; the state at the start of the current iteration) plus a header
  (`format`, `version`, the lenet-viz version, the architecture), so a resumed run continues
  with exactly the losses the original would have produced, and a file that is not ours
  is recognised before anything is touched.
- Writing is atomic (temporary file in the same folder, fsync, `os.replace`): a full disk,
  a crash or an exception mid-save leaves the previous checkpoint intact and no debris.
- Reading uses `torch.load(weights_only=True)`, which refuses to run code: a checkpoint
  is data, and a file from someone else must not be able to execute anything.
- Loading validates everything (on a scratch model and optimizer) before the trainer is
  touched, so a bad file costs the user one clear message and never their current run.
"""

from __future__ import annotations

import os
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import DataError, load_dataset
from ..model import LeNet
from .config import ConfigError, TrainConfig
from .history import MetricHistory
from .trainer import Trainer, resolve_device

FORMAT = "lenet-viz-checkpoint"
VERSION = 1
#: Settings that describe this machine, not the run: a checkpoint never overrides them.
MACHINE_FIELDS = ("device", "threads", "data_dir")
_COUNTERS = ("iteration", "samples_seen", "epoch", "cursor", "probe_index")


class CheckpointError(DataError):
    """A checkpoint cannot be written or read; the message names the file and says why.

    A DataError (the user's file, worded for the user), so every place that shows data
    errors as-is, the training worker included, shows this one as-is too.
    """


def architecture(model: torch.nn.Module) -> list[list[Any]]:
    """[[name, [shape...]], ...] for every parameter: plain lists, readable with weights_only."""
    return [[name, list(p.shape)] for name, p in model.named_parameters()]


def checkpoint_of(trainer: Trainer) -> dict[str, Any]:
    """Everything a checkpoint file holds, as plain types and CPU tensors."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "lenet_viz_version": __version__,
        "torch_version": str(torch.__version__),  # a str subclass weights_only refuses
        "architecture": architecture(trainer.model),
        "dataset": trainer.dataset.name,  # what "auto" meant when it was saved
        "torch_rng": torch.get_rng_state(),
        **trainer.state_dict(),
    }


def save_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> Path:
    """Write `trainer`'s state to `path` atomically; return the path written.

    A failure at any point leaves an existing file at `path` as it was and removes the
    temporary file.  Raises CheckpointError with the reason (disk full, no such folder...).
    """
    path = Path(path).expanduser()
    state = checkpoint_of(trainer)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # os.open (not mkstemp) so the file gets the user's umask, like any file they save.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            if path.is_dir():
                raise IsADirectoryError(f"{path} is a folder")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise CheckpointError(f"cannot save checkpoint {path}: {e.strerror or e}") from e
    except Exception as e:  # noqa: BLE001 - anything else torch.save might raise, in the user's terms
        raise CheckpointError(f"cannot save checkpoint {path}: {type(e).__name__}: {e}") from e
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and fully validate a checkpoint; raise CheckpointError naming the file if it is bad."""
    path = Path(path).expanduser()

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"cannot open checkpoint {path}: {why}")

    if not path.exists():
        raise bad("no such file")
    if not path.is_file():
        raise bad("not a file")
    try:
        if path.stat().st_size == 0:
            raise bad("the file is empty")
        with warnings.catch_warnings():  # torch warns about odd pickles; the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except OSError as e:
        raise bad(e.strerror or str(e)) from e
    except Exception as e:  # noqa: BLE001 - torch reports damage with many types
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise bad(f"it refers to {found.group(1)}, which is code, not data; refused without running anything") from e
        if isinstance(e, EOFError) or "central directory" in str(e):
            raise bad("the file is truncated or damaged (it ends too early)") from e
        raise bad("the file is damaged or is not a lenet-viz checkpoint (it could not be read)") from e
    try:
        _validate(state)
    except CheckpointError as e:
        raise bad(str(e)) from None
    return state


def checkpoint_config(state: dict[str, Any], local: TrainConfig) -> TrainConfig:
    """The run's settings from the checkpoint, with this machine's device, threads and data_dir."""
    saved = {k: v for k, v in state["config"].items() if k not in MACHINE_FIELDS}
    return TrainConfig.from_dict({**saved, **{k: getattr(local, k) for k in MACHINE_FIELDS}})


def apply_checkpoint(trainer: Trainer, state: dict[str, Any], source: str | os.PathLike[str] = "checkpoint") -> None:
    """Restore a state from `load_checkpoint` into `trainer` (it resumes at the saved iteration).

    The data is checked against the checkpoint before anything changes; should restoring
    still fail, the trainer's previous state is put back.  `source` names the file in errors.
    """
    config = checkpoint_config(state, trainer.config)
    if (config.dataset, config.data_dir, config.seed) == (trainer.config.dataset, trainer.config.data_dir, trainer.config.seed):
        dataset = trainer.dataset
    else:
        try:
            dataset = load_dataset(config.dataset, config.data_dir, seed=config.seed)
        except DataError as e:
            raise CheckpointError(f"cannot open checkpoint {source}: its data is not available here: {e}") from e
    n = len(state["perm"])
    if dataset.name != state["dataset"] or dataset.num_train != n:
        raise CheckpointError(
            f"cannot open checkpoint {source}: it was trained on {state['dataset']} ({n:,} training images), "
            f"but dataset {config.dataset!r} here is {dataset.name} ({dataset.num_train:,})"
        )
    try:
        resolve_device(config.device)
    except ConfigError as e:
        raise CheckpointError(f"cannot open checkpoint {source}: {e}") from e
    before = trainer.state_dict()
    old_dataset, old_config = trainer.dataset, trainer.config
    try:
        trainer.dataset = dataset  # already loaded and checked: load_state_dict keeps it
        trainer.config = old_config.replace(dataset=config.dataset, data_dir=config.data_dir)
        trainer.load_state_dict({**state, "config": config.to_dict()})
        torch.set_rng_state(state["torch_rng"])
    except Exception as e:
        trainer.dataset, trainer.config = old_dataset, old_config
        trainer.load_state_dict(before)
        raise CheckpointError(f"cannot open checkpoint {source}: {type(e).__name__}: {e}") from e


def restore_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> dict[str, Any]:
    """load_checkpoint + apply_checkpoint; returns the validated state."""
    state = load_checkpoint(path)
    apply_checkpoint(trainer, state, path)
    return state


# ------------------------------------------------------------------------ validation
def _validate(state: Any) -> None:
    """Raise CheckpointError (reason only) unless `state` is a complete version-1 checkpoint."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError("it is a PyTorch file, but not a lenet-viz checkpoint")
    version = state.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        hint = " (written by a newer lenet-viz; upgrade to open it)" if newer else ""
        raise CheckpointError(f"unknown checkpoint version {version!r}; this lenet-viz {__version__} reads version {VERSION}{hint}")
    missing = [k for k in ("architecture", "dataset", "torch_rng", "config", "model", "optimizer", "perm",
                           "generator", "history", *_COUNTERS) if k not in state]
    if missing:
        raise CheckpointError(f"it is incomplete (no {', '.join(missing)})")
    _check_architecture(state)
    try:
        config = TrainConfig.from_dict(dict(state["config"]))
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"its settings are invalid: {e}") from None
    for key in _COUNTERS:
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CheckpointError(f"its {key} must be a whole number >= 0, not {value!r}")
    perm = state["perm"]
    if not (isinstance(perm, torch.Tensor) and perm.dim() == 1 and perm.dtype == torch.int64 and len(perm) > 0):
        raise CheckpointError("its data order (perm) is damaged")
    if state["cursor"] > len(perm) or int(perm.min()) < 0 or int(perm.max()) >= len(perm):
        raise CheckpointError("its data order (perm, cursor) does not fit its data")
    if not isinstance(state["dataset"], str):
        raise CheckpointError("its dataset name is damaged")
    _check_dry_run(state, config)


def _check_architecture(state: dict[str, Any]) -> None:
    with torch.device("meta"):  # shapes only: no memory, no RNG
        expected = dict(_shapes(architecture(LeNet())) or {})
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise CheckpointError("its model weights are damaged")
    actual = _shapes([[k, list(v.shape)] for k, v in model.items()])
    for label, found in (("it declares", _shapes(state["architecture"])), ("its weights have", actual)):
        if found is None:
            raise CheckpointError("its architecture description is damaged")
        for name, shape in expected.items():
            if found.get(name) != shape:
                have = f"no {name}" if name not in found else f"{name} of shape {found[name]}"
                raise CheckpointError(f"it is for a different network: {label} {have}, but LeNet's {name} has shape {shape}")
        if extra := sorted(set(found) - set(expected)):
            raise CheckpointError(f"it is for a different network: {label} parameters LeNet lacks ({', '.join(extra)})")
    if not all(v.is_floating_point() for v in model.values()):
        raise CheckpointError("its model weights are not floating point")


def _shapes(description: Any) -> dict[str, tuple[int, ...]] | None:
    """{name: shape} from [[name, [dims...]], ...]; None when it is not shaped like that."""
    try:
        return {str(name): tuple(int(d) for d in dims) for name, dims in description}
    except (TypeError, ValueError):
        return None


def _check_dry_run(state: dict[str, Any], config: TrainConfig) -> None:
    """Load everything into scratch objects exactly as Trainer.load_state_dict will."""
    what = "model weights"
    try:
        model = LeNet()
        model.load_state_dict(state["model"])
        what = "optimizer state"
        params = list(model.parameters())
        optimizer = (torch.optim.Adam(params, lr=config.lr) if config.optimizer.value == "adam"
                     else torch.optim.SGD(params, lr=config.lr, momentum=config.momentum))
        optimizer.load_state_dict(state["optimizer"])
        allowed = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": {"momentum_buffer"}}[config.optimizer.value]
        for index, buffers in optimizer.state_dict()["state"].items():
            for key, value in buffers.items():
                shaped = key == "step" or (isinstance(value, torch.Tensor) and value.shape == params[index].shape)
                if key not in allowed or not shaped:
                    raise ValueError(f"unexpected {key!r} for parameter {index} of a {config.optimizer.value} optimizer")
        what = "random number generator state"
        torch.Generator().set_state(state["generator"])
        if not (isinstance(state["torch_rng"], torch.Tensor) and state["torch_rng"].dtype == torch.uint8):
            raise ValueError("not a byte tensor")
        what = "metric history"
        MetricHistory().load_state_dict(state["history"])
        what = "last conv1 update"
        update = state.get("conv1_update")
        if update is not None and (not isinstance(update, torch.Tensor) or update.shape != params[0].shape):
            raise ValueError("wrong shape")
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the scratch load objects to
        raise CheckpointError(f"its {what} is damaged ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


__all__ = [
    "FORMAT", "VERSION", "CheckpointError", "apply_checkpoint", "architecture", "checkpoint_config",
    "checkpoint_of", "load_checkpoint", "restore_checkpoint", "save_checkpoint",
]
