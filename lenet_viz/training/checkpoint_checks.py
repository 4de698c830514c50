"""The gatekeeper for checkpoint files from someone else: sizes before anything is read, then every value.

Why it is built this way:

- Before torch reads a byte: the file must be a zip (torch's format since 1.6) whose central
  directory declares few records and few bytes.  torch allocates what that directory declares,
  so bounding it is what stops a 1.5 MB file from inflating into a 1 GiB tensor.  Anything else
  (a plain pickle, torch's legacy format, damage) is never unpickled: a scan of its opcodes
  names the code a hostile pickle would have run.
- After loading (weights_only): exactly the known keys; the config validated; LeNet's shapes;
  finite, bounded weights; a true permutation as data order; the optimizer's buffers checked
  while its hyperparameters (lr, momentum, weight decay, maximize...) always come from the
  validated config; the metric history checked column by column.
- Everything raises `Refused(reason)`; checkpoint.py adds the file name.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model import LAYERS, LeNet
from .config import ConfigError, TrainConfig
from .history import check_state, columns_for
from .trainer import make_optimizer

FORMAT = "lenet-viz-checkpoint"
VERSION = 1
#: Counters every checkpoint holds (whole numbers >= 0).
COUNTERS = ("iteration", "samples_seen", "epoch", "cursor", "probe_index")
REQUIRED = ("architecture", "dataset", "torch_rng", "config", "model", "optimizer", "perm", "generator",
            "history", *COUNTERS)
#: Every key a checkpoint may hold; anything else is refused (add new Trainer.state_dict keys here).
KNOWN_KEYS = frozenset({"format", "version", "lenet_viz_version", "torch_version", "conv1_update", *REQUIRED})
#: Bounds on what the zip declares.  A real checkpoint (MNIST, Adam, full history) holds ~7 MB in ~50 records.
MAX_FILE_BYTES = 64 << 20
MAX_TOTAL_BYTES = 64 << 20
MAX_TENSOR_BYTES = 16 << 20
MAX_RECORDS = 1000
MAX_DIRECTORY_BYTES = 1 << 20
#: Largest |weight| accepted: trained LeNet weights stay below ~10; 1e6 is already a diverged run.
MAX_WEIGHT = 1e6
_OPTIMIZER_BUFFERS = {"adam": {"step", "exp_avg", "exp_avg_sq"}, "sgd": {"momentum_buffer"}}


class Refused(Exception):
    """The reason a checkpoint is refused, in the user's words (without the file name)."""


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB" if n < 1 << 30 else f"{n / (1 << 30):,.1f} GiB"


# ------------------------------------------------------------------ before reading
def inspect_file(path: Path, size: int) -> None:
    """Refuse, before torch reads anything, a file whose records could take too much memory or run code."""
    if size > MAX_FILE_BYTES:
        raise Refused(f"the file is {_mib(size)}; a lenet-viz checkpoint is at most {_mib(MAX_FILE_BYTES)}")
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, size - (1 << 16) - 22))
        tail = f.read()
    end = tail.rfind(b"PK\x05\x06")  # the zip's end record: how many records, how big a directory
    if end < 0 or len(tail) - end < 22:
        raise Refused(_not_a_zip(path, head))
    records = int.from_bytes(tail[end + 10 : end + 12], "little")
    directory = int.from_bytes(tail[end + 12 : end + 16], "little")
    if records > MAX_RECORDS or directory > MAX_DIRECTORY_BYTES:
        raise Refused(f"it declares {records:,} records in a {_mib(directory)} directory; a lenet-viz "
                      f"checkpoint has about 50 (refused before reading them)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise Refused("the file is truncated or damaged (it ends too early)") from None
    total = sum(i.file_size for i in infos)
    tensors = sum(i.file_size for i in infos if i.filename.rsplit("/", 2)[-2:-1] == ["data"])
    if total > MAX_TOTAL_BYTES or tensors > MAX_TENSOR_BYTES:
        raise Refused(f"it would unpack to {_mib(total)} ({_mib(tensors)} of tensors); a lenet-viz checkpoint "
                      f"holds at most {_mib(MAX_TENSOR_BYTES)} of tensors (refused before unpacking)")


def _not_a_zip(path: Path, head: bytes) -> str:
    if head.startswith(b"PK"):
        return "the file is truncated or damaged (it ends too early)"
    if head[:1] == b"\x80":  # a pickle: torch's legacy format, or a plain (possibly hostile) one
        code = _code_in_pickle(path)
        if code:
            return f"it refers to {code}, which is code, not data; refused without running anything"
        return "it is a plain pickle or a PyTorch file older than 1.6, not a lenet-viz checkpoint (not read)"
    return "the file is damaged or is not a lenet-viz checkpoint (it could not be read)"


def _code_in_pickle(path: Path) -> str | None:
    """The first callable a pickle names (module.name), found by parsing, never by unpickling."""
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(path.read_bytes())):
            if op.name in ("GLOBAL", "INST"):
                return ".".join(str(arg).split(" ", 1))
            if op.name == "STACK_GLOBAL":
                return ".".join(strings[-2:]) if len(strings) >= 2 else "a Python function"
            if op.name.startswith("EXT"):
                return "a registered Python function"
            if isinstance(arg, str):
                strings.append(arg)
    except (ValueError, EOFError, OSError, UnicodeDecodeError):
        return None
    return None


