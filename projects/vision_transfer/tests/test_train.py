"""Training: a smoke fine-tune learns; a smoke train writes only into its run folder; predict and
evaluate read that run folder; the CLI's error boundary."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import PROJECT, SMOKE, scratch_env, snapshot
from mlcraft.cli import run_cli
from vision_transfer import data, models, recipe
from vision_transfer.__main__ import PROJECT as CLI_PROJECT
from vision_transfer.__main__ import main
from vision_transfer.augment import Normalizer, augment
from vision_transfer.config import DataConfig, FineTuneConfig, ModelConfig
from vision_transfer.evaluate import predict_logits, softmax
from vision_transfer.preflight import EXPECTED_BYTES
from vision_transfer.report import blocks as report_blocks
from vision_transfer.train import fit

HEADLINE = {
    "test_accuracy_finetuned", "test_accuracy_linear_probe", "test_accuracy_scratch",
    "test_accuracy_classical", "test_balanced_accuracy_finetuned",
    "test_defective_recall_finetuned", "ece_before_temperature", "ece_after_temperature",
    "best_augmentation", "train_images_per_s", "data_wait_fraction", "wall_seconds",
}  # fmt: skip
# Tables only the ELPV data has (expert grades, cell types): a smoke run lacks them.
ELPV_ONLY = {"expert_agreement", "slices"}
# Written only when the test split holds confident errors, which a smoke model may not make.
GALLERY = {"failure_gallery.csv", "failure_gallery.md", "failure_gallery.png"}
NEW_SINCE_REFERENCE = {
    f"{name}.{ext}"
    for name in ("audit", "per_class", "comparisons", "review_band", "risk_coverage",
                 "test_predictions", "seeds", "repeat")
    for ext in ("csv", "md")
} | {"risk_coverage.png"}  # fmt: skip


def test_smoke_finetune_lowers_loss():
    cfg = DataConfig(kind="synthetic", image_size=48, synthetic_per_class=24, test_fraction=0.2)
    loaded = data.load(cfg)
    parts = data.split(loaded, cfg)
    torch.manual_seed(0)  # the fresh head's init: independent of which tests ran before
    model = models.build(ModelConfig(), num_classes=2)
    norm = Normalizer([0.5] * 3, [0.5] * 3)
    ft = FineTuneConfig(epochs=4, batch_size=16, warmup_epochs=0.5, patience=10, augment="none")
    result = fit(model, loaded.images, loaded.labels, parts["train"], parts["val"], ft, norm, 0)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.history[-1]["val_accuracy"] >= 0.7
    assert result.train_images_per_s > 0 and 0 <= result.timer["data_wait_fraction"] < 0.5


@pytest.mark.parametrize("policy", ["none", "geometric", "photometric", "aggressive"])
def test_augmentations_keep_shape_and_range(policy):
    x = torch.rand(6, 1, 24, 24)
    out = augment(x, policy, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1.0001
    if policy == "none":
        assert torch.equal(out, x)
    else:
        assert not torch.equal(out, x)


def test_smoke_train_writes_only_its_run_folder(smoke_run):
    run, runs = smoke_run["run"], smoke_run["runs"]
    # The published results/ and README are byte-identical; nothing lands in the cwd.
    assert smoke_run["published_after"] == smoke_run["published_before"]
    assert smoke_run["cwd_files"] == ["runs"]
    # One complete run folder (no .partial left), beside the MLflow store and its artifacts.
    assert sorted(p.name for p in runs.iterdir()) == ["mlartifacts", "mlflow.db", "vision_transfer"]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and info["verb"] == "train"
    assert run.name.startswith("train-smoke-")
    assert sorted(p.name for p in run.iterdir()) == ["REPORT.md", "model", "results", "run.json"]
    model_files = sorted(p.name for p in (run / "model").iterdir())
    assert model_files == ["manifest.json", "model.json", "model.safetensors"]
    # results/ holds the published file names (less the ELPV-only analyses), nothing else; files
    # added since the committed reference run appear in results/ at its rerun.
    published = {p.name for p in (PROJECT / "results").iterdir() if p.is_file()}  # not parts
    written = {p.name for p in smoke_run["results"].iterdir()}
    assert written <= published | NEW_SINCE_REFERENCE, written - published
    assert published - written - GALLERY == {
        f"{name}.{ext}" for name in ELPV_ONLY for ext in ("csv", "md")
    } | {"faults.csv", "faults.md"}  # smoke runs no drills
    # No output records the staging folder's path (it is renamed when the run completes).
    for path in run.rglob("*"):
        if path.suffix in {".json", ".csv", ".md"}:
            assert ".partial" not in path.read_text(), path
    assert smoke_run["summary"]["model_dir"] == "model"


def test_smoke_run_learns_and_reports(smoke_run):
    summary, results = smoke_run["summary"], smoke_run["results"]
    assert set(summary["headline"]) >= HEADLINE
    ladder = pd.read_csv(results / "ladder.csv")
    assert ladder["rung"].iloc[0] == "majority class" and len(ladder) == 7
    # Generated cracks are easy: the pretrained rungs must beat the majority class.
    assert summary["headline"]["test_accuracy_linear_probe"] > 0.75
    assert (ladder["accuracy_lo"] <= ladder["accuracy"]).all()
    assert (ladder["accuracy"] <= ladder["accuracy_hi"]).all()
    assert (ladder["tta"] == "none").all()  # the smoke config turns TTA off: every row says so
    # Every rung below the first has a paired test against the rung above it.
    assert ladder["diff_vs_above"].iloc[1:].notna().all() and pd.isna(ladder["vs_above"].iloc[0])
    assert (ladder["diff_vs_above_lo"] <= ladder["diff_vs_above_hi"]).iloc[1:].all()
    # The human-review band was chosen on validation and checked on test.
    band = pd.read_csv(results / "review_band.csv").iloc[0]
    assert band["band_lo"] <= band["threshold"] <= band["band_hi"]
    assert (results / "risk_coverage.png").is_file()
    # Seconds on 2 idle cores; the bound only catches a smoke config grown to reference size
    # (minutes of CPU), with room for 2 cores shared with other jobs.
    assert summary["headline"]["wall_seconds"] < 600
    # REPORT.md: the README's headings with this run's generated blocks (not the README's prose).
    report = (smoke_run["run"] / "REPORT.md").read_text()
    assert report.startswith(f"# Run report: vision_transfer/{smoke_run['run'].name}")
    assert "## The ladder" in report and "| HOG + logistic regression |" in report
    assert "Deitsch" not in report  # ELPV-anchored readings are left out for other data
    # The same seed again in the same process repeats the ladder's model bitwise on a CPU (each
    # chain reseeds the generator dropout draws from), and the report says so.
    repeat = pd.read_csv(results / "repeat.csv").iloc[0]
    assert repeat["weights_bitwise"] and repeat["test_prob_bitwise"], repeat.to_dict()
    assert repeat["weights_sha256"] == repeat["repeat_weights_sha256"]
    assert "the fine-tune chain rerun with seed 0 in the same process" in report


def _small_elpv_run(tmp_path, *sets: str):
    """A train run at toy size on real ELPV cells (32 px, two seeds and their ensemble, only the
    fine-tune rungs), with `sets` on top; returns its run folder."""
    run = tmp_path / "run"
    common = ["data.kind=elpv", "data.image_size=32", "ladder.seeds=[1]", "ladder.ensemble=true",
              "ladder.classical=false", "ladder.scratch=false", "ladder.linear_probe=false",
              "ablation.enabled=false", "finetune.augment=none", "analysis.profiling=false"]  # fmt: skip
    assert main(["train", "--config", SMOKE, "--run-dir", str(run),
                 *[a for s in (*common, *sets) for a in ("--set", s)]]) == 0  # fmt: skip
    return run


def test_soft_labels_seeds_ensemble_and_gallery_on_a_small_elpv_run(tmp_path):
    """The bigger-budget pieces at toy size on real ELPV cells: soft expert targets, the seed
    spread, the seed ensemble with its paired test, and the gallery with the 300 px originals."""
    run = _small_elpv_run(tmp_path, "data.max_images=240", "finetune.soft_labels=true")
    results = run / "results"
    seeds = pd.read_csv(results / "seeds.csv")
    assert seeds["seed"].tolist() == [0, 1] and seeds["rung"].eq("full fine-tune").all()
    ensemble = pd.read_csv(results / "ensemble.csv").iloc[0]
    assert ensemble["accuracy_lo"] <= ensemble["accuracy"] <= ensemble["accuracy_hi"]
    assert ensemble["diff_lo"] <= ensemble["diff"] <= ensemble["diff_hi"]
    summary = json.loads((results / "summary.json").read_text())
    assert summary["config"]["finetune"]["soft_labels"] is True
    assert summary["headline"]["test_accuracy_ensemble"] == pytest.approx(ensemble["accuracy"])
    gallery = pd.read_csv(results / "failure_gallery.csv")
    assert gallery["image"].str.startswith("images/cell").all()  # named, never a local path
    assert "path" not in pd.read_csv(results / "test_predictions.csv").columns


def test_soft_labels_need_expert_grades(capsys):
    assert run_cli(main, ["train", "--config", SMOKE, "--set", "finetune.soft_labels=true"]) == 2
    assert "need the experts' grades" in capsys.readouterr().err


def test_predict_round_trip(smoke_run, tmp_path, capsys):
    run = str(smoke_run["run"])
    before = snapshot(smoke_run["run"])
    folder = data.write_synthetic_folder(tmp_path / "new", n_per_class=4, size=48, seed=7)
    (folder / "plain" / "bad.png").write_bytes(b"garbage")
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", run, "--input", str(folder), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "9 rows" in printed and "8 scored" in printed
    frame = pd.read_csv(out)
    # One row per input file, keyed by its path; the unreadable file is named with its reason.
    assert len(frame) == 9 and frame["file"].is_unique
    bad = frame[frame["file"] == "plain/bad.png"].iloc[0]
    assert bad["status"] == "unreadable image: UnidentifiedImageError"
    assert pd.isna(bad["predicted"]) and pd.isna(bad["p_cracked"])
    frame = frame[frame["status"] == "ok"]
    assert len(frame) == 8 and set(frame["predicted"]) <= {"plain", "cracked"}
    assert np.allclose(frame[["p_cracked", "p_plain"]].sum(axis=1), 1.0)
    # The same model loaded in-process gives the same probabilities.
    model, meta = models.load_model(run)
    loaded = data.load(DataConfig(kind="folder", path=str(folder), image_size=48))
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False)
    prob = softmax(
        predict_logits(model, loaded.images, norm, tta=meta["tta"])[0], meta["temperature"]
    )
    by_name = dict(zip(frame["file"], frame["p_cracked"], strict=True))
    files = [str(Path(p).relative_to(folder)) for p in loaded.meta["path"]]
    assert np.allclose([by_name[f] for f in files], prob[:, 1], atol=1e-5)
    assert meta["classes"] == ["plain", "cracked"]
    # One image file works as --input too; the run folder itself is never written to.
    one = tmp_path / "one.csv"
    image = folder / "cracked" / "img0004.png"
    assert main(["predict", "--model", run, "--input", str(image), "--output", str(one)]) == 0
    assert pd.read_csv(one)["file"].tolist() == ["img0004.png"]
    assert snapshot(smoke_run["run"]) == before


def test_predict_refuses_bad_outputs_in_one_line(smoke_run, tmp_path, capsys):
    run = str(smoke_run["run"])
    folder = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=2, size=48)
    image = folder / "plain" / "img0000.png"
    original = image.read_bytes()
    (tmp_path / "empty").mkdir()
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(original[: len(original) // 2])  # a truncated PNG
    out = str(tmp_path / "p.csv")
    cases = {
        "is the --input file": [str(image), str(image)],
        "inside the --model run folder": [str(folder), f"{run}/p.csv"],
        "--output=": [str(folder), str(tmp_path)],  # a folder
        "no image files": [str(tmp_path / "empty"), str(tmp_path / "p.csv")],
        # one --input file that does not decode: nothing to score (a folder keeps its rows)
        "zero.png: the file is empty (0 bytes)": [str(tmp_path / "zero.png"), out],
        "corrupt.png: unreadable image (": [str(tmp_path / "corrupt.png"), out],
    }
    for message, (source, output) in cases.items():
        argv = ["predict", "--model", run, "--input", source, "--output", output]
        assert run_cli(main, argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert image.read_bytes() == original
    assert not (tmp_path / "p.csv").exists() and not list(smoke_run["run"].glob("p.csv"))


def test_a_changed_model_byte_is_refused_in_one_line(smoke_run, tmp_path, capsys):
    copy = tmp_path / smoke_run["run"].name
    shutil.copytree(smoke_run["run"], copy)
    weights = copy / "model" / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(raw))
    image = data.write_synthetic_folder(tmp_path / "imgs", 1, 48) / "plain" / "img0000.png"
    argv = [
        "predict",
        "--model",
        str(copy),
        "--input",
        str(image),
        "--output",
        str(tmp_path / "p.csv"),
    ]
    assert run_cli(main, argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "sha256 differs from manifest.json" in lines[0], lines
    assert not (tmp_path / "p.csv").exists()


def test_models_load_from_safetensors_only(smoke_run, monkeypatch):
    def no_pickles(*args, **kwargs):
        raise AssertionError("torch.load called while loading a run's model")

    monkeypatch.setattr(torch, "load", no_pickles)
    model, meta = models.load_model(smoke_run["run"])
    assert len(meta["classes"]) == 2 and not model.training
    manifest = json.loads((smoke_run["run"] / "model" / "manifest.json").read_text())
    assert sorted(manifest["sha256"]) == ["model.json", "model.safetensors"]


def test_evaluate_reproduces_the_runs_test_accuracy(smoke_run, monkeypatch):
    runs = scratch_env(monkeypatch, smoke_run["base"])
    assert main(["evaluate", "--config", SMOKE, "--model", str(smoke_run["run"])]) == 0
    (evaluation,) = (runs / "vision_transfer").glob("evaluate-smoke-*")
    result = json.loads((evaluation / "results" / "evaluation.json").read_text())
    head = smoke_run["summary"]["headline"]
    # The saved threshold lives on temperature-scaled probabilities: same decisions as in training.
    assert result["accuracy"] == pytest.approx(head["test_accuracy_finetuned"])
    assert result["roc_auc"] == pytest.approx(head["test_roc_auc_finetuned"])
    assert (evaluation / "results" / "evaluation.csv").is_file()
    assert not list(smoke_run["run"].rglob("evaluation*"))  # the model's run is only read


def test_cli_bad_input_is_one_line_error(tmp_path, capsys, scratch_runs):
    def error(argv: list[str]) -> str:
        assert run_cli(main, argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, lines
        return lines[0]

    images = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=1, size=16)
    predict = ["predict", "--input", str(images), "--output", str(tmp_path / "p.csv")]
    assert "no such run folder" in error([*predict, "--model", str(tmp_path / "nope")])
    fake = tmp_path / "fake-run"
    (fake / "model").mkdir(parents=True)
    assert "not a complete run folder" in error([*predict, "--model", str(fake)])
    (tmp_path / "empty").mkdir()
    no_images = [*predict, "--model", str(fake), "--input", str(tmp_path / "empty")]
    assert "no image files" in error(no_images)
    assert "--output=" in error([*predict, "--model", str(fake), "--output", str(tmp_path)])
    (fake / "run.json").write_text('{"status": "complete", "verb": "train"}')
    for name in ("model.json", "model.safetensors"):
        (fake / "model" / name).write_text('{"arch": "a", "classes": [], "image_size": 8, '
                                           '"mean": [], "std": []}')  # fmt: skip
    inside = [*predict, "--model", str(fake), "--output", str(fake / "p.csv")]
    assert "inside the --model run folder" in error(inside)
    config = tmp_path / "bad.yaml"
    config.write_text("finetune:\n  epohcs: 3\n")
    assert "unknown config key 'finetune.epohcs'" in error(["train", "--config", str(config)])
    # The old output keys are gone: each is an unknown key, not a silent no-op.
    for key in ("output.results_dir=x", "output.runs_dir=x", "output.run_name=x"):
        assert "unknown config key 'output'" in error(["train", "--config", SMOKE, "--set", key])
    assert not scratch_runs.exists()  # nothing was made by any of these


def test_predict_requires_output(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "--model", "x", "--input", "y"])
    assert exc.value.code == 2 and "--output" in capsys.readouterr().err


def test_console_script_goes_through_the_error_boundary(scratch_runs):
    code = "from vision_transfer.__main__ import console; console()"
    out = subprocess.run(
        [sys.executable, "-c", code, "train", "--config", "nope.yaml"],
        capture_output=True, text=True, cwd=PROJECT,
    )  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config file not found: nope.yaml"]
    script = PROJECT / "pyproject.toml"
    assert 'vision-transfer = "vision_transfer.__main__:console"' in script.read_text()


def test_cli_disk_budget_matches_preflight():
    assert CLI_PROJECT.expected_bytes == EXPECTED_BYTES


def test_recipe_rule_keeps_each_change_that_beats_the_base_on_validation():
    base = {"name": "base", "factor": "base", "image_size": 128,
            "backbone": "tf_efficientnet_lite0", "soft_labels": False, "val_accuracy": 0.85}  # fmt: skip
    rows = [
        base,
        {
            **base,
            "name": "soft labels",
            "factor": "labels",
            "soft_labels": True,
            "val_accuracy": 0.86,
        },  # fmt: skip
        {
            **base,
            "name": "160 px",
            "factor": "resolution",
            "image_size": 160,
            "val_accuracy": 0.85,
        },  # a tie keeps the base  # fmt: skip
        {
            **base,
            "name": "lite1",
            "factor": "backbone",
            "backbone": "tf_efficientnet_lite1",
            "val_accuracy": 0.87,
        },  # fmt: skip
        {
            **base,
            "name": "lite2",
            "factor": "backbone",
            "backbone": "tf_efficientnet_lite2",
            "val_accuracy": 0.88,
        },  # fmt: skip
    ]
    final = recipe.final_variant(rows, "val_accuracy")
    assert (final.backbone, final.image_size, final.soft_labels) == (
        "tf_efficientnet_lite2", 128, True,
    )  # fmt: skip
    worse = [base, {**rows[1], "val_accuracy": 0.80}]
    kept = recipe.final_variant(worse, "val_accuracy")
    assert (kept.backbone, kept.image_size, kept.soft_labels) == (
        "tf_efficientnet_lite0",
        128,
        False,
    )


def test_recipe_search_then_the_final_recipe_on_a_small_elpv_run(tmp_path):
    """The recipe search at toy size on real ELPV cells: every single change is trained and
    scored on validation, the ladder trains the chosen recipe, test is compared once with the base."""
    run = _small_elpv_run(tmp_path, "data.max_images=200", "recipe.soft_labels=true",
                          "recipe.image_sizes=[40]", "recipe.backbones=[tf_efficientnet_lite1]",
                          "recipe.epochs=1", "analysis.gallery=false")  # fmt: skip
    results = run / "results"
    search = pd.read_csv(results / "recipe_search.csv")
    assert search["factor"].tolist() == ["base", "labels", "resolution", "backbone"]
    assert search["val_accuracy"].between(0, 1).all()
    summary = json.loads((results / "summary.json").read_text())
    final = summary["recipe"]["final"]
    assert final == asdict(recipe.final_variant(search.to_dict("records"), "val_accuracy"))
    model_meta = json.loads((run / "model" / "model.json").read_text())
    assert (model_meta["arch"], model_meta["image_size"]) == (
        final["backbone"],
        final["image_size"],
    )
    versus = pd.read_csv(results / "recipe_vs_base.csv")
    assert versus["rung"].tolist() == ["final recipe, seed 0", "final recipe, seed 1",
                                       "final recipe, ensemble of 2 seeds"]  # fmt: skip
    assert (versus["diff_lo"] <= versus["diff"]).all() and (
        versus["diff"] <= versus["diff_hi"]
    ).all()
    diff = versus["accuracy"] - versus["base_accuracy"]
    assert np.allclose(diff, versus["diff"])
    assert summary["headline"]["test_accuracy_diff_vs_base_recipe"] == pytest.approx(diff.iloc[-1])
    report = (run / "REPORT.md").read_text()  # the run's own report: its row and its search
    assert "| this run |" in report and "Chosen: **final:" in report
    assert "minus the base recipe" in report and "Goal test accuracy" in report
    published = tmp_path / "published"  # the README beside the reference: results/full/
    shutil.copytree(PROJECT / "results", published)
    shutil.copytree(results, published / "full", dirs_exist_ok=True)
    rendered = report_blocks(published)
    assert "| reference (configs/default.yaml) |" in rendered["budgets"]
    assert "| bigger budget (configs/full.yaml) |" in rendered["budgets"]
    assert "Chosen: **final:" in rendered["recipe_full"]


def test_recipe_search_refuses_augment_auto(capsys):
    args = ["train", "--config", SMOKE, "--set", "recipe.image_sizes=[56]",
            "--set", "finetune.augment=auto"]  # fmt: skip
    assert run_cli(main, args) == 2
    assert "not auto" in capsys.readouterr().err


def test_recipe_backbones_are_checked_before_training(capsys):
    args = ["train", "--config", SMOKE, "--set", "recipe.backbones=[tf_efficientnet_b7]"]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err
    assert "recipe.backbones" in err and "tf_efficientnet_b7" in err
