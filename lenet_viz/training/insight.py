"""What the network looks at and where it errs: pure functions of a model and images.

- `saliency`: |d logit_c / d input| for one probe, the map Captum's `Saliency(abs=True)` gives
  (a test holds them equal), computed with `torch.autograd.grad` so the parameters' `.grad`,
  which the app shows phase by phase, is never touched.
- `HeldOutPass`: the network's answer for every held-out image, from a frozen copy of the
  weights, a chunk at a time.  A full pass over MNIST's 10,000 images costs about a second on
  one core; a training loop that calls `advance()` once per iteration spreads that over a few
  iterations instead of stalling, and every answer still comes from the same weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from ..model import LeNet
from .confusion import GALLERY_LIMIT, Gallery, Verdicts
from .probes import to_numpy

#: Held-out images per chunk: big enough for torch to batch well, small enough (~35 ms on one
#: core; a whole MNIST pass is ~1.3 s) that one chunk between two iterations barely slows training.
CHUNK = 250


def probe_tensor(image: np.ndarray) -> torch.Tensor:
    """A (1, 32, 32) or (32, 32) image in [0, 1] (as `preprocess_drawing` returns) -> float32 (1, 32, 32) copy.

    ValueError names what is wrong: a script passing 0..255 pixels or a 28x28 crop learns it here.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.shape not in ((1, 32, 32), (32, 32)):
        raise ValueError(f"a probe image is (1, 32, 32) or (32, 32), got shape {array.shape}; see preprocess_drawing")
    if not np.isfinite(array).all():
        raise ValueError("a probe image holds values in [0, 1] (got NaN or infinity); see preprocess_drawing")
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(
            f"a probe image holds values in [0, 1] (got {array.min():g} to {array.max():g}); see preprocess_drawing"
        )
    return torch.from_numpy(array.reshape(1, 32, 32).copy())


def saliency(model: LeNet, image: torch.Tensor, target: int | None = None) -> tuple[np.ndarray, int]:
    """(|d logit_target / d image| as (32, 32) float32, the target used).  None targets the predicted class.

    `image` is what the network is fed (standardized), any shape holding 32x32 values.
    """
    x = image.detach().reshape(1, 1, 32, 32).clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        c = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= c < logits.shape[1]:
            raise ValueError(f"saliency target must be a class from 0 to {logits.shape[1] - 1} (got {target!r})")
        (grad,) = torch.autograd.grad(logits[0, c], x)
    return to_numpy(grad.abs()[0, 0]).astype(np.float32, copy=False), c


class HeldOutPass:
    """Predicts the held-out set chunk by chunk with a copy of the weights taken at construction."""

    def __init__(
        self,
        model: LeNet,
        images: torch.Tensor,
        labels: torch.Tensor,
        iteration: int,
        chunk: int = CHUNK,
        on_done: Callable[["HeldOutPass"], None] | None = None,
    ) -> None:
        self.source = model  # the live model, so its owner can tell whether it was replaced meanwhile
        self.model = copy.deepcopy(model).requires_grad_(False)  # training goes on; these weights do not
        self.images, self.labels, self.iteration, self.chunk = images, labels, iteration, chunk
        self._preds: list[torch.Tensor] = []
        self._confs: list[torch.Tensor] = []
        self._cursor = 0
        self._on_done = on_done
        self.verdicts: Verdicts | None = None

    @property
    def done(self) -> bool:
        return self.verdicts is not None

    @torch.no_grad()
    def advance(self) -> bool:
        """Predict the next chunk; True once every image has an answer (then `verdicts` is set)."""
        if self.verdicts is not None:
            return True
        stop = min(self._cursor + self.chunk, len(self.labels))
        if stop > self._cursor:
            probs = torch.softmax(self.model(self.images[self._cursor : stop]), dim=1)
            conf, pred = probs.max(dim=1)
            self._preds.append(pred)
            self._confs.append(conf)
            self._cursor = stop
        if self._cursor < len(self.labels):
            return False
        cat = (lambda parts, dtype: torch.cat(parts) if parts else torch.zeros(0, dtype=dtype))  # noqa: E731
        self.verdicts = Verdicts(
            labels=to_numpy(self.labels).astype(np.int64, copy=False),
            predictions=to_numpy(cat(self._preds, torch.int64)),
            confidences=to_numpy(cat(self._confs, torch.float32)).astype(np.float32, copy=False),
            iteration=self.iteration,
        )
        if self._on_done is not None:
            self._on_done(self)
        return True

    def finish(self) -> Verdicts:
        while not self.advance():
            pass
        assert self.verdicts is not None
        return self.verdicts


def gallery(
    verdicts: Verdicts, images: torch.Tensor, pixel_mean: float, pixel_std: float,
    true: int, predicted: int, limit: int = GALLERY_LIMIT,
) -> Gallery:
    """The first `limit` examples of cell (true, predicted), most confident first, un-standardized for display."""
    indices, confidences = verdicts.cell(true, predicted)
    shown = indices[:limit]
    pictures = images[torch.from_numpy(shown)].reshape(-1, 32, 32) * pixel_std + pixel_mean
    return Gallery(
        true=int(true), predicted=int(predicted), indices=shown.copy(), confidences=confidences[:limit].copy(),
        images=to_numpy(pictures).astype(np.float32, copy=False), total=len(indices), iteration=verdicts.iteration,
    )
