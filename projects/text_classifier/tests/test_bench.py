"""`bench` on the smoke config through the real CLI: the fine-tune's training step under
Lightning and inference timed, written as results/bench/, rendered by the report."""

import json

import pandas as pd
from conftest import SMOKE
from mlcraft.bench import published_block
from text_classifier.__main__ import main
from text_classifier.narrative import bench_target


def test_bench_times_the_finetune_step_and_inference_and_reports_it(tmp_path):
    run = tmp_path / "bench"
    assert main(["bench", "--config", SMOKE, "--steps", "3", "--run-dir", str(run)]) == 0
    table = pd.read_csv(run / "results" / "bench" / "bench.csv")
    assert table["phase"].tolist() == ["train", "inference"]
    train, infer = table.iloc[0], table.iloc[1]
    assert train["examples"] == 3 * 16 and 0 <= train["data_wait_fraction"] < 1
    assert train["gflops_per_example"] > infer["gflops_per_example"] > 0  # backward costs too
    assert (table["examples_per_s"] > 0).all() and ((table["mfu"] > 0) & (table["mfu"] < 1)).all()
    meta = json.loads((run / "results" / "bench" / "bench.json").read_text())
    assert meta["device"] == "cpu" and meta["steps"] == 3 and meta["warmup_steps"] == 5
    assert meta["inference_warmup"].startswith("timed on a second pass")
    block = published_block(run / "results", bench_target)  # what report renders in docs/
    assert "Measured by `bench`" in block and "No GPU: the GPU target" in block
    assert "3 training steps after 5 untimed ones" in block.splitlines()[0]


def test_the_warm_up_steps_run_untimed_before_the_timed_ones(tmp_path):
    run = tmp_path / "bench"
    args = ["bench", "--config", SMOKE, "--steps", "2", "--warmup", "1", "--run-dir", str(run)]
    assert main(args) == 0
    table = pd.read_csv(run / "results" / "bench" / "bench.csv")
    assert table["examples"].iloc[0] == 2 * 16  # the warm-up step's 16 left out
    assert json.loads((run / "results" / "bench" / "bench.json").read_text())["warmup_steps"] == 1


def _gpu_table(rate: float) -> pd.DataFrame:
    return pd.DataFrame([{"phase": "train", "max_length": 128, "examples_per_s": rate}])


def test_the_gpu_target_is_judged_only_on_a_table_timed_after_warm_up():
    # a legacy table (no warmup_steps: timed from the first step) is not a verdict either way
    for rate in (900.0, 2500.0):
        legacy = bench_target({"device": "cuda", "steps": 30}, _gpu_table(rate))
        assert "not judged" in legacy and "includes warm-up" in legacy
        assert f"{rate:,.0f} examples/s" in legacy
        assert "met" not in legacy and "missed" not in legacy
    steady = {"device": "cuda", "steps": 30, "warmup_steps": 5}
    assert "): missed (900 examples/s)" in bench_target(steady, _gpu_table(900.0))
    assert "): met (2,500 examples/s)" in bench_target(steady, _gpu_table(2500.0))
