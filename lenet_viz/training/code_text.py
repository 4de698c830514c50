"""The training loop as Python source, in the tutorial's words, for the current settings.

Torch-free: the GUI process builds it.  `lines[phase]` are the 1-based line numbers that run in
that phase, so a code panel can light up "the line that runs next" in lockstep with Step phase.
A lab bug (issue 16's names) shows as the code that causes it, with a comment saying which.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .types import Phase

#: The bug lab's toggles, as the code panel knows them.
BUG_NAMES = ("skip_zero_grad", "lr_x100", "raw_pixels", "shuffled_labels", "double_softmax")

#: LeNet.forward (lenet_viz/model.py), as it runs.
FORWARD_SOURCE = """\
class Net(nn.Module):
    # __init__ as in the tutorial: conv1, conv2 (5x5), fc1, fc2, fc3
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x
"""


@dataclass(frozen=True)
class CodeText:
    """Source text plus where each phase runs in it (line numbers start at 1)."""

    source: str
    lines: dict[Phase, tuple[int, ...]]  # phase -> its lines; the first is the one to scroll to
    bug_lines: dict[str, tuple[int, ...]] = field(default_factory=dict)  # active bug -> its lines


class _Writer:
    def __init__(self) -> None:
        self.rows: list[str] = []
        self.lines: dict[Phase, list[int]] = {p: [] for p in Phase}
        self.bugs: dict[str, list[int]] = {}

    def add(self, text: str, phase: Phase | None = None, bug: str | None = None) -> None:
        for row in text.splitlines() or [""]:
            self.rows.append(row)
            if phase is not None:
                self.lines[phase].append(len(self.rows))
            if bug is not None:
                self.bugs.setdefault(bug, []).append(len(self.rows))

    def code(self) -> CodeText:
        return CodeText(
            source="\n".join(self.rows) + "\n",
            lines={p: tuple(v) for p, v in self.lines.items()},
            bug_lines={k: tuple(v) for k, v in self.bugs.items()},
        )


def _lr_text(lr: float, bugs: frozenset[str]) -> str:
    return f"{lr:g} * 100" if "lr_x100" in bugs else f"{lr:g}"


def training_code(
    update: str = "optim",
    loss: str = "cross_entropy",
    optimizer: str = "sgd",
    bugs: Iterable[str] = (),
    lr: float = 0.01,
    momentum: float = 0.0,
    one_hot: bool = True,
    with_forward: bool = False,
) -> CodeText:
    """The loop for these settings: update "optim"/"manual", loss "cross_entropy"/"mse",
    optimizer "sgd"/"adam", lab bug names; one_hot: MSE compares with one-hot labels (False:
    the random data's target tensors, as in the tutorial); with_forward: show Net.forward too."""
    bugs = frozenset(bugs)
    unknown = sorted(bugs - set(BUG_NAMES))
    if unknown:
        raise ValueError(f"unknown lab bug {unknown[0]!r}; known: {', '.join(BUG_NAMES)}")
    manual = str(update) == "manual"
    w = _Writer()
    w.add("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim")
    w.add("")
    if with_forward:
        head, comment, *body = FORWARD_SOURCE.splitlines()
        w.add(head)
        w.add(comment)
        w.add("\n".join(body), Phase.FORWARD)
        w.add("")
    w.add("net = Net()")
    w.add("criterion = nn.MSELoss()" if str(loss) == "mse" else "criterion = nn.CrossEntropyLoss()")
    lr_bug = "lr_x100" if "lr_x100" in bugs else None
    if manual:
        w.add(f"learning_rate = {_lr_text(lr, bugs)}", bug=lr_bug)
    elif str(optimizer) == "adam":
        w.add(f"optimizer = optim.Adam(net.parameters(), lr={_lr_text(lr, bugs)})", bug=lr_bug)
    else:
        extra = f", momentum={momentum:g}" if momentum else ""
        w.add(f"optimizer = optim.SGD(net.parameters(), lr={_lr_text(lr, bugs)}{extra})", bug=lr_bug)
    if "shuffled_labels" in bugs:
        w.add("# lab bug shuffled_labels: every image gets a random label", bug="shuffled_labels")
        w.add("trainset.targets = trainset.targets[torch.randperm(len(trainset))]", bug="shuffled_labels")
    w.add("")
    w.add("for input, target in trainloader:")
    zero = "    net.zero_grad()" if manual else "    optimizer.zero_grad()   # zero the gradient buffers"
    if "skip_zero_grad" in bugs:
        w.add("    # lab bug skip_zero_grad: .grad keeps adding up", bug="skip_zero_grad")
        w.add("    # " + zero.strip(), Phase.ZERO_GRAD, bug="skip_zero_grad")
    else:
        w.add(zero, Phase.ZERO_GRAD)
    if "raw_pixels" in bugs:
        w.add("    # lab bug raw_pixels: pixels 0-255 go in, not normalized", bug="raw_pixels")
        w.add("    input = (input * std + mean) * 255", Phase.FORWARD, "raw_pixels")
    w.add("    output = net(input)")
    fwd = w.lines[Phase.FORWARD]
    fwd[:] = [len(w.rows), *sorted(fwd)]  # the call is the line to point at; forward()'s body follows it
    target = "F.one_hot(target, 10).float()" if str(loss) == "mse" and one_hot else "target"
    if "double_softmax" in bugs:
        w.add("    # lab bug double_softmax: probabilities go in where logits belong", bug="double_softmax")
        w.add(f"    loss = criterion(F.softmax(output, dim=1), {target})", Phase.LOSS, "double_softmax")
    else:
        w.add(f"    loss = criterion(output, {target})", Phase.LOSS)
    w.add("    loss.backward()", Phase.BACKWARD)
    if manual:
        w.add("    for f in net.parameters():\n        f.data.sub_(f.grad.data * learning_rate)", Phase.UPDATE)
    else:
        w.add("    optimizer.step()    # Does the update", Phase.UPDATE)
    return w.code()


def training_code_for(config, with_forward: bool = False) -> CodeText:  # noqa: ANN001 - a TrainConfig
    """`training_code` for a TrainConfig (its `bugs`, once the lab adds that field)."""
    return training_code(
        update=getattr(config.update, "value", config.update),
        loss=getattr(config.loss, "value", config.loss),
        optimizer=getattr(config.optimizer, "value", config.optimizer),
        bugs=getattr(config, "bugs", ()),
        lr=config.lr,
        momentum=config.momentum,
        one_hot=config.dataset != "random",
        with_forward=with_forward,
    )
