"""The LeNet of the PyTorch "Neural Networks" tutorial, exactly as written there."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .architecture import LAYERS  # noqa: F401 - layers that own parameters; defined torch-free for the GUI process


class LeNet(nn.Module):
    """conv1 1->6 5x5, conv2 6->16 5x5, fc1 400->120, fc2 120->84, fc3 84->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)
