import os
import sys
import time

import pytest
from mlcraft.profiling import StepTimer, measure_throughput, peak_memory

torch = pytest.importorskip("torch")

from mlcraft.profiling import torch_profile  # noqa: E402


class SlowDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        time.sleep(0.01)  # 4 items per batch: 40 ms of loading per step
        return torch.randn(8), torch.randn(1)


def test_slow_loader_shows_up_as_data_wait():
    loader = torch.utils.data.DataLoader(SlowDataset(), batch_size=4)
    model = torch.nn.Linear(8, 1)
    timer = StepTimer()
    for x, y in timer.wrap(loader):
        torch.nn.functional.mse_loss(model(x), y).backward()
    summary = timer.summary()
    assert summary["steps"] == 4 and summary["samples"] == 16
    assert summary["data_wait_fraction"] > 0.5


def test_slow_compute_shows_up_as_compute():
    timer = StepTimer()
    for _ in timer.wrap([([1, 2],)] * 5):
        time.sleep(0.02)
    summary = timer.summary()
    assert summary["data_wait_fraction"] < 0.1
    assert summary["samples_per_s"] == pytest.approx(10 / summary["compute_seconds"], rel=0.2)


def test_skip_first_leaves_the_warm_up_steps_out_of_every_total():
    timer = StepTimer(skip_first=2)
    seen = []
    for (x,) in timer.wrap([([1] * 4,), ([1] * 4,), ([1] * 2,), ([1] * 3,)]):
        seen.append(len(x))
        time.sleep(0.05 if len(seen) <= 2 else 0.0)  # slow warm-up steps, fast timed ones
    summary = timer.summary()
    assert seen == [4, 4, 2, 3]  # the warm-up steps still run
    assert summary["warmup_steps"] == 2 and summary["steps"] == 2 and summary["samples"] == 5
    assert summary["compute_seconds"] < 0.05  # neither slow step is in the total
    recorded = StepTimer(skip_first=1)
    for seconds, samples in [(9.0, 100), (0.5, 8), (0.5, 8)]:
        recorded.record(0.0, seconds, samples)
    assert recorded.summary()["samples_per_s"] == 16  # the 9 s warm-up step left out
    assert StepTimer().summary()["warmup_steps"] == 0
    with pytest.raises(ValueError, match="skip_first"):
        StepTimer(skip_first=-1)


def test_peak_memory_sees_a_large_allocation():
    before = peak_memory()["rss_peak_bytes"]
    block = bytearray(300 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch pages so they count as resident
    after = peak_memory()["rss_peak_bytes"]
    assert after >= before and after >= 300 * 1024 * 1024
    del block


def test_measure_throughput_counts_items():
    result = measure_throughput(lambda: time.sleep(0.01), items=10, repeats=3)
    assert 300 < result["items_per_s"] < 1000


def test_torch_profile_writes_trace_and_top_ops(tmp_path):
    model = torch.nn.Linear(64, 64)
    with torch_profile(tmp_path):
        for _ in range(3):
            model(torch.randn(32, 64)).sum().backward()
    assert (tmp_path / "trace.json").stat().st_size > 0
    csv = (tmp_path / "top_ops.csv").read_text().splitlines()
    assert csv[0].startswith("op,calls")
    assert any("addmm" in line or "linear" in line for line in csv[1:])


def test_lightning_callback_splits_data_wait_from_compute():
    lightning = pytest.importorskip("lightning.pytorch")
    from mlcraft.lightning_callbacks import StepTimerCallback

    class Tiny(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def timed(callback):
        trainer = lightning.Trainer(
            max_epochs=1, callbacks=[callback], logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
        )  # fmt: skip
        trainer.fit(Tiny(), torch.utils.data.DataLoader(SlowDataset(), batch_size=4))
        return callback.timer.summary()

    summary = timed(StepTimerCallback())
    assert summary["steps"] == 4 and summary["samples"] == 16
    assert summary["data_wait_fraction"] > 0.5
    summary = timed(StepTimerCallback(skip_first=3))  # 3 warm-up steps run, then 1 is timed
    assert summary["warmup_steps"] == 3 and summary["steps"] == 1 and summary["samples"] == 4


def test_torch_profile_keeps_kinetos_log_noise_off_stderr(tmp_path):
    """Kineto prints profiler start/stop markers (and, without a GPU, an ERROR line) on every
    profile unless its log level is raised first; a fresh process shows what a run's log gets."""
    import subprocess

    code = (
        "import torch\nfrom mlcraft.profiling import torch_profile\n"
        f"with torch_profile({str(tmp_path)!r}):\n    torch.ones(8).sum()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "profiler_start" not in done.stderr and "gpuGetDeviceCount" not in done.stderr
