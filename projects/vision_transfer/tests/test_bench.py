"""`bench` on the smoke config through the real CLI: the project's own training step and inference
timed, written as results/bench/, rendered by the report; a bad --steps is one line, exit 2."""

import json

import pandas as pd
import pytest
from conftest import SMOKE
from mlcraft.bench import published_block
from mlcraft.cli import run_cli
from vision_transfer.__main__ import main
from vision_transfer.readings import bench_target


def test_bench_times_each_policy_and_inference_and_reports_it(scratch_runs, tmp_path):
    run = tmp_path / "bench"
    assert main(["bench", "--config", SMOKE, "--steps", "3", "--run-dir", str(run)]) == 0
    assert json.loads((run / "run.json").read_text())["verb"] == "bench"
    table = pd.read_csv(run / "results" / "bench" / "bench.csv")
    # smoke names one policy (not auto): one train row, then inference
    assert table["phase"].tolist() == ["train", "inference"]
    train, infer = table.iloc[0], table.iloc[1]
    assert train["augment"] == "geometric"  # smoke's policy
    meta = json.loads((run / "results" / "bench" / "bench.json").read_text())
    # smoke's 22 training images: batches of 16 and 6 (the partial one, a shape of its own, is in
    # the untimed warm-up); the 3 timed steps after it, and only those, are counted
    warmup = meta["warmup_steps"]
    assert warmup >= 5 and meta["inference_warmup"].startswith("timed on a second pass")
    assert train["examples"] == sum((16, 6)[step % 2] for step in range(warmup, warmup + 3))
    assert 0 <= train["data_wait_fraction"] < 1 and pd.isna(infer["data_wait_fraction"])
    # a training step counts as forward + backward: 3x the forward FLOPs per image, same size
    assert train["gflops_per_example"] == pytest.approx(3 * infer["gflops_per_example"])
    assert (table["examples_per_s"] > 0).all() and (table["mfu"] > 0).all()
    assert (table["mfu"] < 1).all() and (table["image_size"] == 48).all()
    assert meta["device"] == "cpu" and meta["model_config"]["data"]["image_size"] == 48
    block = published_block(run / "results", bench_target)  # what report renders in docs/
    assert "Measured by `bench`" in block and "No GPU: the GPU target" in block
    assert f"3 training steps after {warmup} untimed ones" in block.splitlines()[0]


def _gpu_table(rate: float) -> pd.DataFrame:
    return pd.DataFrame([{"phase": "train", "image_size": 224, "augment": "none",
                          "examples_per_s": rate, "data_wait_fraction": 0.01}])  # fmt: skip


def test_the_gpu_target_is_judged_only_on_a_table_timed_after_warm_up():
    # a legacy table (no warmup_steps: timed from the first step) is not a verdict either way
    for rate in (750.0, 6000.0):
        legacy = bench_target({"device": "cuda", "steps": 30}, _gpu_table(rate))
        assert "not judged" in legacy and "includes warm-up" in legacy
        assert f"{rate:,.0f} images/s" in legacy
        assert "met" not in legacy and "missed" not in legacy
    steady = {"device": "cuda", "steps": 30, "warmup_steps": 7}
    assert "): missed (750 images/s" in bench_target(steady, _gpu_table(750.0))
    assert "): met (6,000 images/s" in bench_target(steady, _gpu_table(6000.0))


def test_bench_refuses_too_few_steps_before_making_a_folder(scratch_runs, tmp_path, capsys):
    run = tmp_path / "bench"
    assert run_cli(main, ["bench", "--config", SMOKE, "--steps", "1", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --steps=1") and "\n" not in err and not run.exists()
    assert run_cli(main, ["bench", "--config", SMOKE, "--warmup", "-1", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --warmup=-1") and "\n" not in err and not run.exists()
