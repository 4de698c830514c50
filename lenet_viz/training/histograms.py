"""Weight, gradient and activation histograms of LeNet's layers: the engine half of the distributions.

Bin edges are fixed for a run, so columns taken at different iterations compare:

- weights: linear, symmetric, +-WEIGHT_SPAN x the largest |weight| of the layer at the first
  histogram (iteration 1, i.e. the initialization).  Training grows LeNet's weights 3-5x in an
  epoch; what grows further is counted in the end bins.
- gradients and activations: log10 of the magnitude, on fixed ranges.  Their scale moves by
  orders of magnitude (vanishing, exploding, a trained net's activations 10-100x its initial
  ones), which a linear axis cannot show.  Exact zeros (dead ReLU outputs and their gradients)
  land in the lowest bin.

Values outside the edges are counted in the first or last bin, never dropped.  Tensors of more
than MAX_VALUES values (fc1's weights, every batch activation) are histogrammed on a random
sample of MAX_VALUES of them: a 60-bin histogram looks the same, and the whole batch of conv1
would cost ~10 ms per histogram instead of ~0.3 ms.  The sampler has its own generator, so
histograms never change the training's random numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import LeNet
from .types import LAYERS, HistogramSample

BINS = 60
KINDS: tuple[str, ...] = ("weight", "grad", "activation")
WEIGHT_SPAN = 5.0
LOG_RANGES: dict[str, tuple[float, float]] = {"grad": (-10.0, 2.0), "activation": (-6.0, 3.0)}
MAX_VALUES = 16384
RELU_FREE = ("fc3",)  # layers whose output is not followed by a ReLU (the logits)


def bin_counts(values: torch.Tensor, lo: float, hi: float, bins: int = BINS) -> torch.Tensor:
    """Counts of `values` (1-D) in `bins` equal bins over [lo, hi]; outside and NaN go to the end bins."""
    scaled = torch.nan_to_num((values.float() - lo) * (bins / (hi - lo)), nan=0.0, posinf=bins - 1.0, neginf=0.0)
    index = scaled.clamp_(0, bins - 1).long()
    return torch.bincount(index, minlength=bins).float()


class Histograms:
    """Takes one HistogramSample of a model at a time; edges are chosen at the first and kept."""

    def __init__(self, model: LeNet, bins: int = BINS, seed: int = 0) -> None:
        self.model = model
        self.bins = bins
        self.keys: tuple[tuple[str, str], ...] = tuple((kind, layer) for kind in KINDS for layer in LAYERS)
        self._gen = torch.Generator().manual_seed(seed)
        self._edges: np.ndarray | None = None  # (len(keys), bins + 1), read-only once chosen

    def _sample(self, t: torch.Tensor) -> torch.Tensor:
        flat = t.detach().reshape(-1)
        if flat.numel() <= MAX_VALUES:
            return flat
        index = torch.randint(0, flat.numel(), (MAX_VALUES,), generator=self._gen)
        return flat[index.to(flat.device)]

    def _log_counts(self, kind: str, t: torch.Tensor) -> torch.Tensor:
        return bin_counts(self._sample(t).abs().log10(), *LOG_RANGES[kind], self.bins)

    def activation(self, layer: str, output: torch.Tensor) -> torch.Tensor:
        """Counts of a layer's output for a batch, post-ReLU except the logits (the watched forward calls it)."""
        self.edges()  # first sample: the weights' edges come from the weights before its update
        values = self._sample(output)
        return self._log_counts("activation", values if layer in RELU_FREE else values.relu())

    def edges(self) -> np.ndarray:
        """The run's edges, choosing the weights' from the model as it is now if not chosen yet."""
        if self._edges is None:
            peaks = torch.stack([getattr(self.model, layer).weight.detach().abs().max() for layer in LAYERS]).tolist()
            rows = [np.linspace(-WEIGHT_SPAN * p or -1.0, WEIGHT_SPAN * p or 1.0, self.bins + 1) for p in peaks]
            for kind in KINDS[1:]:
                rows += [np.linspace(*LOG_RANGES[kind], self.bins + 1)] * len(LAYERS)
            self._edges = np.array(rows)
            self._edges.flags.writeable = False  # shared by every sample: nobody may change it
        return self._edges

    def sample(self, iteration: int, activations: dict[str, torch.Tensor]) -> HistogramSample:
        """Histograms of the weights (as they are now), their gradients and the given activation counts."""
        edges = self.edges()
        zeros = torch.zeros(self.bins, device=next(self.model.parameters()).device)
        rows = []
        for i, layer in enumerate(LAYERS):
            weight = getattr(self.model, layer).weight
            rows.append(bin_counts(self._sample(weight), edges[i, 0], edges[i, -1], self.bins))
        for layer in LAYERS:
            grad = getattr(self.model, layer).weight.grad
            rows.append(zeros if grad is None else self._log_counts("grad", grad))
        rows += [activations.get(layer, zeros) for layer in LAYERS]
        counts = torch.stack(rows).cpu().numpy().astype(np.float32, copy=False)  # one host read
        return HistogramSample(iteration, self.keys, counts, edges)
