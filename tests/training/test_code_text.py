"""The code panel's source: the tutorial's loop for each setting, and the lines each phase runs."""

from __future__ import annotations

import pytest

from lenet_viz.training import Phase, TrainConfig
from lenet_viz.training.code_text import BUG_NAMES, training_code, training_code_for


def at(code, phase: Phase) -> list[str]:
    rows = code.source.splitlines()
    return [rows[n - 1].strip() for n in code.lines[phase]]


def test_default_is_the_tutorial_loop_with_optim():
    code = training_code(lr=0.01, momentum=0.9)
    assert at(code, Phase.ZERO_GRAD) == ["optimizer.zero_grad()   # zero the gradient buffers"]
    assert at(code, Phase.FORWARD) == ["output = net(input)"]
    assert at(code, Phase.LOSS) == ["loss = criterion(output, target)"]
    assert at(code, Phase.BACKWARD) == ["loss.backward()"]
    assert at(code, Phase.UPDATE) == ["optimizer.step()    # Does the update"]
    assert "criterion = nn.CrossEntropyLoss()" in code.source
    assert "optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)" in code.source
    assert code.bug_lines == {}
    numbers = [n for phase in Phase for n in code.lines[phase]]
    assert numbers == sorted(numbers)  # phases run top to bottom


def test_manual_update_is_the_tutorials_hand_written_sgd():
    code = training_code(update="manual", lr=0.01)
    assert at(code, Phase.UPDATE) == ["for f in net.parameters():", "f.data.sub_(f.grad.data * learning_rate)"]
    assert at(code, Phase.ZERO_GRAD) == ["net.zero_grad()"]
    assert "learning_rate = 0.01" in code.source and "optimizer" not in code.source


def test_mse_and_adam():
    code = training_code(loss="mse", optimizer="adam", lr=0.001)
    assert "criterion = nn.MSELoss()" in code.source
    assert at(code, Phase.LOSS) == ["loss = criterion(output, F.one_hot(target, 10).float())"]
    assert "optimizer = optim.Adam(net.parameters(), lr=0.001)" in code.source
    assert at(training_code(loss="mse", one_hot=False), Phase.LOSS) == ["loss = criterion(output, target)"]


@pytest.mark.parametrize(
    ("bug", "phase", "line"),
    [
        ("skip_zero_grad", Phase.ZERO_GRAD, "# optimizer.zero_grad()   # zero the gradient buffers"),
        ("raw_pixels", Phase.FORWARD, "output = net(input)"),
        ("double_softmax", Phase.LOSS, "loss = criterion(F.softmax(output, dim=1), target)"),
    ],
)
def test_each_bug_shows_as_the_code_that_causes_it(bug, phase, line):
    code = training_code(bugs={bug})
    assert at(code, phase)[0] == line
    rows = code.source.splitlines()
    marked = [rows[n - 1].strip() for n in code.bug_lines[bug]]
    assert marked[0].startswith(f"# lab bug {bug}:")
    assert set(code.bug_lines) == {bug}


def test_setup_bugs():
    code = training_code(bugs={"lr_x100", "shuffled_labels"}, lr=0.01)
    rows = code.source.splitlines()
    assert rows[code.bug_lines["lr_x100"][0] - 1] == "optimizer = optim.SGD(net.parameters(), lr=0.01 * 100)"
    assert "trainset.targets[torch.randperm(len(trainset))]" in rows[code.bug_lines["shuffled_labels"][-1] - 1]
    assert "learning_rate = 0.01 * 100" in training_code(update="manual", bugs={"lr_x100"}).source


def test_every_bug_at_once_keeps_one_line_per_phase_in_order():
    code = training_code(update="manual", loss="mse", bugs=BUG_NAMES)
    assert set(code.bug_lines) == set(BUG_NAMES)
    assert at(code, Phase.ZERO_GRAD) == ["# net.zero_grad()"]
    assert at(code, Phase.FORWARD) == ["output = net(input)", "input = (input * std + mean) * 255"]


def test_forward_lines_follow_the_call():
    code = training_code(with_forward=True)
    lines = at(code, Phase.FORWARD)
    assert lines[0] == "output = net(input)"
    assert lines[1:] == [
        "def forward(self, x):",
        "x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))",
        "x = F.max_pool2d(F.relu(self.conv2(x)), 2)",
        "x = torch.flatten(x, 1)",
        "x = F.relu(self.fc1(x))",
        "x = F.relu(self.fc2(x))",
        "x = self.fc3(x)",
        "return x",
    ]


def test_unknown_bug_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown lab bug 'nan_loss'; known: skip_zero_grad, lr_x100"):
        training_code(bugs={"nan_loss"})


def test_from_a_config():
    code = training_code_for(TrainConfig(update="manual", momentum=0.0, lr=0.02, loss="mse", dataset="random"))
    assert "learning_rate = 0.02" in code.source
    assert at(code, Phase.LOSS) == ["loss = criterion(output, target)"]  # the tutorial's random targets
