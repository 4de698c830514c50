"""Nested training state <-> JSON text + raw array blobs: a format that cannot run code.

A keyframe is `Trainer.state_dict()`: dicts (some with int keys, the optimizer's), lists,
tuples, numbers, strings and tensors.  Pickle would store that in one call, but loading a
pickle runs whatever the file says; a recording opened from someone else's cluster must not.
So the structure goes to JSON and every array to a blob of its raw bytes, named by a hash of
those bytes: identical arrays (the data order within an epoch, RNG states) are stored once.

Torch-free: tensors are recognised by duck typing and decoded as numpy arrays; the caller
turns those marked `torch` back into tensors (`decode(..., as_tensor=torch.from_numpy)`).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ARRAY, DICT, TUPLE = "$array", "$dict", "$tuple"


class CodecError(ValueError):
    """The structure or a blob does not decode (a damaged recording)."""


@dataclass
class Blob:
    codec: str  # "raw" or "zlib"
    data: bytes


@dataclass
class Encoded:
    """What one `encode` call produced: the JSON text and the blobs it refers to, by hash."""

    text: str
    blobs: dict[str, Blob] = field(default_factory=dict)  # new ones only
    refs: set[str] = field(default_factory=set)  # every hash the text refers to

    @property
    def nbytes(self) -> int:
        return len(self.text) + sum(len(b.data) for b in self.blobs.values())


def _as_array(value: Any) -> tuple[np.ndarray, bool] | None:
    """(array, came_from_torch) for tensors and numpy arrays, else None."""
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value), False
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor, without importing torch
        return np.ascontiguousarray(value.detach().cpu().numpy()), True
    return None


def encode(state: Any, known: Callable[[str], bool] = lambda _h: False) -> Encoded:
    """Encode `state`; blobs whose hash `known(hash)` says are already stored are not copied again."""
    out = Encoded("")

    def walk(x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, np.generic):
            return x.item()
        if (arr := _as_array(x)) is not None:
            a, from_torch = arr
            raw = a.tobytes()
            digest = hashlib.blake2b(raw, digest_size=16).hexdigest()
            out.refs.add(digest)
            if digest not in out.blobs and not known(digest):
                out.blobs[digest] = _pack(raw, a.dtype)
            node = {ARRAY: digest, "dtype": a.dtype.str, "shape": list(a.shape)}
            return {**node, "torch": True} if from_torch else node
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in x):
                return {k: walk(v) for k, v in x.items()}
            return {DICT: [[walk(k), walk(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {TUPLE: [walk(v) for v in x]}
        if isinstance(x, list):
            return [walk(v) for v in x]
        raise TypeError(f"cannot record a {type(x).__name__} (only tensors, arrays, numbers, strings, lists, dicts)")

    out.text = json.dumps(walk(state), separators=(",", ":"))
    return out


def _pack(raw: bytes, dtype: np.dtype) -> Blob:
    """Integer arrays (a data order of small indices in int64) shrink a lot; floats do not, so stay raw."""
    if dtype.kind in "iub" and len(raw) > 1024:
        packed = zlib.compress(raw, 1)
        if len(packed) < 0.75 * len(raw):
            return Blob("zlib", packed)
    return Blob("raw", raw)


def unpack(blob: Blob) -> bytearray:
    if blob.codec == "raw":
        return bytearray(blob.data)
    if blob.codec == "zlib":
        try:
            return bytearray(zlib.decompress(blob.data))
        except zlib.error as e:
            raise CodecError(f"a compressed array is damaged ({e})") from None
    raise CodecError(f"unknown array encoding {blob.codec!r}")


def decode(
    text: str, fetch: Callable[[str], Blob], as_tensor: Callable[[np.ndarray], Any] | None = None,
    only: Callable[[list[Any]], bool] | None = None,
) -> Any:
    """Rebuild the structure; `fetch(hash)` supplies blobs, `as_tensor` converts arrays that were tensors.

    `only(path)` (a path of keys from the root) can skip arrays nobody asked for: skipped ones
    decode as None and are never fetched (the filter export reads one 600-byte array per keyframe).
    """
    try:
        tree = json.loads(text)
    except (ValueError, TypeError) as e:
        raise CodecError(f"a keyframe's structure is damaged ({e})") from None

    def walk(x: Any, path: list[Any]) -> Any:
        if isinstance(x, list):
            return [walk(v, path + [i]) for i, v in enumerate(x)]
        if not isinstance(x, dict):
            return x
        if ARRAY in x:
            if only is not None and not only(path):
                return None
            return _array(x, fetch, as_tensor)
        if DICT in x:
            pairs = [(walk(k, path), v) for k, v in x[DICT]]
            return {k: walk(v, path + [k]) for k, v in pairs}
        if TUPLE in x:
            return tuple(walk(v, path + [i]) for i, v in enumerate(x[TUPLE]))
        return {k: walk(v, path + [k]) for k, v in x.items()}

    try:
        return walk(tree, [])
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CodecError(f"a keyframe's structure is damaged ({type(e).__name__}: {e})") from None


def _array(node: dict, fetch: Callable[[str], Blob], as_tensor: Callable[[np.ndarray], Any] | None) -> Any:
    dtype, shape = np.dtype(node["dtype"]), tuple(int(d) for d in node["shape"])
    data = unpack(fetch(node[ARRAY]))
    if hashlib.blake2b(data, digest_size=16).hexdigest() != node[ARRAY]:  # the name is a checksum too
        raise CodecError(f"an array of shape {shape} is damaged (its bytes do not match their checksum)")
    if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise CodecError(f"an array of shape {shape} has {len(data)} bytes (damaged)")
    a = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: it sits on a bytearray
    return as_tensor(a) if as_tensor is not None and node.get("torch") else a
