"""Forward hooks that watch the training batch as LeNet computes it.

Every training forward: which ReLU units are dead, i.e. output zero for every image of the
batch at every position (a channel of conv1/conv2, a neuron of fc1/fc2).  Each is read from
the input of the layer after it, which is that ReLU's output, max-pooled for the conv layers:
a 2x2 max-pool of values >= 0 tiling the map exactly is zero only where all four are, so a
channel is dead iff its pooled map is all zero, and the pooled maps are 4x smaller to scan.
One sum per layer, read with the iteration's other numbers in one host transfer and counted
on the host (~1-2 % of an iteration, measured: see the README's "Break it").  On sampled iterations, also each
layer's activation histogram, from its output.

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

#: The ReLU layer whose output each layer receives as input.
_FED_BY = {"conv2": "conv1", "fc1": "conv2", "fc2": "fc1", "fc3": "fc2"}


class ForwardWatch:
    """Hooks on conv1 ... fc3; `recording` and `sampling` are set by the trainer around its forward."""

    def __init__(self, model: LeNet, histograms: Histograms) -> None:
        self.recording = False
        self.sampling = False
        self.histograms = histograms
        self.activation_counts: dict[str, torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self._last: list[float] | None = None  # the last batch's sums per unit, for dead_units()
        self.sizes = [getattr(model, layer).weight.shape[0] for layer in RELU_LAYERS]  # channels / neurons
        self._units = dict(zip(RELU_LAYERS, self.sizes))
        self._handles = [getattr(model, layer).register_forward_hook(partial(self._hook, layer)) for layer in LAYERS]

    def _hook(self, layer: str, _module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not self.recording:
            return
        relu = _FED_BY.get(layer)
        if relu is not None:  # this layer's input is `relu`'s output (pooled for conv): (batch, units, ...) >= 0
            # Values >= 0 sum to 0 only if all are 0: a sum (the cheapest reduction) tells a dead unit.
            fed = inputs[0].detach()
            if fed.dim() == 4:
                self._sums[relu] = fed.sum(dim=(0, 2, 3))
            elif fed.shape[1] == self._units[relu]:
                self._sums[relu] = fed.sum(0)
            else:  # fc1's input: conv2's 16 pooled 5x5 maps, flattened
                self._sums[relu] = fed.sum(0).reshape(self._units[relu], -1).sum(1)
        if self.sampling:
            self.activation_counts[layer] = self.histograms.activation(layer, output.detach())

    def dead_sums(self) -> torch.Tensor | None:
        """Every ReLU unit's output summed over the last batch, concatenated (for the iteration's one
        host read); None before a forward.  Counting on the host is cheaper than 3 more tiny kernels."""
        if len(self._sums) < len(RELU_LAYERS):
            return None
        return torch.cat([self._sums[layer] for layer in RELU_LAYERS])

    def dead_relu(self, sums: list[float]) -> dict[str, float]:
        """Fraction of dead units per layer, from `dead_sums()` read back as floats (NaN counts as alive)."""
        self._last = sums
        out, start = {}, 0
        for layer, size in zip(RELU_LAYERS, self.sizes):
            out[layer] = sum(v <= 0 for v in sums[start : start + size]) / size
            start += size
        return out

    def dead_units(self) -> dict[str, np.ndarray]:
        """Per layer, True for each dead unit of the last batch: fresh arrays (empty before the first)."""
        if self._last is None:
            return {}
        dead = np.asarray(self._last) <= 0
        bounds = np.cumsum([0, *self.sizes])
        return {layer: dead[a:b] for layer, a, b in zip(RELU_LAYERS, bounds[:-1], bounds[1:])}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
