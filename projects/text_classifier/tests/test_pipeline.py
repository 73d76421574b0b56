"""The real entrypoints on the smoke config: train into a run folder, a rung subset, predict,
evaluate, search + resume, REPORT.md, config and CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT, SMOKE
from mlcraft.cli import run_cli
from text_classifier.__main__ import main
from text_classifier.config import load
from text_classifier.data import load_reviews
from text_classifier.report import blocks

HEADLINE = [
    "test_accuracy_finetuned", "test_accuracy_tfidf", "test_accuracy_majority",
    "test_macro_f1_finetuned", "test_macro_f1_tfidf", "ece_before_temperature",
    "ece_after_temperature", "worst_perturbation", "worst_perturbation_flip_rate",
    "inference_examples_per_s", "wall_seconds",
]  # fmt: skip
# the published files a train run writes (serve/, compress/, full/ are published by other runs)
PUBLISHED = sorted(
    p.name for p in (PROJECT / "results").iterdir() if p.is_file() and p.name != "faults.csv"
)
# written by every run since the data audit, per-class scores, the hero figure and the review band
NEW_FILES = ["audit.csv", "audit.md", "ladder.png", "per_class.csv", "per_class.md",
             "review_band.csv", "review_band.md", "risk_coverage.csv", "risk_coverage.md",
             "risk_coverage.png"]  # fmt: skip


def test_smoke_train_writes_a_complete_run(smoke_run):
    summary, run_dir, _, _ = smoke_run
    head = summary["headline"]
    for key in HEADLINE:
        assert head[key] is not None, key
    # TF-IDF must learn something even on ~170 reviews: above the majority's macro-F1 (~0.45).
    assert head["test_macro_f1_tfidf"] > 0.55
    results = run_dir / "results"
    # the same file names as the published results/ (what `publish` copies), nothing else
    names = sorted(p.name for p in results.iterdir())
    expected = {n for n in PUBLISHED if not n.startswith("faults.")} | set(NEW_FILES)
    assert names == sorted(expected)
    assert summary["headline"]["wall_seconds"] == summary["wall_seconds"]  # one clock
    per_class = pd.read_csv(results / "per_class.csv")
    assert len(per_class) == 4 * 2  # every rung, both classes
    assert (per_class["f1_lo"] <= per_class["f1"]).all() and (
        per_class["f1"] <= per_class["f1_hi"]
    ).all()
    assert json.loads((results / "summary.json").read_text())["headline"] == head
    ladder = pd.read_csv(results / "ladder.csv")
    assert list(ladder["rung"]) == ["majority", "tfidf", "frozen", "finetune"]
    assert (ladder["accuracy_lo"] <= ladder["accuracy"]).all()
    assert (ladder["accuracy"] <= ladder["accuracy_hi"]).all()
    assert (run_dir / "model" / "finetune" / "model.safetensors").is_file()
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["files"] == {"tfidf": "model/tfidf.skops", "finetune": "model/finetune"}
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    comparison = summary["finetune_vs_tfidf_macro_f1"]
    assert comparison["lo"] <= comparison["hi"]


def test_train_writes_only_its_run_folder(smoke_run, scratch_runs):
    summary, run_dir, before, after = smoke_run
    assert after == before  # results/, README.md, configs: the project tree is byte-identical
    assert summary["run_id"] == run_dir.name
    # no output names the staging folder (it is renamed when the run completes)
    for path in run_dir.rglob("*"):
        if path.suffix in {".json", ".csv", ".md"}:
            assert ".partial" not in path.read_text(), path
    assert not list(scratch_runs.glob("text_classifier/*"))  # --run-dir: nothing under runs/


def test_report_md_renders_this_run(smoke_run):
    summary, run_dir, _, _ = smoke_run
    report = (run_dir / "REPORT.md").read_text()
    assert report.startswith(f"# Run report: text_classifier/{run_dir.name}")
    assert "## The ladder" in report and "| 4. fine-tuned MiniLM (Lightning) |" in report
    assert "## Calibration" in report and "## Slices" in report
    assert "Clothing reviews" not in report  # the README's prose is not borrowed
    # the robustness sample's clean accuracy is explained against the whole test split
    assert f"sample of {summary['robustness_sample']['rows']} of the" in report


@pytest.mark.parametrize("rungs", ["[majority]", "[frozen]", "[finetune]"])
def test_every_cheap_rung_subset_runs_to_the_end(rungs, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["train", "--config", SMOKE, "--run-dir", str(run_dir), "--set", f"rungs={rungs}"]
    assert main(argv) == 0
    ladder = pd.read_csv(run_dir / "results" / "ladder.csv")
    assert list(ladder["rung"]) == [rungs.strip("[]")]
    assert (run_dir / "REPORT.md").is_file()


def test_calibration_table_and_figure_share_the_bins(smoke_run):
    """ECE in calibration.csv is the count-weighted gap of reliability.csv's bins (one bin count)."""
    summary, run_dir, _, _ = smoke_run
    results = run_dir / "results"
    cal = pd.read_csv(results / "calibration.csv").set_index("model")
    rel = pd.read_csv(results / "reliability.csv")
    bins = summary["config"]["analysis"]["calibration_bins"]
    assert (cal["bins"] == bins).all()
    for model in cal.index:
        part = rel[rel["model"] == f"{model} + temperature"]
        assert part["bin"].max() < bins
        assert np.allclose(part["upper"] - part["lower"], 1 / bins)
        gap = ((part["observed"] - part["mean_predicted"]).abs() * part["count"]).sum()
        assert cal.loc[model, "ece_after"] == pytest.approx(gap / part["count"].sum())
        assert cal.loc[model, "ece_after_lo"] <= cal.loc[model, "ece_after_hi"]
    report = (run_dir / "REPORT.md").read_text()
    assert f"{bins} equal-width bins" in report


