"""Looking inside the model without changing it: activations, norms, the autograd chain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from ..model import LeNet
from .types import AutogradNode
from .watch import forward_layers


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A copy, never a view: optimizer.step() mutates weights in place, so a view would show the future."""
    return t.detach().cpu().numpy().copy()  # one copy on the CPU (.cpu() of a CPU tensor is itself)


class FrozenLeNet:
    """LeNet's layers as functions of a copy of its weights taken now (one ~40 us copy): a forward
    pass through it later, on any thread, sees the weights of this moment while training goes on."""

    def __init__(self, weights: Sequence[torch.Tensor]) -> None:
        """`weights`: LeNet's parameters in their order (conv1.weight, conv1.bias, conv2..., fc3.bias)."""
        self._shapes = [w.shape for w in weights]
        self._flat = torch.cat([w.detach().reshape(-1) for w in weights])

    def weights(self) -> list[torch.Tensor]:
        """The copied weights, shaped as given (views of one tensor)."""
        views, start = [], 0
        for shape in self._shapes:
            views.append(self._flat[start : start + shape.numel()].view(shape))
            start += shape.numel()
        return views

    def layers(self) -> SimpleNamespace:
        """conv1 ... fc3 as functions of the copy, named as LeNet's modules (what `forward_layers` calls)."""
        views = self.weights()
        return SimpleNamespace(**{name: partial(fn, weight=w, bias=b)
                                  for (name, fn), w, b in zip(_LAYER_FN.items(), views[0::2], views[1::2])})


_LAYER_FN = {"conv1": F.conv2d, "conv2": F.conv2d, "fc1": F.linear, "fc2": F.linear, "fc3": F.linear}


def activations(model: LeNet, image: torch.Tensor) -> dict[str, np.ndarray]:
    """Every layer's output for one (1, 32, 32) image, post-ReLU where the tutorial applies ReLU."""
    return activations_later(model, image)()


def activations_later(model: LeNet | FrozenLeNet, image: torch.Tensor) -> Callable[[], dict[str, np.ndarray]]:
    """`activations(model, image)` in two halves: the weights (unless `model` is a copy already) and the
    image are copied now, and the forward pass runs when the returned function is called, on any thread.
    A training process calls it on its sending thread, so the training thread does not wait for it
    (~0.5 ms a snapshot).

    The same step-by-step forward as the training batch's (`watch.forward_layers`); a test proves the
    result equals `LeNet.forward`.  All eight arrays are views of one host copy.  No global switch is
    touched (oneDNN's, say): that would change the training thread's arithmetic meanwhile."""
    frozen = model if isinstance(model, FrozenLeNet) else FrozenLeNet(list(model.parameters()))
    image, threads = image.detach().reshape(1, 1, 32, 32).clone(), torch.get_num_threads()

    def run() -> dict[str, np.ndarray]:
        if torch.get_num_threads() != threads:  # per thread with OpenMP builds: no pool of spinning threads
            torch.set_num_threads(threads)
        with torch.inference_mode():
            return _activations(frozen.layers(), image)

    return run


def _activations(layers: SimpleNamespace, image: torch.Tensor) -> dict[str, np.ndarray]:
    y = forward_layers(layers, image)  # type: ignore[arg-type] - LeNet's layers, as functions of a copy
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
