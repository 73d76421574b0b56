"""The CLI end to end: smoke train into its own run folder, run -> evaluate -> predict -> verify,
and bad input as one line."""

import json
import os
import resource
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


def _files(*paths: Path) -> dict[str, bytes]:
    out = {}
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        out |= {str(p): p.read_bytes() for p in files}
    return out


def _digits(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    return np.round(load_digits().images[:n] * 255 / 16).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_yaml(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "tracking": True}))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_yaml):
    run_dir = tiny_yaml.parent / f"run-{tiny_yaml.parent.name}"  # unique MLflow run name
    assert run_cli(main, ["run", "--config", str(tiny_yaml), "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_smoke_train_writes_only_its_run_folder(tmp_path):
    """The smoke config in a fresh process: one epoch under 60 s, learns, and writes only into
    runs/repro_training/<run-id>/ (results/, model/, REPORT.md), never results/, the README or
    docs/."""
    runs = tmp_path / "runs"
    env = {**os.environ, "MLCRAFT_RUNS_DIR": str(runs)}
    published = _files(PROJECT / "results", PROJECT / "README.md", PROJECT / "docs")
    started, before = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-m", "repro_training", "train", "--config", "configs/smoke.yaml"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    wall, after = time.time() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == 0, out.stderr[-2000:]
    # Under a minute of CPU (imports included): the wall clock on a shared 2-core machine also
    # measures the neighbours, so it only guards against a hang here.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 60, f"smoke used {cpu:.0f} CPU seconds"
    assert wall < 150, f"smoke took {wall:.0f} s"
    assert _files(PROJECT / "results", PROJECT / "README.md", PROJECT / "docs") == published

    (run,) = (runs / "repro_training").iterdir()
    assert run.name.startswith("train-smoke-") and f"run complete: {run}" in out.stdout
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    results = sorted(p.name for p in (run / "results").iterdir())
    assert results == ["curves.png", "headline.png", "ladder.csv", "ladder.md", "seeds.csv",
                       "seeds.md", "summary.json"]  # fmt: skip
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["config"]["train"]["epochs"] == 1
    assert summary["headline"]["test_accuracy"] > 0.5  # one epoch on digits; chance is 0.10
    assert summary["headline"]["numpy_mlp_test_accuracy"] > 0.9
    assert summary["headline"]["smoke_epoch_seconds"] < 60
    # The staging folder <run-id>.partial is renamed at the end: no output may name it.
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".csv", ".yaml"):
            assert ".partial" not in path.read_text(), path
    report = (run / "REPORT.md").read_text()
    assert report.count("| digits | ResNet (Fabric) |") == 1 and "## The ladder" in report
    assert sorted(p.name for p in (run / "model").iterdir()) == [
        "config.yaml", "manifest.json", "metrics.json", "weights.pt",
    ]  # fmt: skip

    # the run folder is a model for predict (--model RUN)
    np.save(tmp_path / "x.npy", _digits(3))
    argv = ["predict", "--model", str(run), "--input", str(tmp_path / "x.npy"),
            "--output", str(tmp_path / "p.csv")]  # fmt: skip
    assert run_cli(main, argv) == 0
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 4


def test_old_output_keys_are_unknown_config_keys(scratch_runs, capsys):
    for key in ("results_dir=results", "runs_dir=runs", "output=x"):
        argv = ["train", "--config", str(PROJECT / "configs" / "smoke.yaml"), "--set", key]
        assert run_cli(main, argv) == 2
        assert f"unknown config key '{key.split('=')[0]}'" in capsys.readouterr().err


def test_console_script_goes_through_the_error_boundary():
    code = "from repro_training.__main__ import console; console()"
    out = subprocess.run([sys.executable, "-c", code, "train", "--config", "nope.yaml"],
                         capture_output=True, text=True, cwd=PROJECT, timeout=60)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config file not found: nope.yaml"]


def test_manifest_records_versions_next_to_checkpoint_and_in_mlflow(finished_run):
    manifest = json.loads((finished_run / "manifest.json").read_text())
    env = manifest["environment"]
    assert manifest["status"] == "finished" and len(manifest["weights_sha256"]) == 64
    assert len(env["git_sha"] or "") == 40 and isinstance(env["git_dirty"], bool)
    assert len(env["uv_lock_sha256"]) == 64
    assert len(env["data"]["digits"]["sha256"]) == 64 and len(manifest["data_digest"]) == 64
    assert manifest["config"]["train"]["epochs"] == 2 and manifest["seed"] == 0
    assert env["hardware"]["cpu_count"] >= 1 and manifest["threads"] == 1
    assert manifest["input"]["image_shape"] == [8, 8] and len(manifest["input"]["classes"]) == 10
    assert (finished_run / "checkpoints" / "last.pt").is_file()
    runs = mlflow.search_runs(experiment_names=["repro_training"], output_format="list")
    (run,) = [r for r in runs if r.info.run_name == finished_run.name]
    assert run.data.params["train.epochs"] == "2"
    assert run.data.tags["uv_lock_sha256"] == env["uv_lock_sha256"]
    artifacts = mlflow.artifacts.list_artifacts(
        run_id=run.info.run_id, artifact_path=finished_run.name
    )
    assert any(a.path.endswith("manifest.json") for a in artifacts)


def test_verify_reruns_and_detects_a_mismatch(finished_run, scratch_runs, capsys):
    assert run_cli(main, ["verify", str(finished_run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["weights_match"]
        and report["rerun_weights_sha256"] == report["recorded_weights_sha256"]
    )
    (verify_run,) = (scratch_runs / "repro_training").iterdir()  # a run folder of its own
    assert json.loads((verify_run / "results" / "verify.json").read_text())["weights_match"]
    assert report["rerun_dir"] == str(verify_run / "rerun")
    manifest_path = finished_run / "manifest.json"
    original = manifest_path.read_text()
    tampered = json.loads(original)
    tampered["weights_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(tampered))
    try:
        assert run_cli(main, ["verify", str(finished_run)]) == 1
    finally:
        manifest_path.write_text(original)


def test_evaluate_and_predict_round_trip(finished_run, tiny_yaml, tmp_path, capsys):
    argv = ["evaluate", "--config", str(tiny_yaml), "--model", str(finished_run),
            "--run-dir", str(tmp_path / "eval")]  # fmt: skip
    assert run_cli(main, argv) == 0
    evaluated = json.loads(capsys.readouterr().out.split("run complete")[0])
    recorded = json.loads((finished_run / "metrics.json").read_text())
    assert evaluated["test_accuracy"] == recorded["test_accuracy"]
    assert evaluated["weights_sha256"] == recorded["weights_sha256"]
    summary = json.loads((tmp_path / "eval" / "results" / "summary.json").read_text())
    assert summary["headline"]["test_accuracy"] == recorded["test_accuracy"]
    assert (tmp_path / "eval" / "results" / "evaluation.csv").is_file()

    np.save(tmp_path / "x.npy", _digits(5))
    out = tmp_path / "p.csv"
    argv = ["predict", "--model", str(finished_run), "--input", str(tmp_path / "x.npy"),
            "--output", str(out)]  # fmt: skip
    assert run_cli(main, argv) == 0
    rows = out.read_text().strip().splitlines()
    assert rows[0].startswith("index,status,p_0,") and len(rows) == 6
    probs = np.array([[float(v) for v in row.split(",")[2:]] for row in rows[1:]])
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-4)


def test_run_resumes_only_with_the_same_recipe(finished_run, tiny_yaml, capsys):
    base = ["run", "--config", str(tiny_yaml), "--run-dir", str(finished_run)]
    assert run_cli(main, base) == 2  # without --resume: never overwrite a run
    assert "already holds a run" in capsys.readouterr().err
    assert run_cli(main, [*base, "--resume", "--set", "train.epochs=3"]) == 2
    err = capsys.readouterr().err
    assert "differs from" in err and "train.epochs" in err


def test_bad_input_is_one_clear_error(tiny_yaml, finished_run, tmp_path, scratch_runs, capsys):
    train = ["train", "--config", str(tiny_yaml)]
    cases = [
        (["train", "--config", str(tmp_path / "missing.yaml")], "config file not found"),
        ([*train, "--set", "train.epoch=3"], "unknown config key"),
        ([*train, "--set", "train.epochs=0"], "train.epochs"),
        ([*train, "--set", "data.max_train=16"], "train.batch_size=32 exceeds"),
        ([*train, "--set", "train.batch_size=33", "checks.ddp=true"], "checks.ddp"),
        ([*train, "--set", "data.name=npz"], "data.path: required"),
        (["run", "--config", str(tiny_yaml), "--run-dir", str(tmp_path / "r"), "--resume"],
         "nothing to resume"),
        (["verify", str(tmp_path)], "no manifest.json"),
        (["evaluate", "--config", str(tiny_yaml), "--model", str(tmp_path)],
         "not a complete run"),
        (["evaluate", "--config", str(tiny_yaml), "--model", str(finished_run), "--set",
          "data.name=npz", f"data.path={tmp_path / 'two.npz'}"], "trained on classes"),
    ]  # fmt: skip
    np.savez(tmp_path / "two.npz", x=_digits(20), y=np.arange(20) % 2)
    np.save(tmp_path / "bad.npy", np.zeros((2, 9, 9), dtype=np.uint8))
    predict = ["predict", "--model", str(finished_run), "--output", str(tmp_path / "out.csv")]
    cases.append(([*predict, "--input", str(tmp_path / "bad.npy")], "expected images of shape"))
    cases.append(([*predict, "--input", str(tmp_path)], "is a folder"))
    for argv, message in cases:
        assert run_cli(main, argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.csv").exists()
    # pre-flight refused every one before any run folder was made
    assert not (scratch_runs / "repro_training").exists()


def test_manifest_commands_never_name_a_staging_folder(tmp_path):
    """A run inside a train run's <run-id>.partial/ records paths relative to itself, so the
    manifest still reads true once the folder is renamed to <run-id>/."""
    from repro_training.train import _portable

    run_dir = tmp_path / "train-x.partial" / "runs" / "smoke.partial" / "runs" / "seed0"
    assert (
        _portable(str(tmp_path / "train-x.partial" / "runs" / "smoke"), run_dir) == "../../../smoke"
    )
    assert _portable(str(run_dir / "launch.yaml"), run_dir) == "launch.yaml"
    assert _portable(str(run_dir), run_dir) == "."
    assert _portable("configs/smoke.yaml", run_dir) == "configs/smoke.yaml"
    assert _portable("/elsewhere/run", run_dir) == "/elsewhere/run"
