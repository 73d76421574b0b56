"""Any number of classes: a generated 3-class ImageFolder through `train` with
configs/folder_example.yaml at smoke size, and two runs of the same config never share a folder."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import PROJECT
from vision_transfer import data
from vision_transfer.__main__ import main
from vision_transfer.report import blocks

FOLDER = str(PROJECT / "configs" / "folder_example.yaml")
SMOKE_SIZE = [
    "data.image_size=40", "finetune.epochs=2", "finetune.batch_size=16",
    "finetune.warmup_epochs=0.5", "ladder.scratch_epochs=1", "ladder.last_stages_epochs=1",
    "analysis.n_boot=30", "analysis.profiling=false", "finetune.augment=auto",
    "ablation.enabled=true", "ablation.variants=[none, geometric]", "ablation.epochs=1",
]  # fmt: skip


def _sets(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("three")
    root = data.write_synthetic_folder(base / "imgs", n_per_class=14, size=40, classes=3)
    shutil.copy(root / "plain" / "img0000.png", root / "plain" / "copy.png")  # a duplicate
    (root / "spotted" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    runs = base / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCRAFT_RUNS_DIR", str(runs))
        argv = ["train", "--config", FOLDER, *_sets(f"data.path={root}", *SMOKE_SIZE)]
        assert main(argv) == 0
        first = set((runs / "vision_transfer").iterdir())
        no_rungs = [f"ladder.{k}=false" for k in ("classical", "scratch", "linear_probe")]
        assert (
            main([*argv, *_sets(*no_rungs, "ladder.last_stages=false", "ladder.full=false")]) == 0
        )
    return {"runs": sorted((runs / "vision_transfer").iterdir()), "first": first}


def test_three_classes_run_to_the_end_with_per_class_scores(three_class_run):
    (run,) = three_class_run["first"]
    results = run / "results"
    per_class = pd.read_csv(results / "per_class.csv")
    assert per_class["class"].tolist() == ["cracked", "plain", "spotted"]
    assert per_class["recall"].notna().all()  # every class has test rows
    for metric in ("precision", "recall", "f1"):
        # precision is undefined (NaN, rendered "n/a") for a class the toy model never predicts
        rows = per_class[per_class[metric].notna()]
        assert (rows[f"{metric}_lo"] <= rows[metric] + 1e-9).all()
        assert (rows[metric] <= rows[f"{metric}_hi"] + 1e-9).all()
    calibration = pd.read_csv(results / "calibration.csv").iloc[0]
    assert calibration["probability"] == "top-label confidence"
    assert 0 <= calibration["ece_before"] <= 1 and (results / "reliability.png").is_file()
    ladder = pd.read_csv(results / "ladder.csv")
    assert "recall" not in ladder  # no positive class among three
    # Every ladder row states its TTA: the trained rungs use it (ladder.tta), the others do not,
    # and every rung has a single-view accuracy to compare like with like.
    trained = ladder["rung"].str.contains("scratch|fine-tune")
    assert (ladder.loc[trained, "tta"] == "8-view").all() and trained.sum() == 3
    assert (ladder.loc[~trained, "tta"] == "none").all()
    assert ladder["accuracy_no_tta"].notna().all()
    same = ~trained  # without TTA, the single-view number is the number
    assert (ladder.loc[same, "accuracy_no_tta"] == ladder.loc[same, "accuracy"]).all()
    comparisons = pd.read_csv(results / "comparisons.csv")
    assert comparisons["comparison"].str.contains("8-view TTA - single view").any()
    rendered = blocks(results)
    assert "| spotted |" in rendered["per_class"]
    assert "| TTA |" in rendered["ladder"].splitlines()[0].replace("| rung ", "")
    assert "top-label confidence" in rendered["calibration"]
    # The audit named the duplicate and the unreadable file; its banner opens REPORT.md.
    report = (run / "REPORT.md").read_text()
    body = report.split("Every table below was rendered from this run's results/.", 1)[1]
    assert body.lstrip().startswith("> **Data audit: 2 finding(s).**")
    assert "spotted/broken.png: " in report and "identical images" in report


def test_augment_auto_follows_the_rule_on_validation(three_class_run):
    (run,) = three_class_run["first"]
    summary = json.loads((run / "results" / "summary.json").read_text())
    ablation = pd.read_csv(run / "results" / "ablation.csv")
    best = ablation["augmentation"].iloc[int(ablation["val_accuracy"].to_numpy().argmax())]
    assert summary["augmentation"] == {"configured": "auto", "used": best, "rule": "val_accuracy"}
    assert summary["headline"]["best_augmentation"] == best


def test_folder_example_runs_never_overwrite_each_other(three_class_run):
    runs = three_class_run["runs"]
    assert len(runs) == 2 and runs[0].name != runs[1].name
    (first,) = three_class_run["first"]
    assert (first / "model" / "model.safetensors").is_file()  # the second run left it alone
    assert all((run / "results" / "summary.json").is_file() for run in runs)
