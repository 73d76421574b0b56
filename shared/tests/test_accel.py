"""mlcraft.accel: a CPU run trains exactly as configured; a CUDA run with the GPU batch and the
learning rates scaled by the configured rule."""

from __future__ import annotations

import math

import pytest
from mlcraft.accel import device_batch, use_bf16


@pytest.mark.parametrize("scaling", ["linear", "sqrt", "none"])
def test_a_cpu_run_keeps_the_configured_batch_and_learning_rates(scaling):
    assert device_batch("cpu", 32, 256, scaling) == device_batch("cpu", 32, None, scaling)
    assert device_batch("cpu", 32, 256, scaling).batch_size == 32
    assert device_batch("cpu", 32, 256, scaling).lr_scale == 1.0


def test_a_cuda_run_takes_the_gpu_batch_with_scaled_learning_rates():
    assert device_batch("cuda", 32, 256, "linear").batch_size == 256
    assert device_batch("cuda", 32, 256, "linear").lr_scale == 8.0
    assert math.isclose(device_batch("cuda:0", 32, 128, "sqrt").lr_scale, 2.0)
    assert device_batch("cuda", 32, 256, "none").lr_scale == 1.0
    assert device_batch("cuda", 32, None, "linear").batch_size == 32  # null: batch_size there too
    assert "x8" in device_batch("cuda", 32, 256, "linear").describe("cuda")


def test_bf16_auto_is_fp32_off_cuda_and_explicit_settings_win():
    assert use_bf16("auto", "cpu") is False
    assert use_bf16(True, "cpu") is True and use_bf16(False, "cuda") is False
