"""PyTorch model factories for the reader tests (imported by ``--model tests.quant.readers.torch_models:...``).

``resnet18`` has torchvision's module names and layout (basic blocks, 1x1/2
downsample convs), written out here so the tests need no torchvision.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = 64
        for i, width in enumerate((64, 128, 256, 512), start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(c, width, stride), BasicBlock(width, width, 1)))
            c = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Tiny(nn.Module):
    """conv 2->4 (3x3, stride 2, pad 1), ReLU, grouped conv 4->4 (groups 2), ReLU, pool, fc 4->3."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, 2, 1, bias=False)
        self.grouped = nn.Conv2d(4, 4, 3, 1, 1, groups=2, bias=False)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.grouped(torch.relu(self.conv(x))))
        return self.fc(h.mean(dim=(2, 3)))


class Unused(Tiny):
    """Tiny plus a layer that never runs (its weights cannot be placed)."""

    def __init__(self) -> None:
        super().__init__()
        self.spare = nn.Linear(4, 4)


def resnet18() -> nn.Module:
    torch.manual_seed(0)
    return ResNet18()


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return Tiny()


def unused() -> nn.Module:
    torch.manual_seed(0)
    return Unused()
