"""Forward hooks that watch the training batch as LeNet computes it.

Every training forward: which ReLU units are dead, i.e. output zero for every image of the
batch at every position (a channel of conv1/conv2, a neuron of fc1/fc2).  Each is read from
the input of the layer after it, which is that ReLU's output, max-pooled for the conv layers:
a 2x2 max-pool of values >= 0 tiling the map exactly is zero only where all four are, so a
channel is dead iff its pooled map is all zero, and the pooled maps are 4x smaller to scan.
One max-reduction per layer (~0.1 ms an iteration for a batch of 64 on one CPU thread), read
with the iteration's other numbers in one host transfer.  On sampled iterations, also each
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
        self._peaks: dict[str, torch.Tensor] = {}
        self._last: torch.Tensor | None = None  # the last batch's peaks, for dead_units()
        self.sizes = [getattr(model, layer).weight.shape[0] for layer in RELU_LAYERS]  # channels / neurons
        # Sums a 0/1 "dead" vector into one count per layer with one small matmul, so the host reads 4 numbers.
        bounds = np.cumsum([0, *self.sizes])
        self._per_layer = torch.zeros(bounds[-1], len(self.sizes), device=next(model.parameters()).device)
        for j, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            self._per_layer[a:b, j] = 1.0
        self._handles = [getattr(model, layer).register_forward_hook(partial(self._hook, layer)) for layer in LAYERS]

    def _hook(self, layer: str, _module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not self.recording:
            return
        relu = _FED_BY.get(layer)
        if relu is not None:  # this layer's input is `relu`'s output (pooled for conv): (batch, units, ...) >= 0
            fed = inputs[0].detach()
            if fed.dim() == 4:
                self._peaks[relu] = fed.amax(dim=(0, 2, 3))
            else:  # batch first: one long contiguous reduction, then the short per-unit one (4x faster)
                self._peaks[relu] = fed.amax(0).reshape(self.sizes[RELU_LAYERS.index(relu)], -1).amax(1)
        if self.sampling:
            self.activation_counts[layer] = self.histograms.activation(layer, output.detach())

    def dead_counts(self) -> torch.Tensor | None:
        """Dead units per layer in the last batch (a float tensor of 4, for the host read); None before a forward."""
        if len(self._peaks) < len(RELU_LAYERS):
            return None
        self._last = torch.cat([self._peaks[layer] for layer in RELU_LAYERS])
        return (self._last <= 0).float() @ self._per_layer  # NaN peaks count as alive

    def dead_relu(self, counts: list[float]) -> dict[str, float]:
        """Fraction of dead units per layer, from `dead_counts()` read back as floats."""
        return {layer: count / size for layer, count, size in zip(RELU_LAYERS, counts, self.sizes)}

    def dead_units(self) -> dict[str, np.ndarray]:
        """Per layer, True for each dead unit of the last batch: fresh arrays (empty before the first)."""
        if self._last is None:
            return {}
        dead = (self._last <= 0).cpu().numpy()
        bounds = np.cumsum([0, *self.sizes])
        return {layer: dead[a:b].copy() for layer, a, b in zip(RELU_LAYERS, bounds[:-1], bounds[1:])}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
