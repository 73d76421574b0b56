"""The HTTP service on the smoke run's bundle: schema from the bundle, errors naming fields, the
same probabilities as the batch predict verb."""

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlcraft.serve import create_app
from tabular_ladder.bundle import load_bundle
from tabular_ladder.serving import served_model


@pytest.fixture(scope="module")
def served(smoke_run):
    run = smoke_run[0]
    return run, TestClient(create_app(served_model(str(run))))


def test_predict_matches_the_bundle_and_names_bad_fields(served):
    run, client = served
    bundle = load_bundle(run / "model")
    row = {c["name"]: (1.0 if c["kind"] == "numeric" else "x") for c in bundle.meta["schema"]}
    rows = [row, {**row, bundle.columns[0]: None}]
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200
    expected = bundle.predict_proba(pd.DataFrame(rows, columns=bundle.columns))
    got = [p["probability"] for p in response.json()["predictions"]]
    assert got == pytest.approx(expected, abs=1e-6)
    numeric = next(c["name"] for c in bundle.meta["schema"] if c["kind"] == "numeric")
    bad = client.post("/predict", json={"rows": [{**row, numeric: "many"}]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "rows", 0, numeric]
    missing = {k: v for k, v in row.items() if k != numeric}
    assert client.post("/predict", json={"rows": [missing]}).status_code == 422


def test_metadata_is_the_model_card_of_the_run(served):
    run, client = served
    meta = client.get("/metadata").json()
    assert meta["run_id"] == run.name and 0 < meta["threshold"] < 1
    assert set(meta["model_files"]["sha256"]) >= {"prep.skops", "model.txt", "calibrator.skops"}
    assert "git_sha" in meta and meta["data"]  # git_sha is None where the code has no git checkout


def test_serve_refuses_a_folder_that_is_not_a_run(tmp_path):
    from mlcraft.errors import UserInputError

    with pytest.raises(UserInputError, match="--model"):
        served_model(str(tmp_path))


def test_test_rows_with_missing_values_are_served(served):
    from tabular_ladder.gating import request_rows

    run, client = served
    rows = request_rows(str(run), 64)
    assert len(rows) == 64 and any(None in row.values() for row in rows)
    for row in rows:  # one at a time: a column that is all-missing in its batch is the hard case
        assert client.post("/predict", json={"rows": [row]}).status_code == 200


def test_gate_scores_are_the_bundles_test_probabilities(smoke_run):
    from tabular_ladder.gating import gate_scores

    y, probability, slices = gate_scores(str(smoke_run[0]))
    assert len(y) == len(probability) == len(slices) and set(y) == {0, 1}
    assert ((probability >= 0) & (probability <= 1)).all() and len(slices.columns) >= 1
