"""The training batch's forward pass, watched as LeNet computes it.

`forward_layers` is `LeNet.forward` step by step (a test proves the output equal bit for bit), keeping
every layer's output; `ForwardWatch.forward` takes from it what the health check and the formula
need, with no module hooks: hooks send every layer call through torch's slow path (~0.3 ms an
iteration, measured with the bench).

Every training forward: which ReLU units are dead, i.e. output zero for every image of the batch
at every position (a channel of conv1/conv2, a neuron of fc1/fc2).  A conv channel is read from
its max-pooled map: a 2x2 max-pool of values >= 0 tiling the map exactly is zero only where all
four are, so a channel is dead iff its pooled map is all zero, and the pooled maps are 4x smaller
to scan.  One sum per layer, read with the iteration's other numbers in one host transfer and
counted on the host (~1-2 % of an iteration, measured: see the README's "Break it").  On sampled
iterations, also each layer's activation histogram, from its output.

Only the trainer's FORWARD phase goes through `ForwardWatch`: a snapshot's probe image (`forward_layers`
alone) and the held-out evaluation never touch the batch's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import LeNet
from .histograms import Histograms
from .types import RELU_LAYERS


def forward_layers(model: LeNet, x: torch.Tensor,
                   on_conv1: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> dict[str, torch.Tensor]:
    """`LeNet.forward` step by step, the same operations in the same order, keeping every layer's
    output: "conv1" ... "fc2" before their ReLU, "relu_conv1" ... "relu_fc2" after it, "pool1",
    "pool2", and "output" (fc3, what `model(x)` returns).  `on_conv1(input, output)` sees conv1.
    The training batch's forward and a snapshot's probe image both go through here."""
    # The modules themselves, not their functions: a hook someone puts on a layer (a notebook, a test)
    # still sees what the network is fed.
    conv1 = model.conv1(x)
    if on_conv1 is not None:
        on_conv1(x, conv1)
    relu_conv1 = F.relu(conv1)
    pool1 = F.max_pool2d(relu_conv1, (2, 2))
    conv2 = model.conv2(pool1)
    relu_conv2 = F.relu(conv2)
    pool2 = F.max_pool2d(relu_conv2, 2)
    fc1 = model.fc1(torch.flatten(pool2, 1))
    relu_fc1 = F.relu(fc1)
    fc2 = model.fc2(relu_fc1)
    relu_fc2 = F.relu(fc2)
    return {"conv1": conv1, "relu_conv1": relu_conv1, "pool1": pool1, "conv2": conv2, "relu_conv2": relu_conv2,
            "pool2": pool2, "fc1": fc1, "relu_fc1": relu_fc1, "fc2": fc2, "relu_fc2": relu_fc2,
            "output": model.fc3(relu_fc2)}


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
        """`model(x)` (see `forward_layers`); `on_conv1(input, output)` sees conv1."""
        y = forward_layers(model, x, on_conv1)
        # Values >= 0 sum to 0 only if all are 0: a sum (the cheapest reduction) tells a dead unit.
        self._sums = {"conv1": y["pool1"].detach().sum(dim=(0, 2, 3)), "conv2": y["pool2"].detach().sum(dim=(0, 2, 3)),
                      "fc1": y["relu_fc1"].detach().sum(0), "fc2": y["relu_fc2"].detach().sum(0)}
        if self.sampling:
            outputs = {"conv1": y["conv1"], "conv2": y["conv2"], "fc1": y["fc1"], "fc2": y["fc2"], "fc3": y["output"]}
            self.activation_counts = {k: self.histograms.activation(k, v.detach()) for k, v in outputs.items()}
        return y["output"]

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
