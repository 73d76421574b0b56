"""Batch augmentations on uint8 tensors, and the batch iterator that feeds training.

Augmenting a whole batch of pre-resized tensors in the main process costs milliseconds, so no
DataLoader workers are needed on 2 cores (they would compete with the model for the same cores).

The four policies of the ablation:
- none
- geometric: flips and 90-degree turns (the 8 symmetries of a square cell; a crack stays a crack)
- photometric: geometric + brightness, contrast and gamma jitter (EL intensity varies with current)
- aggressive: geometric + small-scale random crops, Gaussian blur and cutout; these can erase or
  crop away the thin cracks that define the defective class.
`strength` scales every magnitude (0 = off, 1 = the defaults, 2 = double).

Random numbers come from one CPU generator (the same stream, so the same augmentations, on every
device) and every tensor that meets the batch is created on, or moved to, x.device: on a GPU
nothing is mixed across devices, and CPU results are what they always were.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 symmetries of the square (k in 0..7) applied to (B, C, H, W)."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def geometric(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    ks = torch.randint(0, 8, (x.shape[0],), generator=gen)  # on the CPU: no device sync per k
    out = torch.empty_like(x)
    for k in range(8):
        rows = torch.nonzero(ks == k).flatten()
        if len(rows):
            rows = rows.to(x.device)
            out[rows] = dihedral(x[rows], k)
    return out


def photometric(x: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    b = x.shape[0]

    def u(scale: float) -> torch.Tensor:
        draw = torch.rand(b, 1, 1, 1, generator=gen)  # on the generator's device (CPU)
        return ((draw * 2 - 1) * scale * strength).to(device=x.device, dtype=x.dtype)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + u(0.3)) + mean + u(0.1)  # contrast, brightness
    x = x.clamp(0, 1) ** torch.exp(u(0.3))  # gamma
    return x.clamp(0, 1)


def aggressive(x: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    b, _, h, w = x.shape
    out = torch.empty_like(x)
    min_scale = max(1 - 0.75 * strength, 0.1)  # strength 1: crops of 25-100% of the area
    for i in range(b):
        scale = float(torch.empty(1).uniform_(min_scale, 1.0, generator=gen))
        ch, cw = max(int(h * scale**0.5), 4), max(int(w * scale**0.5), 4)
        top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        out[i] = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    sigma = float(torch.empty(1).uniform_(0.1, 0.1 + 1.5 * strength, generator=gen))
    radius = max(int(2 * sigma), 1)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = out.shape[1]
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, radius), groups=c)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(radius, 0), groups=c)
    side = int(min(h, w) * 0.3 * min(strength, 1.5))
    if side > 0:  # cutout: one square per image set to the image mean
        for i in range(b):
            top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
            out[i, :, top : top + side, left : left + side] = out[i].mean()
    return out


def augment(x: torch.Tensor, policy: str, gen: torch.Generator, strength: float = 1.0):
    """x: float (B, C, H, W) in [0, 1]."""
    if policy == "none" or strength == 0:
        return x
    x = geometric(x, gen)
    if policy == "photometric":
        x = photometric(x, gen, strength)
    elif policy == "aggressive":
        x = aggressive(x, gen, strength)
    return x


class Normalizer:
    """uint8 (B, C, H, W) -> the model's float input: 3 channels, mean/std, memory format."""

    def __init__(self, mean, std, channels_last: bool = True, device: str = "cpu"):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.channels_last = channels_last
        self.device = device

    def to_unit(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(batch).to(self.device, non_blocking=True)
        return x.float().div_(255)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def train_batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    norm: Normalizer,
    policy: str,
    strength: float,
    gen: torch.Generator,
    size: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled epoch of augmented, normalised batches (the last partial batch is dropped
    when it would be tiny, since BatchNorm dislikes batches of 1)."""
    order = torch.randperm(len(labels), generator=gen).numpy()
    for start in range(0, len(order), batch_size):
        idx = np.sort(order[start : start + batch_size])
        if len(idx) < 2:
            continue
        x = norm.to_unit(images[idx])
        if size and size != x.shape[-1]:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        x = augment(x, policy, gen, strength)
        y = torch.as_tensor(labels[idx]).to(norm.device)
        yield norm(x), y
