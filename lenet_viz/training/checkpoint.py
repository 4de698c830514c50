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
  is data, and a file from someone else must not be able to execute anything.  Before that,
  `checkpoint_checks.inspect_file` bounds what the file may make torch allocate.
- Loading validates everything (checkpoint_checks: keys, sizes, values, on a scratch model and
  optimizer) before the trainer is touched, so a bad file costs the user one clear message and
  never their current run.  The optimizer's hyperparameters always come from the validated
  config: a file can bring buffers, never an lr of 1e9 or `maximize=True`.
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
from ..data.files import missing_file
from .checkpoint_checks import FORMAT, VERSION, Refused, inspect_file, validate
from .config import ConfigError, TrainConfig
from .trainer import Trainer, resolve_device

#: Settings that describe this machine, not the run: a checkpoint never overrides them.
MACHINE_FIELDS = ("device", "threads", "data_dir")


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
    """Read and fully validate a checkpoint; raise CheckpointError naming the file if it is bad.

    The state returned is safe to apply: its optimizer state holds the file's buffers and
    the validated config's hyperparameters.
    """
    path = Path(path).expanduser()

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"cannot open checkpoint {path}: {why}")

    if (problem := missing_file(path)) is not None:
        raise bad(problem)
    try:
        size = path.stat().st_size
        if size == 0:
            raise bad("the file is empty")
        inspect_file(path, size)
        with warnings.catch_warnings():  # torch warns about odd pickles; the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Refused as e:
        raise bad(str(e)) from None
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
        return validate(state)
    except Refused as e:
        raise bad(str(e)) from None


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
    if not trainer.config.needs_new_data(config):
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


__all__ = [
    "FORMAT", "VERSION", "CheckpointError", "apply_checkpoint", "architecture", "checkpoint_config",
    "checkpoint_of", "load_checkpoint", "restore_checkpoint", "save_checkpoint",
]
