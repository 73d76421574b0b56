"""A small residual CNN (ResNet-style, BatchNorm) with optional gradient checkpointing."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem conv, one residual block per stage (stride 2 after the first), pooled linear head.

    grad_checkpointing recomputes each block's activations in backward instead of storing them:
    less memory, about one extra forward of compute.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64),
        dropout: float = 0.1,
        grad_checkpointing: bool = False,
        stem_stride: int = 1,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks, c_in = [], widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(c_in, width, stride=1 if i == 0 else 2))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_classes)
        self.grad_checkpointing = grad_checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            if self.grad_checkpointing and self.training:
                # Non-reentrant checkpointing; the RNG state is replayed, so results are unchanged.
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.dropout(x))