# ------------------------------------------------------------------- after reading
def validate(state: Any) -> dict[str, Any]:
    """`state` checked completely; returns it with the optimizer rebuilt (buffers from the file,
    hyperparameters from the validated config)."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise Refused("it is a PyTorch file, but not a lenet-viz checkpoint")
    version = state.get("version")
    if version != VERSION:
        from .. import __version__

        newer = isinstance(version, int) and not isinstance(version, bool) and version > VERSION
        hint = " (written by a newer lenet-viz; upgrade to open it)" if newer else ""
        raise Refused(f"unknown checkpoint version {version!r}; this lenet-viz {__version__} reads version {VERSION}{hint}")
    if missing := [k for k in REQUIRED if k not in state]:
        raise Refused(f"it is incomplete (no {', '.join(missing)})")
    if unknown := sorted(map(str, set(state) - KNOWN_KEYS)):
        raise Refused(f"it holds entries lenet-viz does not know ({', '.join(unknown[:5])}); refused")
    for key in ("dataset", "lenet_viz_version", "torch_version"):
        if key in state and not isinstance(state[key], str):
            raise Refused(f"its {key} is damaged (not text)")
    params = _check_architecture(state)
    try:
        config = TrainConfig.from_dict(dict(state["config"]))
    except (ConfigError, TypeError, ValueError) as e:
        raise Refused(f"its settings are invalid: {e}") from None
    for key in COUNTERS:
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
            raise Refused(f"its {key} must be a whole number >= 0, not {value!r}")
    _check_perm(state)
    for name, tensor in (*state["model"].items(), ("conv1_update", state.get("conv1_update"))):
        if not isinstance(tensor, torch.Tensor) or not tensor.numel():
            continue
        values = _values(tensor)
        if not np.isfinite(values).all():
            raise Refused(f"its {name} holds NaN or infinite values")
        if (largest := float(np.abs(values).max())) > MAX_WEIGHT:
            raise Refused(f"its {name} holds values beyond ±{MAX_WEIGHT:g} (largest {largest:.3g}): that run had diverged")
    return {**state, "optimizer": _dry_run(state, config, params)}


def _values(tensor: torch.Tensor) -> np.ndarray:
    """A float tensor's values for checking, via numpy (on a busy 2-core machine, 30x faster than torch ops)."""
    try:
        return tensor.detach().numpy()
    except TypeError:  # bfloat16 and friends
        return tensor.detach().float().numpy()


