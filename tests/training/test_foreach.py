"""The public fallback of torch's private `_foreach_*` kernels gives the same numbers."""

from __future__ import annotations

import numpy as np
import torch

from lenet_viz.model import LeNet
from lenet_viz.training import foreach
from lenet_viz.training.probes import activations


def tensors() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(6, 1, 5, 5, generator=g), torch.randn(6, generator=g), torch.randn(120, 400, generator=g)]


def test_fallback_matches_the_fused_kernels(monkeypatch):
    fused = [float(n) for n in foreach.norms(tensors())]
    dst, src = tensors(), [t * 2 for t in tensors()]
    foreach.copy_(dst, src)
    foreach.sub_(dst, tensors())
    for name in ("_NORM", "_COPY", "_SUB"):
        monkeypatch.setattr(foreach, name, None)  # as on a torch without them
    public = [float(n) for n in foreach.norms(tensors())]
    dst2, src2 = tensors(), [t * 2 for t in tensors()]
    foreach.copy_(dst2, src2)
    foreach.sub_(dst2, tensors())
    assert public == fused or max(abs(a - b) / b for a, b in zip(public, fused)) < 1e-6
    for a, b in zip(dst, dst2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, tensors()[[t.shape for t in tensors()].index(a.shape)])


def test_the_feature_maps_are_the_networks_own_forward_pass():
    """probes.activations re-runs LeNet.forward step by step to keep every layer: it must be the same function."""
    torch.manual_seed(0)
    model = LeNet()
    image = torch.randn(1, 32, 32)
    acts = activations(model, image)
    with torch.no_grad():
        out = model(image.reshape(1, 1, 32, 32))[0]
    torch.testing.assert_close(torch.from_numpy(acts["output"]), out, rtol=0, atol=0)
    torch.testing.assert_close(torch.from_numpy(acts["probabilities"]), torch.softmax(out, 0), rtol=0, atol=0)


def test_activations_later_sees_the_weights_of_when_it_was_asked_and_runs_on_any_thread():
    """A training process runs the probe's forward on its sending thread while training goes on:
    the weights are copied when asked, and no global switch (oneDNN's) flips under the training thread."""
    import threading

    from lenet_viz.training.probes import activations_later

    torch.manual_seed(0)
    model = LeNet()
    image = torch.randn(1, 32, 32)
    want = activations(model, image)
    later = activations_later(model, image)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # an optimizer step meanwhile
    image.add_(5.0)  # and a probe that changed in place
    flags: list[bool] = []
    got: dict = {}
    torch.backends.mkldnn.enabled = True
    thread = threading.Thread(target=lambda: (got.update(later()), flags.append(torch.backends.mkldnn.enabled)))
    thread.start()
    thread.join()
    assert flags == [True] and torch.backends.mkldnn.enabled
    for name, maps in want.items():
        np.testing.assert_array_equal(got[name], maps)
    assert not np.array_equal(activations(model, image)["output"], want["output"])


def test_the_trainer_trains_exactly_as_the_tutorials_plain_loop():
    """The engine (watched forward, fused SGD, bookkeeping) changes no number: ten iterations of
    Trainer.step() end with the weights a plain `zero_grad / net(x) / loss / backward / step` loop reaches."""
    import torch.nn.functional as F

    from lenet_viz.training import TrainConfig, Trainer

    torch.set_num_threads(1)
    config = TrainConfig(dataset="random", eval_every=0, batch_size=16)
    trainer = Trainer(config)
    torch.manual_seed(config.seed)
    net = LeNet()
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum)  # torch's default loop
    perm = torch.randperm(len(trainer._train_y), generator=torch.Generator().manual_seed(config.seed))
    for k in range(10):
        idx = perm[k * 16 : (k + 1) * 16]
        optimizer.zero_grad()
        F.cross_entropy(net(trainer._train_x[idx]), trainer._train_y[idx]).backward()
        optimizer.step()
        trainer.step()
    for (name, a), b in zip(trainer.model.named_parameters(), net.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
