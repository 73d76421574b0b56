"""`bench` on the smoke config through the real CLI: the project's own training step and inference
timed, written as results/bench/, rendered by the report (mlcraft.cli refuses a bad --steps
for every project: the vision and text tests cover it)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from mlcraft.bench import published_block
from repro_training.__main__ import main

SMOKE = str(Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml")


def test_bench_times_training_steps_and_inference_and_reports_them(scratch_runs, tmp_path):
    run = tmp_path / "bench"
    assert main(["bench", "--config", SMOKE, "--steps", "3", "--run-dir", str(run)]) == 0
    assert json.loads((run / "run.json").read_text())["verb"] == "bench"
    table = pd.read_csv(run / "results" / "bench" / "bench.csv")
    assert table["phase"].tolist() == ["train", "inference"]
    train, infer = table.iloc[0], table.iloc[1]
    assert train["examples"] == 3 * 32  # the 3 timed steps of 32, not the warm-up's
    assert 0 <= train["data_wait_fraction"] < 1 and pd.isna(infer["data_wait_fraction"])
    assert train["gflops_per_example"] == pytest.approx(3 * infer["gflops_per_example"])
    assert (table["examples_per_s"] > 0).all() and (table["mfu"] > 0).all()
    assert (table["image_size"] == 8).all()  # the digits are 8 x 8
    meta = json.loads((run / "results" / "bench" / "bench.json").read_text())
    assert meta["device"] == "cpu" and meta["model_config"]["data"]["name"] == "digits"
    assert meta["warmup_steps"] == 5 and meta["inference_warmup"].startswith("timed on a second")
    block = published_block(run / "results")  # what report renders in docs/operator.md
    assert "Measured by `bench`" in block and "| train |" in block
    assert "3 training steps after 5 untimed ones" in block.splitlines()[0]


def test_the_hardware_cell_verb_still_prints_one_cell(capsys):
    assert main(["hardware-cell", "--steps", "2", "--batch-size", "8", "--size", "16",
                 "--widths", "4,8"]) == 0  # fmt: skip
    cell = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cell["precision"] == "fp32"
    # every timed step, for the report's CIs of step-time ratios (hardware_steps.csv)
    assert len(cell["step_ms_all"]) == 2 and min(cell["step_ms_all"]) == cell["step_ms_best"]
