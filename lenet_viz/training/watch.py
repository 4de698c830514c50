"""The training batch's forward pass, watched as LeNet computes it.

`ForwardWatch.forward` is `LeNet.forward` step by step (a test proves the output equal bit for bit),
keeping what the health check and the formula need on the way, with no module hooks: hooks send
every layer call through torch's slow path (~0.3 ms an iteration, measured with the bench).

Every training forward: which ReLU units are dead, i.e. output zero for every image of the batch
at every position (a channel of conv1/conv2, a neuron of fc1/fc2).  A conv channel is read from
its max-pooled map: a 2x2 max-pool of values >= 0 tiling the map exactly is zero only where all
four are, so a channel is dead iff its pooled map is all zero, and the pooled maps are 4x smaller
to scan.  One sum per layer, read with the iteration's other numbers in one host transfer and
counted on the host (~1-2 % of an iteration, measured: see the README's "Break it").  On sampled
iterations, also each layer's activation histogram, from its output.

Only the trainer's FORWARD phase goes through here: the probe image of a snapshot and the held-out
evaluation call the model itself and never touch the batch's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import LeNet
from .histograms import Histograms
from .types import RELU_LAYERS


class ForwardWatch:
    """Runs the batch's forward; `sampling` (set by the trainer) adds the activation histograms."""

    def __init__(self, model: LeNet, histograms: Histograms) -> None:
        self.sampling = False
        self.histograms = histograms
        self.activation_counts: dict[str, torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self._last: list[float] | None = None  # the last batch's sums per unit, for dead_units()
        self.sizes = [getattr(model, layer).weight.shape[0] for layer in RELU_LAYERS]  # channels / neurons
        self._starts = np.cumsum([0, *self.sizes[:-1]])

    def forward(self, model: LeNet, x: torch.Tensor,
                on_conv1: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
        """`model(x)`, the same operations in the same order; `on_conv1(input, output)` sees conv1."""
        conv1 = model.conv1(x)
        if on_conv1 is not None:
            on_conv1(x, conv1)
        pool1 = F.max_pool2d(F.relu(conv1), (2, 2))
        conv2 = model.conv2(pool1)
        pool2 = F.max_pool2d(F.relu(conv2), 2)
        fc1 = model.fc1(torch.flatten(pool2, 1))
        relu1 = F.relu(fc1)
        fc2 = model.fc2(relu1)
        relu2 = F.relu(fc2)
        out = model.fc3(relu2)
        # Values >= 0 sum to 0 only if all are 0: a sum (the cheapest reduction) tells a dead unit.
        self._sums = {"conv1": pool1.detach().sum(dim=(0, 2, 3)), "conv2": pool2.detach().sum(dim=(0, 2, 3)),
                      "fc1": relu1.detach().sum(0), "fc2": relu2.detach().sum(0)}
        if self.sampling:
            outputs = {"conv1": conv1, "conv2": conv2, "fc1": fc1, "fc2": fc2, "fc3": out}
            self.activation_counts = {k: self.histograms.activation(k, v.detach()) for k, v in outputs.items()}
        return out

    def dead_sums(self) -> torch.Tensor | None:
        """Every ReLU unit's output summed over the last batch, concatenated (for the iteration's one
        host read); None before a forward.  Counting on the host is cheaper than 3 more tiny kernels."""
        if len(self._sums) < len(RELU_LAYERS):
            return None
        return torch.cat([self._sums[layer] for layer in RELU_LAYERS])

    def dead_relu(self, sums: list[float]) -> dict[str, float]:
        """Fraction of dead units per layer, from `dead_sums()` read back as floats (NaN counts as alive)."""
        self._last = sums
        dead = np.add.reduceat(np.asarray(sums) <= 0, self._starts)
        return {layer: int(n) / size for layer, n, size in zip(RELU_LAYERS, dead, self.sizes)}

    def dead_units(self) -> dict[str, np.ndarray]:
        """Per layer, True for each dead unit of the last batch: fresh arrays (empty before the first)."""
        if self._last is None:
            return {}
        dead = np.asarray(self._last) <= 0
        bounds = np.cumsum([0, *self.sizes])
        return {layer: dead[a:b] for layer, a, b in zip(RELU_LAYERS, bounds[:-1], bounds[1:])}
