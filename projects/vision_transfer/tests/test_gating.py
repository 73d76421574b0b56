"""The shared loadtest and register/promote/rollback verbs on the smoke run (vision_transfer.gating)."""

import json
import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlcraft.errors import UserInputError
from mlcraft.serve import create_app
from sklearn.metrics import accuracy_score
from vision_transfer.__main__ import main
from vision_transfer.gating import gate_scores, request_rows
from vision_transfer.serving import served_model


def test_gate_decisions_are_the_runs_own_test_decisions(smoke_run):
    y, decided, slices = gate_scores(str(smoke_run["run"]))
    written = pd.read_csv(smoke_run["results"] / "test_predictions.csv")  # written by train
    classes = json.loads((smoke_run["run"] / "model" / "model.json").read_text())["classes"]
    assert len(y) == len(decided) == len(slices) == len(written)
    assert list(y) == [classes.index(name) for name in written["true"]]
    assert list(decided) == written["flagged"].astype(int).tolist()
    headline = smoke_run["summary"]["headline"]
    assert accuracy_score(y, decided) == pytest.approx(headline["test_accuracy_finetuned"])


def test_request_rows_are_served_as_the_gate_decides(smoke_run):
    run = str(smoke_run["run"])
    rows = request_rows(run, 5)
    assert len(rows) == 5 and all(set(row) == {"image_base64"} for row in rows)
    model = served_model(run)
    response = TestClient(create_app(model)).post("/predict", json={"rows": rows})
    assert response.status_code == 200
    classes = model.metadata["classes"]
    served = [classes.index(row["label"]) for row in response.json()["predictions"]]
    assert served == list(gate_scores(run)[1][:5])  # PNG round trip is lossless


def test_register_promote_rollback_through_the_cli(smoke_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    run = str(smoke_run["run"])
    copy = tmp_path / "copy-of-the-run"
    shutil.copytree(run, copy)  # the same model in a second run folder
    assert main(["register", "--model", run]) == 0  # version 1: champion and challenger
    with pytest.raises(UserInputError, match="already vision_transfer version 1"):
        main(["register", "--model", run])
    assert main(["register", "--model", str(copy)]) == 0  # version 2: challenger
    assert main(["promote"]) == 0
    assert "accuracy_score: challenger" in capsys.readouterr().out
    assert main(["rollback"]) == 0
    assert "champion is version 1 again (was 2)" in capsys.readouterr().out
