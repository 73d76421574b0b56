"""configs/gpu.yaml on CUDA: same seed twice, SIGKILL then resume, default vs deterministic
kernels. Skipped, with the reason shown (`pytest -rs`), where torch sees no CUDA device; and the
CPU-side guards that keep the training code device-agnostic."""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from repro_training import checkpoint, evaluate, predict, train

PROJECT = Path(__file__).resolve().parents[1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: GPU checks not run")
def test_gpu_config_is_deterministic_and_resumes_bitwise(tmp_path):
    run = tmp_path / "gpu-run"
    env = {**os.environ, "MLCRAFT_RUNS_DIR": str(tmp_path / "runs")}
    out = subprocess.run(
        [sys.executable, "-m", "repro_training", "train", "--config", "configs/gpu.yaml",
         "--run-dir", str(run), "--set", "train.epochs=2"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run / "results" / "summary.json").read_text())
    headline = summary["headline"]
    assert summary["hardware"]["gpu"], "the run did not record a GPU"
    assert headline["bitwise_identical"] is True
    assert headline["resume_identical"] is True
    assert headline["deterministic_time_ratio"] > 0
    assert (run / "results" / "determinism_modes.csv").is_file()


def test_gpu_config_is_refused_in_one_line_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: the GPU test runs instead")
    out = subprocess.run(
        [sys.executable, "-m", "repro_training", "train", "--config", "configs/gpu.yaml",
         "--run-dir", str(tmp_path / "run")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: train.accelerator=gpu: no CUDA device is visible"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("module", [train, checkpoint, evaluate, predict])
def test_no_tensor_is_pinned_to_the_cpu_in_the_training_path(module):
    """CPU tensors mixed with a CUDA model fail only on a GPU: no device-specific "cpu" may be
    hard-coded where the model's device belongs (loading to the CPU, then copying into the
    model, is fine: map_location)."""
    source = inspect.getsource(module)
    for pinned in ('autocast("cpu"', 'GradScaler("cpu"', '.to("cpu")', 'device="cpu"'):
        assert pinned not in source, f"{module.__name__}: {pinned}"


def test_batches_and_inputs_follow_the_model_device():
    """The training loop moves each batch with fabric.to_device, and prediction moves inputs to
    the device of the model's weights."""
    assert "fabric.to_device((x, y))" in inspect.getsource(train._worker)
    assert ".to(device)" in inspect.getsource(train.predict_images)
    net = torch.nn.Linear(2, 2)
    assert train.model_device(net) == torch.device("cpu")
