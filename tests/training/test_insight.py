"""Your own digit as the probe, what the network looks at (saliency), and where it errs (confusion)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lenet_viz.data import load_dataset, preprocess_drawing
from lenet_viz.training import Phase, TrainConfig, Trainer
from lenet_viz.training.confusion import Verdicts, confusion_counts, most_confused
from lenet_viz.training.probes import activations

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


CONFIG = TrainConfig(dataset="digits", eval_every=0, lr=0.05, seed=3)
STEPS = 15  # enough for the answers to differ from class to class


@pytest.fixture(scope="module")
def trained_state(digits) -> dict:
    t = Trainer(CONFIG, dataset=digits)
    for _ in range(STEPS):
        t.step()
    return t.state_dict()


@pytest.fixture
def trained(digits, trained_state) -> Trainer:
    t = Trainer(CONFIG, dataset=digits)
    t.load_state_dict(trained_state)
    return t


def a_drawn_one() -> np.ndarray:
    canvas = np.zeros((200, 200), dtype=np.float32)
    canvas[30:170, 90:110] = 1.0
    return preprocess_drawing(canvas)


def captum_saliency(t: Trainer, image: torch.Tensor, target: int) -> np.ndarray:
    x = image.reshape(1, 1, 32, 32).clone().requires_grad_(True)
    return captum_attr.Saliency(copy.deepcopy(t.model)).attribute(x, target=target, abs=True)[0, 0].detach().numpy()


def test_saliency_equals_captum_for_the_predicted_and_any_class(trained: Trainer, digits) -> None:
    trained.set_probe(11)
    image = digits.test_images[11]
    predicted = int(trained.model(image[None]).argmax())
    got = trained.saliency()
    assert got.shape == (32, 32) and got.dtype == np.float32 and got.max() > 0
    np.testing.assert_allclose(got, captum_saliency(trained, image, predicted), atol=1e-6, rtol=0)
    for c in (0, (predicted + 3) % 10):
        np.testing.assert_allclose(trained.saliency(c), captum_saliency(trained, image, c), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="0 to 9"):
        trained.saliency(10)


def test_saliency_of_a_drawing_is_of_the_image_as_the_network_sees_it(trained: Trainer, digits) -> None:
    drawn = a_drawn_one()
    trained.set_probe(drawn)
    fed = (torch.from_numpy(drawn) - digits.pixel_mean) / digits.pixel_std
    c = int(trained.model(fed[None]).argmax())
    np.testing.assert_allclose(trained.saliency(), captum_saliency(trained, fed, c), atol=1e-6, rtol=0)


def test_saliency_leaves_the_parameters_grads_alone(trained: Trainer) -> None:
    """After zero_grad every .grad is None, as the tutorial prints; looking must not change that."""
    trained.step_phase()
    assert trained.last_phase is Phase.ZERO_GRAD
    trained.saliency_in_snapshot = True
    snap = trained.snapshot()
    assert all(p.grad is None for p in trained.model.parameters())
    assert snap.saliency is not None and snap.saliency_target == snap.prediction
    np.testing.assert_array_equal(snap.saliency, trained.saliency())
    trained.saliency_target = 4
    snap = trained.snapshot()
    assert snap.saliency_target == 4
    np.testing.assert_array_equal(snap.saliency, trained.saliency(4))


def test_no_saliency_in_snapshots_unless_asked(trained: Trainer) -> None:
    snap = trained.snapshot()
    assert snap.saliency is None and snap.saliency_target is None


def test_confusion_matrix_is_a_brute_force_count_over_the_whole_held_out_set(trained: Trainer, digits) -> None:
    matrix = trained.confusion_matrix()
    want = np.zeros((10, 10), dtype=np.int64)
    with torch.no_grad():
        for image, label in zip(digits.test_images, digits.test_labels):
            want[int(label), int(trained.model(image[None]).argmax())] += 1
    np.testing.assert_array_equal(matrix, want)
    assert matrix.dtype == np.int64 and matrix.sum() == digits.num_test == 360
    assert np.trace(matrix) / 360 == pytest.approx(trained.evaluate())


def test_a_pass_in_chunks_keeps_the_weights_it_started_with(trained: Trainer) -> None:
    before = trained.confusion_matrix()
    job = trained.confusion_pass(chunk=7)
    steps = 0
    while not job.advance():
        trained.step()  # training goes on between chunks
        steps += 1
    assert steps == 360 // 7  # 52 chunks of 7 and one of 3
    np.testing.assert_array_equal(job.verdicts.matrix(), before)
    assert trained.verdicts is job.verdicts and job.verdicts.iteration == STEPS


def test_a_pass_begun_before_a_reset_is_not_kept(trained: Trainer) -> None:
    job = trained.confusion_pass(chunk=100)
    job.advance()
    trained.reset()
    job.finish()
    assert trained.verdicts is None  # those answers belong to weights that no longer exist


def test_gallery_holds_the_cells_examples_most_confident_first(trained: Trainer, digits) -> None:
    matrix = trained.confusion_matrix()
    t, p, count = most_confused(matrix, 1)[0]
    g = trained.gallery(t, p, limit=3)
    assert (g.true, g.predicted, g.total, g.iteration) == (t, p, count, STEPS)
    assert len(g.indices) == min(3, count) and g.images.shape == (len(g.indices), 32, 32)
    with torch.no_grad():
        probs = torch.softmax(trained.model(digits.test_images[torch.from_numpy(g.indices)]), 1)
    assert (probs.argmax(1).numpy() == p).all() and (digits.test_labels[torch.from_numpy(g.indices)].numpy() == t).all()
    np.testing.assert_allclose(g.confidences, probs.max(1).values.numpy(), atol=1e-6)
    assert (np.diff(g.confidences) <= 0).all()
    raw = digits.test_images[torch.from_numpy(g.indices), 0] * digits.pixel_std + digits.pixel_mean
    np.testing.assert_allclose(g.images, raw.numpy(), atol=1e-6)


def test_verdict_cells_and_most_confused_pairs_by_hand() -> None:
    v = Verdicts(
        labels=np.array([3, 3, 3, 5, 5, 8, 8, 8]),
        predictions=np.array([3, 5, 5, 3, 5, 3, 5, 8]),
        confidences=np.array([0.9, 0.4, 0.7, 0.6, 0.8, 0.5, 0.5, 0.9], dtype=np.float32),
        iteration=12,
    )
    idx, conf = v.cell(3, 5)
    assert idx.tolist() == [2, 1] and conf.tolist() == pytest.approx([0.7, 0.4])
    assert v.cell(0, 0)[0].size == 0
    m = v.matrix()
    assert m[3, 5] == 2 and m[8, 3] == 1 and m.sum() == 8
    assert most_confused(m, 3) == [(3, 5, 2), (5, 3, 1), (8, 3, 1)]
    assert most_confused(confusion_counts(np.arange(10), np.arange(10))) == []  # no errors, no pairs


def test_a_drawn_probe_has_no_label_and_its_own_feature_maps(trained: Trainer, digits) -> None:
    drawn = a_drawn_one()
    trained.set_probe(5)
    trained.set_probe(drawn)
    snap = trained.snapshot()
    assert snap.probe_label is None and snap.probe_source == "drawing" and snap.probe_index == 5
    fed = (torch.from_numpy(drawn) - digits.pixel_mean) / digits.pixel_std
    np.testing.assert_allclose(snap.probe_image, fed[0].numpy(), atol=1e-6)
    want = activations(trained.model, fed)
    for name, maps in want.items():
        np.testing.assert_allclose(snap.activations[name], maps, atol=1e-6)
    assert snap.prediction == int(want["output"].argmax())
    trained.set_probe(np.int64(6))  # back to the held-out set, labelled again
    snap = trained.snapshot()
    assert (snap.probe_source, snap.probe_index, snap.probe_label) == ("held-out", 6, int(digits.test_labels[6]))


def test_a_drawn_probe_survives_reset_and_a_new_dataset(trained: Trainer) -> None:
    drawn = a_drawn_one()
    trained.set_probe(drawn)
    trained.reset()
    assert trained.snapshot().probe_source == "drawing"
    trained.apply_config(TrainConfig(dataset="random", eval_every=0, seed=3))  # standardized differently
    snap = trained.snapshot()
    assert snap.probe_label is None
    np.testing.assert_allclose(snap.probe_image, drawn[0], atol=1e-6)  # random data is not standardized


def test_an_index_probe_wraps_into_a_smaller_held_out_set(trained: Trainer) -> None:
    trained.set_probe(300)
    trained.apply_config(TrainConfig(dataset="random", eval_every=0, seed=3))  # 128 held-out tensors
    assert trained.snapshot().probe_index == 300 % 128


@pytest.mark.parametrize(
    ("image", "why"),
    [(np.zeros((28, 28)), "shape"), (np.full((32, 32), 255.0), r"\[0, 1\]"), (np.full((32, 32), np.nan), r"\[0, 1\]")],
)
def test_a_bad_probe_image_is_refused_and_the_probe_kept(trained: Trainer, image, why) -> None:
    trained.set_probe(9)
    with pytest.raises(ValueError, match=why):
        trained.set_probe(image)
    assert trained.snapshot().probe_index == 9 and trained.snapshot().probe_source == "held-out"


def test_confusion_matrix_on_real_mnist_sums_to_ten_thousand(shared_mnist_dir) -> None:
    t = Trainer(TrainConfig(dataset="mnist", data_dir=str(shared_mnist_dir), eval_every=0))
    matrix = t.confusion_matrix()
    assert matrix.shape == (10, 10) and matrix.sum() == 10_000
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(t.dataset.test_labels.numpy(), minlength=10))
