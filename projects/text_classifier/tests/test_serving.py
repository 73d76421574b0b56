"""The HTTP service on the smoke run: the same probabilities as the predictor, blank texts refused."""

import pytest
from fastapi.testclient import TestClient
from mlcraft.serve import create_app
from text_classifier.predict import load_predictor
from text_classifier.serving import served_model


@pytest.fixture(scope="module")
def served(smoke_run):
    run = smoke_run[1]
    model = served_model(str(run))
    return run, model, TestClient(create_app(model))


def test_predict_gives_the_saved_rungs_probabilities(served):
    run, model, client = served
    texts = ["Lovely dress, fits well", "Terrible fabric, sent it back"]
    response = client.post("/predict", json={"rows": [{"text": t} for t in texts]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    predictor, meta = load_predictor(run, model.metadata["rung"])
    expected = predictor(texts)
    for row, probs in zip(predictions, expected, strict=True):
        assert list(row["probabilities"].values()) == pytest.approx(list(probs), abs=1e-6)
        assert row["label"] in meta["classes"]


@pytest.mark.parametrize("body", [{"rows": [{"text": "   "}]}, {"rows": [{"txt": "hi"}]}])
def test_a_blank_or_misnamed_text_is_a_422_naming_the_row(served, body):
    _, _, client = served
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "rows", 0]


def test_metadata_names_the_rung_and_classes(served):
    run, model, client = served
    meta = client.get("/metadata").json()
    assert meta["rung"] in ("finetune", "tfidf") and meta["run_id"] == run.name
    assert len(meta["classes"]) >= 2
