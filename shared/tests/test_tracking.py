import json
import time
from pathlib import Path

import pytest
from mlcraft.files import sha256_file
from mlcraft.tracking import TrackedRun, environment_fingerprint
from mlflow.tracking import MlflowClient


def test_run_logs_to_mlflow_and_writes_summary(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    config = {"model": {"name": "logreg", "C": 1.0}, "data": {"path": str(data)}}
    outer = time.time()
    with TrackedRun(
        "proj", config, seed=7, results_dir=tmp_path / "results", tracking_uri=uri
    ) as run:
        run.add_data_file("train", data, rows=2)
        run.log_metrics({"auc": 0.9, "note": "skipped: not a number"})
        with run.untimed():
            time.sleep(0.3)
        summary = run.write_summary({"test_auc": 0.91, "wall_seconds": 99.0})

    written = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert written["seed"] == 7 and written["project"] == "proj"
    assert written["data"]["train"] == {"path": str(data), "sha256": sha256_file(data), "rows": 2}
    assert written["headline"]["test_auc"] == 0.91
    # one wall time: the project's own clock is overridden, untimed work is left out
    assert written["headline"]["wall_seconds"] == written["wall_seconds"]
    assert written["wall_seconds"] <= time.time() - outer - 0.3 + 0.1
    for key in ("git_sha", "git_dirty", "uv_lock_sha256", "hardware", "started_utc", "config"):
        assert key in written
    assert written["hardware"]["cpu_count"] >= 1

    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED"
    assert logged.data.params["model.name"] == "logreg" and logged.data.params["seed"] == "7"
    assert logged.data.metrics["auc"] == 0.9 and logged.data.metrics["test_auc"] == 0.91
    assert "note" not in logged.data.metrics
    assert logged.data.tags["cpu_count"] == str(written["hardware"]["cpu_count"])
    assert logged.data.tags["uv_lock_sha256"] == str(written["uv_lock_sha256"])
    fingerprint = client.download_artifacts(run.run_id, "fingerprint.json", str(tmp_path))
    assert json.loads(Path(fingerprint).read_text())["data"]["train"]["sha256"] == sha256_file(data)


def test_failed_run_is_marked_failed(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.raises(RuntimeError), TrackedRun("proj", {}, seed=0, tracking_uri=uri) as run:
        raise RuntimeError("boom")
    assert MlflowClient(tracking_uri=uri).get_run(run.run_id).info.status == "FAILED"
    assert not (tmp_path / "results").exists()


def test_fingerprint_reads_this_repo():
    fp = environment_fingerprint()
    # The tests run inside the workspace: uv.lock exists and is hashed.
    assert len(fp["uv_lock_sha256"]) == 64
    assert fp["packages"]["mlflow"]
    assert fp["python"].startswith("3.")


def test_summary_credits_the_code_at_the_start_of_the_run(tmp_path, monkeypatch):
    import mlcraft.tracking as tracking

    monkeypatch.setattr(
        tracking, "_git", lambda *args, cwd: "a" * 40 if args[0] == "rev-parse" else ""
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with TrackedRun("proj", {}, seed=0, results_dir=tmp_path, tracking_uri=uri) as run:
        # Someone commits while the run trains: the summary must still name the starting commit.
        monkeypatch.setattr(tracking, "_git", lambda *args, cwd: "b" * 40)
        summary = run.write_summary({})
    assert summary["git_sha"] == "a" * 40 and summary["git_dirty"] is False
