"""The CLI end to end: smoke train, run -> evaluate -> predict -> verify, and bad input."""

import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from conftest import TINY
from mlcraft.cli import run_cli
from repro_training.__main__ import main

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "runs_dir": str(folder / "runs"), "tracking": True}))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_yaml):
    run_dir = tiny_yaml.parent / f"run-{tiny_yaml.parent.name}"  # unique MLflow run name
    assert run_cli(main, ["run", "--config", str(tiny_yaml), "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_smoke_config_one_epoch_under_60_seconds(tmp_path):
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "repro_training", "train", "--config", "configs/smoke.yaml",
         "--set", f"runs_dir={tmp_path}"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    wall = time.time() - started
    assert out.returncode == 0, out.stderr[-2000:]
    assert wall < 60, f"smoke took {wall:.0f} s"
    (suite,) = tmp_path.glob("suite-*")
    summary = json.loads((suite / "summary.json").read_text())
    assert summary["config"]["train"]["epochs"] == 1
    assert summary["headline"]["test_accuracy"] > 0.5  # one epoch on digits; chance is 0.10
    assert summary["headline"]["numpy_mlp_test_accuracy"] > 0.9
    assert summary["headline"]["smoke_epoch_seconds"] < 60


def test_manifest_records_versions_next_to_checkpoint_and_in_mlflow(finished_run):
    manifest = json.loads((finished_run / "manifest.json").read_text())
    env = manifest["environment"]
    assert manifest["status"] == "finished" and len(manifest["weights_sha256"]) == 64
    assert len(env["git_sha"] or "") == 40 and isinstance(env["git_dirty"], bool)
    assert len(env["uv_lock_sha256"]) == 64
    assert len(env["data"]["digits"]["sha256"]) == 64 and len(manifest["data_digest"]) == 64
    assert manifest["config"]["train"]["epochs"] == 2 and manifest["seed"] == 0
    assert env["hardware"]["cpu_count"] >= 1 and manifest["threads"] == 1
    assert (finished_run / "checkpoints" / "last.pt").is_file()
    runs = mlflow.search_runs(experiment_names=["repro_training"], output_format="list")
    (run,) = [r for r in runs if r.info.run_name == finished_run.name]
    assert run.data.params["train.epochs"] == "2"
    assert run.data.tags["uv_lock_sha256"] == env["uv_lock_sha256"]
    artifacts = mlflow.artifacts.list_artifacts(
        run_id=run.info.run_id, artifact_path=finished_run.name
    )
    assert any(a.path.endswith("manifest.json") for a in artifacts)


def test_verify_reruns_and_detects_a_mismatch(finished_run, capsys):
    assert run_cli(main, ["verify", str(finished_run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["weights_match"]
        and report["rerun_weights_sha256"] == report["recorded_weights_sha256"]
    )
    manifest_path = finished_run / "manifest.json"
    original = manifest_path.read_text()
    tampered = json.loads(original)
    tampered["weights_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(tampered))
    try:
        assert run_cli(main, ["verify", str(finished_run)]) == 1
    finally:
        manifest_path.write_text(original)


def test_evaluate_and_predict_round_trip(finished_run, tmp_path, capsys):
    assert run_cli(main, ["evaluate", str(finished_run)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    recorded = json.loads((finished_run / "metrics.json").read_text())
    assert evaluated["test_accuracy"] == recorded["test_accuracy"]
    assert evaluated["weights_sha256"] == recorded["weights_sha256"]

    from sklearn.datasets import load_digits

    images = np.round(load_digits().images[:5] * 255 / 16).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)
    out = tmp_path / "p.csv"
    args = ["predict", str(finished_run), "--input", str(tmp_path / "x.npy"), "--output", str(out)]
    assert run_cli(main, args) == 0
    rows = out.read_text().strip().splitlines()
    assert rows[0].startswith("p_0,") and len(rows) == 6
    probs = np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)


def test_bad_input_is_one_clear_error(tiny_yaml, finished_run, tmp_path, capsys):
    cases = [
        (["train", "--config", str(tmp_path / "missing.yaml")], "config file not found"),
        (["train", "--config", str(tiny_yaml), "--set", "train.epoch=3"], "unknown config key"),
        (["train", "--config", str(tiny_yaml), "--set", "train.epochs=0"], "train.epochs"),
        (["run", "--config", str(tiny_yaml), "--run-dir", str(tmp_path / "r"), "--resume"],
         "nothing to resume"),
        (["verify", str(tmp_path)], "no manifest.json"),
        (["evaluate", str(tmp_path)], "not a run folder"),
    ]  # fmt: skip
    np.save(tmp_path / "bad.npy", np.zeros((2, 9, 9), dtype=np.float32))
    cases.append(
        (
            [
                "predict",
                str(finished_run),
                "--input",
                str(tmp_path / "bad.npy"),
                "--output",
                str(tmp_path / "out.csv"),
            ],
            "expected uint8 images",
        )  # fmt: skip
    )
    for argv, message in cases:
        assert run_cli(main, argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "out.csv").exists()
