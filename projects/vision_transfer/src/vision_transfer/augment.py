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
    """Random crop (resized back), Gaussian blur and cutout, each as one batched op: no loop
    over images, so a GPU batch of 256 costs a handful of kernel launches, not hundreds."""
    b, c, h, w = x.shape

    def draw() -> torch.Tensor:  # b uniforms in [0, 1) from the CPU generator, on x.device
        return torch.rand(b, generator=gen).to(device=x.device, dtype=x.dtype)

    # crop: a random box of min_scale..100% of the area, resampled to (h, w) by one grid_sample
    min_scale = max(1 - 0.75 * strength, 0.1)  # strength 1: crops of 25-100% of the area
    side = (min_scale + (1 - min_scale) * draw()).sqrt()  # box side / image side
    centre_x = (2 * draw() - 1) * (1 - side)  # normalised [-1, 1] coordinates: box inside image
    centre_y = (2 * draw() - 1) * (1 - side)
    grid = box_grid(side, centre_x, centre_y, h, w)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # blur: one sigma per batch, separable kernel built on x.device
    sigma = float(torch.empty(1).uniform_(0.1, 0.1 + 1.5 * strength, generator=gen))
    radius = max(int(2 * sigma), 1)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = _blur(_blur(out, kernel, dim=-1), kernel, dim=-2)
    # cutout: one square per image set to that image's mean, as a mask over the batch
    cut = int(min(h, w) * 0.3 * min(strength, 1.5))
    if cut > 0:
        top = (draw() * (h - cut + 1)).long().view(b, 1, 1)
        left = (draw() * (w - cut + 1)).long().view(b, 1, 1)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        inside = (rows >= top) & (rows < top + cut) & (cols >= left) & (cols < left + cut)
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = torch.where(inside.unsqueeze(1), mean, out)
    return out


def box_grid(
    side: torch.Tensor, centre_x: torch.Tensor, centre_y: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """grid_sample's (B, h, w, 2) grid that reads, for image i, the square box of side side[i]
    (a fraction of the image) centred at (centre_x[i], centre_y[i]) in [-1, 1] coordinates:
    affine_grid for a scale-and-shift, without its batched matmul (slow on a CPU)."""
    b = len(side)

    def centres(n: int) -> torch.Tensor:  # pixel centres in [-1, 1] (align_corners=False)
        return (2 * torch.arange(n, device=side.device, dtype=side.dtype) + 1) / n - 1

    xs = centres(w).view(1, 1, w) * side.view(b, 1, 1) + centre_x.view(b, 1, 1)
    ys = centres(h).view(1, h, 1) * side.view(b, 1, 1) + centre_y.view(b, 1, 1)
    return torch.stack(torch.broadcast_tensors(xs, ys), dim=-1)


def _blur(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """A 1-D convolution along `dim` with zero padding, as a weighted sum of shifted copies: on a
    CPU several times faster than conv2d with a thin single-channel kernel, the same on a GPU."""
    radius = (len(kernel) - 1) // 2
    pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
    padded = F.pad(x, pad)
    n = x.shape[dim]
    out = kernel[0] * padded.narrow(dim, 0, n)
    for j in range(1, len(kernel)):
        out += kernel[j] * padded.narrow(dim, j, n)
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


def resident(array: np.ndarray, device: str) -> torch.Tensor:
    """An array as a tensor on `device`, copied there once: uint8 images stay uint8 (a quarter of
    float32's memory) and each batch is then gathered on the device, with no per-batch copy from
    the host. On the CPU it shares the array's memory."""
    return torch.as_tensor(array).to(device)


MIN_BATCH = 2  # train_batches drops a last partial batch smaller than this (BatchNorm)


def epoch_batches(n: int, batch_size: int) -> tuple[int, bool]:
    """(batches in one epoch of train_batches over n images, whether its last one is partial)."""
    partial = n % batch_size >= MIN_BATCH
    return n // batch_size + partial, partial


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    norm: Normalizer,
    policy: str,
    strength: float,
    gen: torch.Generator,
    size: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One shuffled epoch of augmented, normalised batches from resident images and labels (the
    last partial batch is dropped when it would be tiny, since BatchNorm dislikes batches of 1)."""
    order = torch.randperm(len(labels), generator=gen)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size].sort().values.to(images.device)
        if len(idx) < MIN_BATCH:
            continue
        x = norm.to_unit(images[idx])
        if size and size != x.shape[-1]:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
        x = augment(x, policy, gen, strength)
        yield norm(x), labels[idx].to(norm.device)
