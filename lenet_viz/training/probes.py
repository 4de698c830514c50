"""Looking inside the model without changing it: activations, norms, the autograd chain."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..model import LeNet
from .types import AutogradNode


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A copy, never a view: optimizer.step() mutates weights in place, so a view would show the future."""
    return t.detach().to("cpu", copy=True).numpy().copy()


@torch.no_grad()
def activations(model: LeNet, image: torch.Tensor) -> dict[str, np.ndarray]:
    """Every layer's output for one (1, 32, 32) image, post-ReLU where the tutorial applies ReLU."""
    x = image.reshape(1, 1, 32, 32)
    conv1 = F.relu(model.conv1(x))
    pool1 = F.max_pool2d(conv1, 2)
    conv2 = F.relu(model.conv2(pool1))
    pool2 = F.max_pool2d(conv2, 2)
    fc1 = F.relu(model.fc1(torch.flatten(pool2, 1)))
    fc2 = F.relu(model.fc2(fc1))
    out = model.fc3(fc2)
    probs = torch.softmax(out, dim=1)
    named = {
        "conv1": conv1, "pool1": pool1, "conv2": conv2, "pool2": pool2,
        "fc1": fc1, "fc2": fc2, "output": out, "probabilities": probs,
    }
    return {k: to_numpy(v[0]).astype(np.float32, copy=False) for k, v in named.items()}


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
