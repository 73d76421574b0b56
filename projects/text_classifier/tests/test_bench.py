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
    assert meta["device"] == "cpu" and meta["steps"] == 3
    block = published_block(run / "results", bench_target)  # what report renders in docs/
    assert "Measured by `bench`" in block and "No GPU: the GPU target" in block
