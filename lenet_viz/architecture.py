"""LeNet's layers and shapes, torch-free: what both the model and the GUI process need to know.

`model.py` builds the network from these names; `training/types.py` types the data that leaves
the engine with them; the GUI lays out its plots and mosaics with them without importing torch.
"""

from __future__ import annotations

import math

#: LeNet's layers with parameters, in forward order: the keys of per-layer stats and plots.
LAYERS: tuple[str, ...] = ("conv1", "conv2", "fc1", "fc2", "fc3")

#: Activation names of a Snapshot, in forward order, with their shapes for one image.
ACTIVATION_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1": (6, 28, 28),
    "pool1": (6, 14, 14),
    "conv2": (16, 10, 10),
    "pool2": (16, 5, 5),
    "fc1": (120,),
    "fc2": (84,),
    "output": (10,),
    "probabilities": (10,),
}


def layer_of(parameter: str) -> str:
    """The layer a parameter belongs to: "conv1.weight" -> "conv1"."""
    return parameter.split(".")[0]


def combine_by_layer(norms: dict) -> dict:  # noqa: ANN001 - values are floats or numpy arrays alike
    """Per-parameter L2 norms combined into per-layer ones, sqrt(‖weight‖² + ‖bias‖²): the one place
    layer figures are made from parameter figures (the engine's update ratios, the gradient plot)."""
    out: dict = {}
    for name, value in norms.items():
        layer = layer_of(name)
        out[layer] = out.get(layer, 0.0) + value * value
    return {layer: math.sqrt(total) if isinstance(total, float) else total ** 0.5 for layer, total in out.items()}
