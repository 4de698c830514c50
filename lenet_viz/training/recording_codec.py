"""Nested training state <-> JSON text + raw array blobs: a format that cannot run code.

A keyframe is `Trainer.state_dict()`: dicts (some with int keys, the optimizer's), lists,
tuples, numbers, strings and tensors.  Pickle would store that in one call, but loading a
pickle runs whatever the file says; a recording opened from someone else's cluster must not.
So the structure goes to JSON and every array to a blob of its raw bytes, named by a hash of
those bytes: identical arrays (the data order within an epoch, RNG states) are stored once.
The name is SHA-256 (64 hex digits; with the CPU's SHA instructions ~2x faster than BLAKE2b:
a keyframe hashes ~1 MB) of the array's bytes as recorded; integer arrays are stored narrowed
("narrow:<u2").  Format version 1 (BLAKE2b-128 names, 32 hex digits; zlib for integers) still reads.

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
SEEN_BYTES = 64 * 1024  # arrays this large are remembered for `encode(seen=...)`
NARROW = "narrow:"  # a blob codec: integers stored as the numpy type named after it, widened when read


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


def encode(state: Any, known: Callable[[str], bool] = lambda _h: False,
           seen: dict[int, tuple[Any, dict]] | None = None) -> Encoded:
    """Encode `state`; blobs whose hash `known(hash)` says are already stored are not copied again.

    `seen` (id -> (array, its node)) names arrays an earlier call encoded: the very same object, which the
    caller promises nobody changed in place (the trainer's data order, replaced each epoch), is not read,
    hashed or packed again (~0.5 ms for 60,000 indices).  This call's large arrays are left in it."""
    out = Encoded("")
    remembered = {} if seen is None else seen
    now: dict[int, tuple[Any, dict]] = {}

    def walk(x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, np.generic):
            return x.item()
        if (hit := remembered.get(id(x))) is not None and hit[0] is x and known(hit[1][ARRAY]):
            now[id(x)] = hit
            out.refs.add(hit[1][ARRAY])
            return hit[1]
        if (arr := _as_array(x)) is not None:
            a, from_torch = arr
            raw = a.tobytes()
            digest = checksum(raw)
            out.refs.add(digest)
            if digest not in out.blobs and not known(digest):
                out.blobs[digest] = _pack(a, raw)
            node = {ARRAY: digest, "dtype": a.dtype.str, "shape": list(a.shape)}
            node = {**node, "torch": True} if from_torch else node
            if len(raw) >= SEEN_BYTES:
                now[id(x)] = (x, node)
            return node
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
    if seen is not None:
        seen.clear()
        seen.update(now)
    return out


def checksum(data: bytes | bytearray, like: str = "") -> str:
    """The name of a blob holding `data`: SHA-256, or BLAKE2b-128 where `like` is a 32-digit name (older files)."""
    if len(like) == 32:
        return hashlib.blake2b(data, digest_size=16).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _pack(a: np.ndarray, raw: bytes) -> Blob:
    """Integer arrays are stored in the narrowest integer type that holds their values (a data order of
    60,000 indices in int64: 469 KB -> 117 KB as uint16, in ~0.1 ms; zlib took ~10 ms for 172 KB, and
    spaced the keyframe after it ~30 iterations later); floats do not shrink, so stay raw."""
    if a.dtype.kind in "iu" and len(raw) > 1024:
        narrow = np.result_type(np.min_scalar_type(a.min()), np.min_scalar_type(a.max()))
        if narrow.kind in "iu" and narrow.itemsize < a.dtype.itemsize:
            return Blob(f"{NARROW}{narrow.str}", a.astype(narrow).tobytes())
    return Blob("raw", raw)


def unpack(blob: Blob, dtype: np.dtype) -> bytearray:
    """The array's bytes in `dtype`, the type it was recorded in."""
    if blob.codec == "raw":
        return bytearray(blob.data)
    if blob.codec.startswith(NARROW):
        try:
            stored = np.dtype(blob.codec[len(NARROW):])
            if stored.kind not in "iu" or len(blob.data) % stored.itemsize:
                raise ValueError(f"{len(blob.data)} bytes of {stored}")
            return bytearray(np.frombuffer(blob.data, dtype=stored).astype(dtype).tobytes())
        except (TypeError, ValueError) as e:
            raise CodecError(f"a narrowed integer array is damaged ({e})") from None
    if blob.codec == "zlib":  # recordings of format version 1
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
    data = unpack(fetch(node[ARRAY]), dtype)
    if checksum(data, like=node[ARRAY]) != node[ARRAY]:  # the name is a checksum too
        raise CodecError(f"an array of shape {shape} is damaged (its bytes do not match their checksum)")
    if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise CodecError(f"an array of shape {shape} has {len(data)} bytes (damaged)")
    a = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: it sits on a bytearray
    return as_tensor(a) if as_tensor is not None and node.get("torch") else a
