"""Looking inside the model without changing it: activations, norms, the autograd chain."""

from __future__ import annotations

import numpy as np
import torch

from ..model import LeNet
from .types import AutogradNode
from .watch import forward_layers


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A copy, never a view: optimizer.step() mutates weights in place, so a view would show the future."""
    return t.detach().cpu().numpy().copy()  # one copy on the CPU (.cpu() of a CPU tensor is itself)


@torch.inference_mode()
def activations(model: LeNet, image: torch.Tensor) -> dict[str, np.ndarray]:
    """Every layer's output for one (1, 32, 32) image, post-ReLU where the tutorial applies ReLU.

    The same step-by-step forward as the training batch's (`watch.forward_layers`); a test proves the
    result equals `LeNet.forward`.  All eight arrays are views of one host copy.  For one image, oneDNN's
    convolution costs ~3x PyTorch's own (its set-up dominates), so it is off here: within 1e-6 of it.
    """
    mkldnn = torch.backends.mkldnn
    was, mkldnn.enabled = mkldnn.enabled, False  # (mkldnn.flags() also sets TF32 and warns about it)
    try:
        return _activations(model, image)
    finally:
        mkldnn.enabled = was


def _activations(model: LeNet, image: torch.Tensor) -> dict[str, np.ndarray]:
    y = forward_layers(model, image.reshape(1, 1, 32, 32))
    named = {  # post-ReLU where the tutorial applies ReLU
        "conv1": y["relu_conv1"], "pool1": y["pool1"], "conv2": y["relu_conv2"], "pool2": y["pool2"],
        "fc1": y["relu_fc1"], "fc2": y["relu_fc2"], "output": y["output"], "probabilities": torch.softmax(y["output"], dim=1),
    }
    flat = to_numpy(torch.cat([v.reshape(-1) for v in named.values()]).float())
    arrays, start = {}, 0
    for k, v in named.items():
        arrays[k] = flat[start : start + v.numel()].reshape(v.shape[1:])
        start += v.numel()
    return arrays


def autograd_chain(loss: torch.Tensor, param_names: dict[int, str]) -> AutogradNode | None:
    """The loss's grad_fn graph as a tree, down to AccumulateGrad of each parameter.

    This is the tutorial's `loss.grad_fn.next_functions[0][0]...` walk, done for every branch.
    A node reached twice is shown once in full and then by name only, so the tree stays finite.
    """
    if loss.grad_fn is None:
        return None
    seen: set[int] = set()

    def walk(fn) -> AutogradNode:  # noqa: ANN001 - torch's Node type is private
        name = type(fn).__name__
        param = None
        if hasattr(fn, "variable"):
            param = param_names.get(id(fn.variable))
        if id(fn) in seen:
            return AutogradNode(name=name, parameter=param)
        seen.add(id(fn))
        kids = tuple(walk(child) for child, _ in fn.next_functions if child is not None)
        return AutogradNode(name=name, children=kids, parameter=param)

    return walk(loss.grad_fn)
