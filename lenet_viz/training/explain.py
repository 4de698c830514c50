"""Inside one step, with real numbers: the backward formula of a conv1 gradient, and the
tutorial's hand-written update beside optimizer.step().

`explain_conv1_grad` is pure numpy: it needs conv1's input and dL/d(conv1 output) of the batch,
which `Conv1Tap` keeps a reference to (two pointers per iteration, no copy, no arithmetic).
"""

from __future__ import annotations

import numpy as np
import torch

from .types import Conv1GradExplanation, UpdateComparison


class Conv1Tap:
    """Remembers conv1's input and the gradient that reaches its output in backward (the trainer's
    forward hands it both: `saw`)."""

    def __init__(self) -> None:
        self.input: torch.Tensor | None = None
        self.upstream: torch.Tensor | None = None  # dL/d(conv1 output), set during backward

    def saw(self, inputs: torch.Tensor, output: torch.Tensor) -> None:
        self.input, self.upstream = inputs, None
        if output.requires_grad:
            output.register_hook(self._backward)

    def _backward(self, grad: torch.Tensor) -> None:
        self.upstream = grad  # returning None leaves the gradient untouched

    def clear(self) -> None:
        """zero_grad ran: the gradient this tap explained is gone, and so is its memory."""
        self.input = self.upstream = None


def explain_conv1_grad(
    x: np.ndarray, upstream: np.ndarray, weight_grad: np.ndarray, bias_grad: np.ndarray, f: int, r: int, c: int
) -> Conv1GradExplanation:
    """dL/dw[f,0,r,c] = sum_b sum_ij x[b,0,i+r,j+c] * upstream[b,f,i,j], term by term.

    x: (B, 1, H, W) conv1's input; upstream: (B, F, H-k+1, W-k+1); weight_grad: (F, 1, k, k).
    """
    n_f, _, k, _ = weight_grad.shape
    if not (0 <= f < n_f and 0 <= r < k and 0 <= c < k):
        raise IndexError(f"conv1 gradient cell (filter {f}, row {r}, col {c}) is outside {n_f} filters of {k}x{k}")
    oh, ow = upstream.shape[2:]
    patches = x[:, 0, r : r + oh, c : c + ow].astype(np.float64)  # (B, oh, ow)
    g = upstream[:, f].astype(np.float64)
    products = patches * g
    per_image = products.sum(axis=(1, 2))
    return Conv1GradExplanation(
        filter=f, row=r, col=c,
        image=x[0, 0].astype(np.float32),
        patch=patches[0].astype(np.float32),
        upstream=g[0].astype(np.float32),
        product=products[0].astype(np.float32),
        batch_product=products.sum(axis=0).astype(np.float32),
        per_image=per_image.astype(np.float32),
        total=float(per_image.sum()),
        weight_grad=float(weight_grad[f, 0, r, c]),
        bias_total=float(g.sum()),
        bias_grad=float(bias_grad[f]),
    )  # fmt: skip


def compare_manual_update(named_params: list[tuple[str, torch.Tensor]], lr: float) -> UpdateComparison:
    """Apply the tutorial's `f.data.sub_(f.grad.data * learning_rate)` and `optim.SGD(lr, momentum=0).step()`
    to two copies of the weights; the live weights and optimizer are untouched."""
    missing = [n for n, p in named_params if p.grad is None]
    if missing:
        raise ValueError(f"{missing[0]}.grad is None: run BACKWARD first, then compare the updates")
    names = [n for n, _ in named_params]
    before = [p.detach().clone() for _, p in named_params]
    by_hand = [b.clone() for b in before]
    for f, (_, p) in zip(by_hand, named_params):  # the tutorial, verbatim
        f.data.sub_(p.grad.data * lr)
    by_optim = [b.clone().requires_grad_(True) for b in before]
    for q, (_, p) in zip(by_optim, named_params):
        q.grad = p.grad.detach().clone()
    torch.optim.SGD(by_optim, lr=lr, momentum=0).step()
    manual = {n: (a - b).cpu().numpy() for n, a, b in zip(names, by_hand, before)}
    optim = {n: (q.detach() - b).cpu().numpy() for n, q, b in zip(names, by_optim, before)}
    diff = {n: float(np.abs(manual[n] - optim[n]).max(initial=0.0)) for n in names}
    return UpdateComparison(lr=lr, manual=manual, optim=optim, max_abs_diff=diff)