def test_split_table_sums_to_the_file(smoke_run):
    from text_classifier.report import split_rows

    for summary in (smoke_run[0], json.loads((PROJECT / "results" / "summary.json").read_text())):
        d = summary["data_description"]
        rows = split_rows(d, summary["config"]["data"].get("val_subsample"))
        assert rows[-1]["count"] == d["rows_in_file"]
        assert sum(r["count"] for r in rows[:-1]) == d["rows_in_file"]


def test_error_quotes_come_from_errors_csv(smoke_run):
    _, run_dir, _, _ = smoke_run
    errors = pd.read_csv(run_dir / "results" / "errors.csv")
    report = (run_dir / "REPORT.md").read_text()
    quoted = [line for line in report.splitlines() if line.startswith("- row ")]
    assert quoted and len(quoted) == min(3, len(errors))
    raw, _ = load_reviews()  # row_id is the data file's row: its text is the error's text
    for line, (_, error) in zip(quoted, errors.iterrows(), strict=False):
        assert line.startswith(f"- row {error['row_id']}, true '{error['label']}', shown ")
        assert f"{error['confidence']:.2f} for '{error['predicted']}', {error['kind']}: " in line
        quote = line.split(': "', 1)[1].rstrip('"').removesuffix("…")
        assert " ".join(error["text"].split()).startswith(quote)
        assert raw["text"].iloc[error["row_id"]] == error["text"]


def test_train_writes_the_review_band_on_the_finetunes_calibrated_probabilities(smoke_run):
    """The band around the fine-tune's threshold, on the temperature-scaled probabilities the
    ladder and the error analysis use; REPORT.md shows it with its risk-coverage figure."""
    summary, run_dir, _, _ = smoke_run
    results = run_dir / "results"
    band = pd.read_csv(results / "review_band.csv").iloc[0]
    ladder = pd.read_csv(results / "ladder.csv").set_index("rung")
    assert band["threshold"] == pytest.approx(ladder.loc["finetune", "threshold"], abs=1e-4)
    assert band["max_error"] == summary["config"]["analysis"]["review_max_error"] == 0.05
    assert band["band_lo"] <= band["threshold"] <= band["band_hi"]
    assert band["probability"].startswith("finetune's P(class '1')")
    curve = pd.read_csv(results / "risk_coverage.csv")
    assert set(curve["split"]) == {"val", "test"} and (results / "risk_coverage.png").is_file()
    report = (run_dir / "REPORT.md").read_text()
    assert "`analysis.review_max_error=0.05`" in report and "](results/risk_coverage.png)" in report


def test_robustness_clean_predictions_are_the_test_splits_own(smoke_run):
    """The robustness sample's clean accuracy is checked against the test split's predictions for
    the same rows: TF-IDF (deterministic) must agree on every row, with the same accuracy."""
    summary, run_dir, _, _ = smoke_run
    sample = summary["robustness_sample"]
    clean = pd.read_csv(run_dir / "results" / "robustness.csv").set_index("perturbation")
    assert sample["tfidf"]["agreement_with_test_split"] == 1.0
    assert sample["tfidf"]["test_split_accuracy_same_rows"] == pytest.approx(
        clean.loc["none", "accuracy_tfidf"]
    )
    assert "finetune" in sample


