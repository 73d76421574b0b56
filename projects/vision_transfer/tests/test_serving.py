"""The HTTP service on the smoke run: base64 images in, the predict verb's probabilities out."""

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlcraft.serve import create_app
from PIL import Image
from vision_transfer.serving import served_model


def _png(seed: int, size: int = 40) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def served(smoke_run):
    model = served_model(str(smoke_run["run"]))
    return model, TestClient(create_app(model))


def test_images_are_scored_with_probabilities_that_sum_to_one(served):
    model, client = served
    response = client.post("/predict", json={"rows": [{"image_base64": _png(i)} for i in range(3)]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    for row in predictions:
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert row["label"] in model.metadata["classes"]


def test_multipart_uploads_score_the_same_as_base64_rows(served):
    _, client = served
    encoded = [_png(i) for i in range(2)]
    as_json = client.post("/predict", json={"rows": [{"image_base64": e} for e in encoded]})
    files = [("files", (f"cell{i}.png", base64.b64decode(e), "image/png"))
             for i, e in enumerate(encoded)]  # fmt: skip
    as_files = client.post("/predict/files", files=files)
    assert as_files.status_code == 200
    uploaded = as_files.json()["predictions"]
    assert [row.pop("file") for row in uploaded] == ["cell0.png", "cell1.png"]
    assert uploaded == as_json.json()["predictions"]
    broken = client.post("/predict/files", files=[("files", ("x.png", b"not an image"))])
    assert broken.status_code == 422 and "not a readable image" in broken.json()["detail"]


@pytest.mark.parametrize(
    ("encoded", "message"),
    [("%%%", "not base64"), (base64.b64encode(b"not an image").decode(), "not a readable image")],
)
def test_a_bad_image_is_a_422_naming_its_row(served, encoded, message):
    _, client = served
    rows = [{"image_base64": _png(0)}, {"image_base64": encoded}]
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("rows[1].image_base64") and message in response.text
