"""GPU correctness checkable on a CPU: no augmentation mixes devices. Every aten op the
augmentations run is watched; an op whose tensor inputs live on two devices (a CPU random draw
multiplied with a batch elsewhere, a CPU blur kernel convolved with it) fails the test. The batch
lives on the "meta" device, so a CPU-made tensor that meets it is a different device."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from vision_transfer.augment import augment


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
