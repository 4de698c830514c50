"""Norms, copies and differences of lists of tensors: torch's fused `_foreach_*` kernels where they
exist (one kernel launch for all ten parameters), public per-tensor ops where they do not.

The `_foreach_*` functions are private: a torch release may rename or drop them, so every use
goes through here, and the fallback is tested (tests/training/test_foreach.py).
"""

from __future__ import annotations

import torch

_NORM = getattr(torch, "_foreach_norm", None)
_COPY = getattr(torch, "_foreach_copy_", None)
_SUB = getattr(torch, "_foreach_sub_", None)


def norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The L2 norm of each tensor (0-d tensors, still on the device)."""
    if _NORM is not None:
        return list(_NORM(tensors))
    return [torch.linalg.vector_norm(t) for t in tensors]


def copy_(dst: list[torch.Tensor], src: list[torch.Tensor]) -> None:
    """dst[i] <- src[i], in place."""
    if _COPY is not None:
        _COPY(dst, src)
        return
    for d, s in zip(dst, src):
        d.copy_(s)


def sub_(dst: list[torch.Tensor], other: list[torch.Tensor]) -> None:
    """dst[i] -= other[i], in place."""
    if _SUB is not None:
        _SUB(dst, other)
        return
    for d, o in zip(dst, other):
        d.sub_(o)
