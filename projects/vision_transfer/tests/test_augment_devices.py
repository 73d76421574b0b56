"""GPU correctness checkable on a CPU: no augmentation mixes devices. Every aten op the
augmentations run is watched; an op whose tensor inputs live on two devices (a CPU random draw
multiplied with a batch elsewhere, a CPU blur kernel convolved with it) fails the test. The batch
lives on the "meta" device, so a CPU-made tensor that meets it is a different device."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from vision_transfer.augment import _blur, augment, box_grid


class DeviceMixWatch(TorchDispatchMode):
    """Records every op whose tensor arguments (0-dim scalars aside) sit on more than one device."""

    def __init__(self):
        super().__init__()
        self.mixed: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        flat, _ = tree_flatten((args, kwargs or {}))
        devices = {t.device for t in flat if isinstance(t, torch.Tensor) and t.dim() > 0}
        if len(devices) > 1:
            self.mixed.append(f"{func}: {sorted(map(str, devices))}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("policy", ["geometric", "photometric", "aggressive"])
@pytest.mark.parametrize("strength", [0.5, 1.0, 2.0])
def test_augmentations_keep_every_tensor_on_the_batch_device(policy, strength):
    x = torch.empty(4, 1, 16, 16, device="meta")
    with DeviceMixWatch() as watch:
        out = augment(x, policy, torch.Generator().manual_seed(0), strength)
    assert watch.mixed == []
    assert out.device == x.device and out.shape == x.shape


def test_the_watch_catches_a_cpu_tensor_meeting_the_batch():
    x = torch.empty(4, 1, 16, 16, device="meta")
    with DeviceMixWatch() as watch:
        torch.nn.functional.conv2d(x, torch.ones(1, 1, 3, 3))  # a CPU kernel: the old bug
    assert watch.mixed


class OpCount(TorchDispatchMode):
    """Counts the aten ops run: a loop over images shows as a count that grows with the batch."""

    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("policy", ["geometric", "photometric", "aggressive"])
def test_augmentations_are_batched_not_a_loop_over_images(policy):
    counts = []
    for batch in (4, 64):
        x = torch.rand(batch, 1, 16, 16)
        with OpCount() as count:
            augment(x, policy, torch.Generator().manual_seed(0), 1.0)
        counts.append(count.ops)
    # geometric's loop is over the 8 symmetries (a few ops each when all 8 occur), never images
    assert counts[1] <= counts[0] + 30, counts


def test_blur_is_the_zero_padded_convolution():
    x = torch.rand(3, 2, 20, 17)
    kernel = torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1])
    expected = torch.nn.functional.conv2d(
        x, kernel.view(1, 1, 1, -1).repeat(2, 1, 1, 1), padding=(0, 2), groups=2
    )
    assert torch.allclose(_blur(x, kernel, dim=-1), expected, atol=1e-6)
    expected = torch.nn.functional.conv2d(
        x, kernel.view(1, 1, -1, 1).repeat(2, 1, 1, 1), padding=(2, 0), groups=2
    )
    assert torch.allclose(_blur(x, kernel, dim=-2), expected, atol=1e-6)


def test_the_crop_grid_samples_the_box_like_resizing_the_crop():
    """The batched crop maps output pixel centres into the box exactly as F.interpolate maps
    them into a cropped image: a box of half the side at the centre of a 16 px image."""
    x = torch.rand(2, 1, 16, 16)
    grid = box_grid(torch.tensor([0.5, 1.0]), torch.tensor([0.0, 0.0]), torch.zeros(2), 16, 16)
    sampled = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    resized = torch.nn.functional.interpolate(x[:1, :, 4:12, 4:12], size=(16, 16), mode="bilinear")
    # inside the box both read the same pixels; at its edge interpolate clamps to the crop
    assert torch.allclose(sampled[:1, :, 1:-1, 1:-1], resized[..., 1:-1, 1:-1], atol=1e-6)
    assert torch.allclose(sampled[1:], x[1:], atol=1e-6)  # the whole image: itself
