"""Device-dependent training settings, one rule for every torch project: the batch size and the
learning-rate scale on a GPU, and bf16 autocast.

A CPU run keeps the config's batch size, learning rates and precision exactly, so its results are
what they always were; a CUDA run trains with `gpu_batch_size` (a step of 32 small images leaves
an H100 mostly idle) and scales every learning rate with the batch:
- linear: lr x (gpu_batch / batch), the rule of Goyal et al. 2017 for large-batch SGD;
- sqrt: lr x sqrt(gpu_batch / batch), the square-root rule that matches Adam's noise scale
  (Malladi et al. 2022), safer for fine-tuning a transformer;
- none: the learning rates as written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

LrScaling = Literal["linear", "sqrt", "none"]
Auto = Literal["auto"]


@dataclass(frozen=True)
class DeviceBatch:
    batch_size: int
    lr_scale: float

    def describe(self, device: str) -> str:
        if self.lr_scale == 1.0:
            return f"batch {self.batch_size} on {device}"
        return f"batch {self.batch_size} on {device}, learning rates x{self.lr_scale:.3g}"


def device_batch(
    device: str, batch_size: int, gpu_batch_size: int | None, scaling: LrScaling
) -> DeviceBatch:
    """The batch size and learning-rate factor a run on `device` trains with."""
    if not device.startswith("cuda") or not gpu_batch_size or gpu_batch_size == batch_size:
        return DeviceBatch(batch_size, 1.0)
    ratio = gpu_batch_size / batch_size
    scale = {"linear": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[scaling]
    return DeviceBatch(gpu_batch_size, scale)


def use_bf16(setting: bool | Auto, device: str) -> bool:
    """auto: bf16 autocast on a CUDA device that supports it, fp32 elsewhere (bf16 on a CPU
    without AMX is slower, and it would change the CPU reference numbers)."""
    if setting != "auto":
        return bool(setting)
    if not device.startswith("cuda"):
        return False
    import torch

    return bool(torch.cuda.is_bf16_supported())