def test_robustness_check_catches_a_path_that_scores_differently():
    from text_classifier.train import robustness_check

    y = np.array([1, 1, 0, 0])
    assert robustness_check(y, y, y) == {
        "test_split_accuracy_same_rows": 1.0, "agreement_with_test_split": 1.0
    }  # fmt: skip
    off = robustness_check(np.array([1, 1, 1, 0]), y, y)
    assert off["agreement_with_test_split"] == 0.75 and off["test_split_accuracy_same_rows"] == 1


def test_rung_subset_majority_tfidf(scratch_runs, tmp_path, capsys):
    """How a CPU user skips the transformer rungs: every block tolerates the missing rungs."""
    run_dir = tmp_path / "run"
    argv = [
        "train",
        "--config",
        SMOKE,
        "--run-dir",
        str(run_dir),
        "--set",
        "rungs=[majority,tfidf]",
    ]
    assert main(argv) == 0
    ladder = pd.read_csv(run_dir / "results" / "ladder.csv")
    assert list(ladder["rung"]) == ["majority", "tfidf"]
    meta = json.loads((run_dir / "model" / "meta.json").read_text())
    assert meta["files"] == {"tfidf": "model/tfidf.skops"}
    assert not (run_dir / "model" / "finetune").exists()
    head = json.loads((run_dir / "results" / "summary.json").read_text())["headline"]
    assert head["test_accuracy_finetuned"] is None and head["worst_perturbation_model"] == "tfidf"
    report = (run_dir / "REPORT.md").read_text()
    assert "| 2. TF-IDF word+char n-grams + LR (Optuna) |" in report
    assert "fine-tuned MiniLM (Lightning)" not in report and "## Length bucketing" not in report
    found = blocks(run_dir / "results")
    assert "bucketing" not in found and {"ladder", "calibration", "robustness"} <= set(found)
    # predict: the saved rung works, the missing one is one line
    (tmp_path / "in.csv").write_text("text\nlove it\nreturned it\n")
    base = ["predict", "--model", str(run_dir), "--input", str(tmp_path / "in.csv")]
    assert run_cli(main, [*base, "--output", str(tmp_path / "o.csv"), "--rung", "tfidf"]) == 0
    assert len(pd.read_csv(tmp_path / "o.csv")) == 2
    assert not (run_dir / "model" / "finetune").exists()
    capsys.readouterr()
    assert run_cli(main, [*base, "--output", str(tmp_path / "f.csv")]) == 2
    assert "saved no 'finetune' model" in capsys.readouterr().err
    assert not (tmp_path / "f.csv").exists()


def test_blocks_skip_missing_tables_but_not_broken_ones(smoke_run, tmp_path):
    _, run_dir, _, _ = smoke_run
    results = tmp_path / "results"
    results.mkdir()
    for name in ("summary.json", "ladder.csv"):
        (results / name).write_bytes((run_dir / "results" / name).read_bytes())
    found = blocks(results)
    assert {"ladder", "summary", "budget", "data"} <= set(found)
    assert not {"calibration", "errors", "slices", "robustness", "faults"} & set(found)
    (results / "slices.csv").write_text("model,slice\nfinetune,x\n")  # present but malformed
    with pytest.raises(KeyError):
        blocks(results)


