"""Forward hooks that watch the training batch as LeNet computes it.

Every training forward: which ReLU units are dead, i.e. output zero for every image of the
batch at every position (a channel of conv1/conv2, a neuron of fc1/fc2).  That is the unit's
pre-activation peak over the batch being <= 0: one max-reduction per layer (~0.2 ms an
iteration on one CPU thread for a batch of 64), read with the iteration's other numbers in
one host transfer.  On sampled iterations, also each layer's activation histogram.

Only the trainer's FORWARD phase is watched (`recording`): the probe image of a snapshot and
the held-out evaluation run the same modules and must not overwrite the batch's numbers.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from ..model import LeNet
from .histograms import Histograms
from .types import LAYERS, RELU_LAYERS


class ForwardWatch:
    """Hooks on conv1 ... fc3; `recording` and `sampling` are set by the trainer around its forward."""

    def __init__(self, model: LeNet, histograms: Histograms) -> None:
        self.recording = False
        self.sampling = False
        self.histograms = histograms
        self.activation_counts: dict[str, torch.Tensor] = {}
        self._peaks: dict[str, torch.Tensor] = {}
        self.sizes = [getattr(model, layer).weight.shape[0] for layer in RELU_LAYERS]  # channels / neurons
        self._dead: np.ndarray | None = None
        self._handles = [getattr(model, layer).register_forward_hook(partial(self._hook, layer)) for layer in LAYERS]

    def _hook(self, layer: str, _module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        if not self.recording:
            return
        out = output.detach()
        if layer not in ("fc3",):
            if out.dim() == 4:  # (batch, channels, h, w): the contiguous reduction first, it is the cheap one
                n, c = out.shape[:2]
                self._peaks[layer] = out.reshape(n * c, -1).amax(1).reshape(n, c).amax(0)
            else:
                self._peaks[layer] = out.amax(0)
        if self.sampling:
            self.activation_counts[layer] = self.histograms.activation(layer, out)

    def peaks(self) -> torch.Tensor | None:
        """Every unit's peak pre-activation over the last batch, concatenated; None before a forward."""
        if len(self._peaks) < len(RELU_LAYERS):
            return None
        return torch.cat([self._peaks[layer] for layer in RELU_LAYERS])

    def dead_relu(self, peaks: list[float]) -> dict[str, float]:
        """Fraction of dead units per layer, from `peaks()` read back as floats (NaN counts as alive)."""
        dead = np.asarray(peaks) <= 0
        self._dead = dead
        out, start = {}, 0
        for layer, size in zip(RELU_LAYERS, self.sizes):
            out[layer] = float(dead[start : start + size].sum()) / size
            start += size
        return out

    def dead_units(self) -> dict[str, np.ndarray]:
        """Per layer, True for each dead unit of the last batch: fresh arrays (empty before the first)."""
        if self._dead is None:
            return {}
        out, start = {}, 0
        for layer, size in zip(RELU_LAYERS, self.sizes):
            out[layer] = self._dead[start : start + size].copy()
            start += size
        return out

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