def _check_architecture(state: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """LeNet's {name: shape}, after checking the file declares and holds exactly those."""
    with torch.device("meta"):  # shapes only: no memory, no RNG
        expected = {name: tuple(p.shape) for name, p in LeNet().named_parameters()}
    model = state["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise Refused("its model weights are damaged")
    actual = _shapes([[k, list(v.shape)] for k, v in model.items()])
    for label, found in (("it declares", _shapes(state["architecture"])), ("its weights have", actual)):
        if found is None:
            raise Refused("its architecture description is damaged")
        for name, shape in expected.items():
            if found.get(name) != shape:
                have = f"no {name}" if name not in found else f"{name} of shape {found[name]}"
                raise Refused(f"it is for a different network: {label} {have}, but LeNet's {name} has shape {shape}")
        if extra := sorted(set(found) - set(expected)):
            raise Refused(f"it is for a different network: {label} parameters LeNet lacks ({', '.join(extra)})")
    if not all(v.is_floating_point() for v in model.values()):
        raise Refused("its model weights are not floating point")
    return expected


def _shapes(description: Any) -> dict[str, tuple[int, ...]] | None:
    """{name: shape} from [[name, [dims...]], ...]; None when it is not shaped like that."""
    try:
        return {str(name): tuple(int(d) for d in dims) for name, dims in description}
    except (TypeError, ValueError):
        return None


def _check_perm(state: dict[str, Any]) -> None:
    perm = state["perm"]
    if not (isinstance(perm, torch.Tensor) and perm.dim() == 1 and perm.dtype == torch.int64 and len(perm) > 0):
        raise Refused("its data order (perm) is damaged")
    if state["cursor"] > len(perm) or int(perm.min()) < 0 or int(perm.max()) >= len(perm):
        raise Refused("its data order (perm, cursor) does not fit its data")
    if not (np.bincount(perm.numpy(), minlength=len(perm)) == 1).all():  # numpy: 0.2 ms, torch.sort: ~400 ms
        raise Refused("its data order (perm) repeats some images and skips others; it is not a shuffle of the data")


def _dry_run(state: dict[str, Any], config: TrainConfig, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    """Load everything into scratch objects as Trainer.load_state_dict will; return the optimizer state to use."""
    what = "model weights"
    try:
        model = LeNet()
        model.load_state_dict(state["model"])
        what = "optimizer state"
        optimizer = make_optimizer(config, list(model.parameters()))
        clean = {"state": _optimizer_buffers(state["optimizer"], config, list(shapes.values())),
                 "param_groups": optimizer.state_dict()["param_groups"]}  # lr, momentum...: the config's, never the file's
        optimizer.load_state_dict(clean)
        what = "random number generator state"
        torch.Generator().set_state(state["generator"])
        rng = state["torch_rng"]
        if not (isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8 and rng.shape == torch.get_rng_state().shape):
            raise ValueError("not the byte tensor torch.set_rng_state takes")
        what = "metric history"
        check_state(state["history"], columns=columns_for(shapes, LAYERS))
        what = "last conv1 update"
        update = state.get("conv1_update")
        if update is not None and (not isinstance(update, torch.Tensor) or update.shape != shapes["conv1.weight"]):
            raise ValueError("wrong shape")
    except Refused:
        raise
    except Exception as e:  # noqa: BLE001 - whatever the scratch load objects to
        raise Refused(f"its {what} is damaged ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return clean


def _optimizer_buffers(saved: Any, config: TrainConfig, shapes: list[tuple[int, ...]]) -> dict[int, dict[str, Any]]:
    """The optimizer's per-parameter buffers, each checked: known names, LeNet's shapes, finite values."""
    kind = config.optimizer.value
    if not isinstance(saved, dict) or set(saved) != {"state", "param_groups"}:
        raise ValueError("expected exactly 'state' and 'param_groups'")
    groups = saved["param_groups"]
    if not (isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict)
            and groups[0].get("params") == list(range(len(shapes)))):
        raise ValueError(f"expected one parameter group holding LeNet's {len(shapes)} parameters")
    buffers = saved["state"]
    if not isinstance(buffers, dict) or not set(buffers) <= set(range(len(shapes))):
        raise ValueError("its buffers are not numbered by LeNet's parameters")
    for index, entry in buffers.items():
        for key, value in (entry.items() if isinstance(entry, dict) else [("?", entry)]):
            if key not in _OPTIMIZER_BUFFERS[kind]:
                raise ValueError(f"unexpected {key!r} for parameter {index} of a {kind} optimizer")
            if key == "step":
                step = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
                if isinstance(step, bool) or not isinstance(step, (int, float)) or not (0 <= step < 2**53 and step == int(step)):
                    raise ValueError(f"the step count of parameter {index} is {value!r}")
            elif not (isinstance(value, torch.Tensor) and value.is_floating_point() and value.shape == shapes[index]):
                raise ValueError(f"unexpected {key!r} for parameter {index} of a {kind} optimizer")
            elif not np.isfinite(_values(value)).all() or (key == "exp_avg_sq" and (_values(value) < 0).any()):
                raise ValueError(f"its {key} for parameter {index} holds NaN, infinite or impossible values")
    return buffers