def test_predict_round_trip(smoke_run, tmp_path):
    _, run_dir, _, _ = smoke_run
    texts = ["Love it! Fits perfectly, so soft.", "Cheap fabric, ripped after one wash. Returned."]
    pd.DataFrame({"text": texts, "id": [1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    for rung in ("finetune", "tfidf"):
        code = run_cli(main, ["predict", "--model", str(run_dir), "--input",
                              str(tmp_path / "in.csv"), "--output", str(out), "--rung", rung,
                              "--id-column", "id"])  # fmt: skip
        assert code == 0
        pred = pd.read_csv(out)
        assert pred["id"].tolist() == [1, 2] and list(pred["status"]) == ["ok", "ok"]
        probs = pred[["prob_0", "prob_1"]].to_numpy()
        assert np.allclose(probs.sum(1), 1, atol=1e-4)
        assert set(pred["predicted_label"].astype(str)) <= {"0", "1"}
    # Same model, same input, same answer (the round trip is deterministic).
    again = tmp_path / "again.csv"
    run_cli(main, ["predict", "--model", str(run_dir), "--input", str(tmp_path / "in.csv"),
                   "--output", str(again), "--rung", "tfidf", "--id-column", "id"])  # fmt: skip
    assert pd.read_csv(again).equals(pd.read_csv(out))


def test_evaluate_rescores_a_saved_run_into_its_own_folder(smoke_run, tmp_path, capsys):
    _, run_dir, _, _ = smoke_run
    out = tmp_path / "eval"
    argv = ["evaluate", "--config", SMOKE, "--model", str(run_dir), "--run-dir", str(out)]
    assert run_cli(main, argv) == 0
    assert "macro_f1" in capsys.readouterr().out
    table = pd.read_csv(out / "results" / "evaluation.csv")
    assert list(table["rung"]) == ["finetune", "tfidf"]
    # the same model on the same test split scores what the train run measured
    ladder = pd.read_csv(run_dir / "results" / "ladder.csv").set_index("rung")
    assert table.set_index("rung").loc["tfidf", "accuracy"] == pytest.approx(
        ladder.loc["tfidf", "accuracy"]
    )
    assert not (out / "model").exists()


def test_predict_bad_inputs(smoke_run, tmp_path, capsys):
    _, run_dir, _, _ = smoke_run
    pd.DataFrame({"body": ["x"]}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    args = ["predict", "--model", str(run_dir), "--input", str(tmp_path / "in.csv")]
    assert run_cli(main, [*args, "--output", str(out)]) == 2
    assert "no text column 'text'" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written
    assert run_cli(main, [*args, "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    (tmp_path / "not-a-run").mkdir()
    missing_model = ["predict", "--model", str(tmp_path / "not-a-run"), "--input",
                     str(tmp_path / "in.csv"),
                     "--output", str(out)]  # fmt: skip
    assert run_cli(main, missing_model) == 2
    assert "not a complete run folder" in capsys.readouterr().err


def test_predict_keeps_every_row_and_reports_empty_ones(smoke_run, tmp_path, capsys):
    """A whitespace-only row and a blank line are rows too: one output row per input row."""
    _, run_dir, _, _ = smoke_run
    source = tmp_path / "in.csv"
    source.write_text("text\nlove it\n   \n\nreturned it. awful\n")
    out = tmp_path / "out.csv"
    argv = ["predict", "--model", str(run_dir), "--input", str(source), "--output", str(out),
            "--rung", "tfidf"]  # fmt: skip
    assert run_cli(main, argv) == 0
    pred = pd.read_csv(out)
    assert list(pred["row"]) == [0, 1, 2, 3]
    assert list(pred["status"]) == ["ok", "empty text", "empty text", "ok"]
    assert pred.loc[1:2, ["predicted_label", "prob_0", "prob_1"]].isna().all().all()
    assert "4 rows" in capsys.readouterr().out


def test_predict_jsonl_keeps_blank_lines_and_names_unused_columns(smoke_run, tmp_path, capsys):
    """A blank JSONL line is a row, as a blank CSV line is (row n is line n + 1); an input column
    the model never reads is named, not silently dropped."""
    _, run_dir, _, _ = smoke_run
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "love it", "note": 1}\n\n{"text": null}\n{"text": "awful"}\n')
    out = tmp_path / "out.csv"
    argv = ["predict", "--model", str(run_dir), "--input", str(source), "--output", str(out),
            "--rung", "tfidf"]  # fmt: skip
    assert run_cli(main, argv) == 0
    pred = pd.read_csv(out)
    assert list(pred["row"]) == [0, 1, 2, 3]
    assert list(pred["status"]) == ["ok", "empty text", "empty text", "ok"]
    assert "4 rows" in (line := capsys.readouterr().out)
    assert "; ignored 1 column(s) the model does not use: note" in line
    source.write_text('{"text": "fine"}\n{bad json\n')
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 2 is not JSON" in err[0], err


def test_predict_encoding_option(smoke_run, tmp_path, capsys):
    _, run_dir, _, _ = smoke_run
    source = tmp_path / "latin1.csv"
    source.write_bytes("text\ncaf\xe9 dress, lovely\n".encode("latin-1"))
    out = tmp_path / "out.csv"
    argv = ["predict", "--model", str(run_dir), "--input", str(source), "--output", str(out),
            "--rung", "tfidf"]  # fmt: skip
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--encoding" in err[0] and not out.exists()
    assert run_cli(main, [*argv, "--encoding", "latin-1"]) == 0
    assert list(pd.read_csv(out)["status"]) == ["ok"]
    assert run_cli(main, [*argv, "--encoding", "klingon"]) == 2
    assert "--encoding=klingon" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, output, message",
    [
        (b"text\x00\x01\x02", "out.csv", "binary"),
        (b"", "out.csv", "empty"),
        (b"text\n", "out.csv", "no data rows"),
        (b"text\nok\n", "in.csv", "is the --input file"),
        (b"text\nok\n", "{run}/results/p.csv", "inside the --model run folder"),
    ],
)
def test_predict_refuses_bad_files_in_one_line(smoke_run, tmp_path, capsys, content, output,
                                               message):  # fmt: skip
    _, run_dir, _, _ = smoke_run
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    before = set(tmp_path.iterdir())
    out = output.format(run=run_dir) if "{run}" in output else str(tmp_path / output)
    argv = ["predict", "--model", str(run_dir), "--input", str(source), "--output", out]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert set(tmp_path.iterdir()) == before and source.read_bytes() == content
    assert not (run_dir / "results" / "p.csv").exists()


def test_a_changed_model_byte_is_refused_before_loading(smoke_run, tmp_path, capsys):
    import shutil

    _, run_dir, _, _ = smoke_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    weights = copy / "model" / "finetune" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last tensor
    weights.write_bytes(bytes(data))
    (tmp_path / "in.csv").write_text("text\nlove it\n")
    argv = ["predict", "--model", str(copy), "--input", str(tmp_path / "in.csv"),
            "--output", str(tmp_path / "out.csv")]  # fmt: skip
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sha256 differs" in err[0], err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("name", ["tfidf.skops", "meta.json"])
def test_a_changed_tfidf_model_file_is_refused_before_loading(smoke_run, tmp_path, capsys, name):
    """model/manifest.json pins meta.json and tfidf.skops: one changed byte in either is one line
    and exit 2, before the file is parsed."""
    import shutil

    _, run_dir, _, _ = smoke_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    changed = copy / "model" / name
    data = bytearray(changed.read_bytes())
    data[-2] ^= 0x01  # one bit of one byte
    changed.write_bytes(bytes(data))
    (tmp_path / "in.csv").write_text("text\nlove it\n")
    argv = ["predict", "--model", str(copy), "--input", str(tmp_path / "in.csv"),
            "--output", str(tmp_path / "out.csv"), "--rung", "tfidf"]  # fmt: skip
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{name}: sha256 differs" in err[0], err
    assert not (tmp_path / "out.csv").exists()


def test_config_errors_name_the_key(capsys):
    assert run_cli(main, ["train", "--config", SMOKE, "--set", "finetune.lrr=1"]) == 2
    assert "finetune.lrr" in capsys.readouterr().err
    assert run_cli(main, ["train", "--config", SMOKE, "--set", "finetune.epochs=many"]) == 2
    assert "finetune.epochs" in capsys.readouterr().err
    assert run_cli(main, ["train", "--config", SMOKE, "--set", "rungs=[tfidf,tfidf]"]) == 2
    assert "rungs" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["name=mine", "results_dir=results", "runs_dir=/tmp/runs"])
def test_old_output_keys_are_unknown(key, capsys):
    assert run_cli(main, ["train", "--config", SMOKE, "--set", key]) == 2
    assert f"unknown config key '{key.split('=')[0]}'" in capsys.readouterr().err


def test_console_script_goes_through_the_error_boundary():
    code = "from text_classifier.__main__ import console; console()"
    out = subprocess.run([sys.executable, "-c", code, "train", "--config", "nope.yaml"],
                         capture_output=True, text=True, cwd=PROJECT)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config file not found: nope.yaml"]


def test_search_runs_the_budget_and_resumes(tmp_path):
    tiny = ["--set", "finetune.max_steps=1", "finetune.train_subsample=16", "model.max_length=16",
            "finetune.batch_size=8", "search.study_name=resume_test"]  # fmt: skip
    first, second = tmp_path / "s1", tmp_path / "s2"
    assert main(["search", "--config", SMOKE, "--run-dir", str(first), *tiny]) == 0
    trials = pd.read_csv(first / "results" / "trials.csv")
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"]
    more = [*tiny, "search.n_trials=3"]
    assert main(["search", "--config", SMOKE, "--run-dir", str(second), *more]) == 0
    resumed = pd.read_csv(second / "results" / "trials.csv")
    assert len(resumed) == 3  # two kept from storage, one new
    assert resumed.iloc[:2].equals(trials)
    best = json.loads((second / "results" / "search.json").read_text())
    assert best["finished_trials"] == 3 and best["trials_run_by_this_worker"] == 1
    # the committed search config parses and keeps the documented budget
    assert load(PROJECT / "configs" / "search.yaml").search.n_trials >= 20
