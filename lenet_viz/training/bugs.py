"""The bug lab's catalogue: five classic training bugs a learner can switch on to see what they do.

Torch-free on purpose: the config validates names against it and the app's lab panel lists it,
both in processes that never train.  What each bug does to the engine lives in `lab.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    """One toggle of the lab: its config name, a short title and a one-line explanation."""

    name: str
    title: str
    explanation: str


#: The lab's bugs, in the order the lab panel lists them.
CATALOGUE: tuple[Bug, ...] = (
    Bug("skip_zero_grad", "Skip zero_grad()",
        ".grad is never cleared, so each backward() adds to the last: gradients grow every iteration."),
    Bug("lr_x100", "Learning rate x100",
        "Every update is 100 times too big: the loss jumps around or shoots up to NaN."),
    Bug("raw_pixels", "Raw pixels (0-255)",
        "The input is not normalized: pixel values up to 255 blow up the first layers' outputs."),
    Bug("shuffled_labels", "Shuffled labels",
        "Training labels are permuted once: the net can only memorize, held-out accuracy stays at chance."),
    Bug("double_softmax", "Softmax before cross_entropy",
        "cross_entropy applies log-softmax itself; a second softmax squashes the logits and learning crawls."),
)

#: The names TrainConfig.bugs accepts.
BUGS: tuple[str, ...] = tuple(b.name for b in CATALOGUE)
BY_NAME: dict[str, Bug] = {b.name: b for b in CATALOGUE}
