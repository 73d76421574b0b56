"""The shared loadtest and register/promote/rollback verbs on the smoke run (text_classifier.gating)."""

import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlcraft.errors import UserInputError
from mlcraft.serve import create_app
from sklearn.metrics import accuracy_score
from text_classifier.__main__ import main
from text_classifier.gating import gate_scores, held_out_test, request_rows
from text_classifier.serving import served_model


def test_gate_decisions_score_as_the_run_scored_its_served_rung(smoke_run):
    _, run, _, _ = smoke_run
    y, decided, slices = gate_scores(str(run))
    assert len(y) == len(decided) == len(slices) == len(held_out_test(run))
    assert "review length (words)" in slices.columns  # the default data adds age and department
    assert {"age band", "department"} <= set(slices.columns)
    ladder = pd.read_csv(run / "results" / "ladder.csv").set_index("rung")
    rung = served_model(str(run)).metadata["rung"]
    assert accuracy_score(y, decided) == pytest.approx(ladder.loc[rung, "accuracy"])


def test_request_rows_are_test_texts_the_service_accepts(smoke_run):
    run = str(smoke_run[1])
    rows = request_rows(run, 5)
    assert rows == [{"text": t} for t in held_out_test(smoke_run[1])["text"].head(5)]
    model = served_model(run)
    response = TestClient(create_app(model)).post("/predict", json={"rows": rows})
    assert response.status_code == 200
    classes = model.metadata["classes"]
    served = [classes.index(row["label"]) for row in response.json()["predictions"]]
    assert served == list(gate_scores(run)[1][:5])


def test_register_promote_rollback_through_the_cli(smoke_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    run = str(smoke_run[1])
    copy = tmp_path / "copy-of-the-run"
    shutil.copytree(run, copy)  # the same model in a second run folder
    assert main(["register", "--model", run]) == 0  # version 1: champion and challenger
    with pytest.raises(UserInputError, match="already text_classifier version 1"):
        main(["register", "--model", run])
    assert main(["register", "--model", str(copy)]) == 0  # version 2: challenger
    assert main(["promote"]) == 0
    assert "accuracy_score: challenger" in capsys.readouterr().out
    assert main(["rollback"]) == 0
    assert "champion is version 1 again (was 2)" in capsys.readouterr().out
