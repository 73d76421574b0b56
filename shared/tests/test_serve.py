import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from mlcraft.errors import UserInputError
from mlcraft.serve import AliasFollower, ServedModel, create_app
from serve_toy import MODEL, app  # noqa: I001 - a module of this test folder

HERE = Path(__file__).parent


@pytest.fixture
def client():
    return TestClient(app)


def test_predict_returns_one_output_per_row_and_counts_scores(client):
    response = client.post("/predict", json={"rows": [{"age": 30}, {"age": 70, "city": "Oslo"}]})
    assert response.status_code == 200
    assert response.json()["predictions"] == [
        {"probability": 0.3, "label": 0},
        {"probability": 0.7, "label": 1},
    ]
    metrics = client.get("/metrics").text
    assert 'mlcraft_requests_total{route="/predict",status="200"} 1.0' in metrics
    assert "mlcraft_prediction_score_count 2.0" in metrics
    assert 'mlcraft_request_seconds_count{route="/predict"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": [{"age": "old"}]}, ["body", "rows", 0, "age"]),
        ({"rows": [{"city": "Oslo"}]}, ["body", "rows", 0, "age"]),
        ({"rows": [{"age": 3, "colour": "red"}]}, ["body", "rows", 0, "colour"]),
        ({"rows": []}, ["body", "rows"]),
        ({"rows": [{"age": 1}] * 5}, ["body", "rows"]),
        ({"row": [{"age": 1}]}, ["body", "rows"]),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client, body, field):
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    assert field in [item["loc"] for item in response.json()["detail"]]


def test_a_value_the_model_refuses_is_a_422_with_its_reason(client):
    response = client.post("/predict", json={"rows": [{"age": 200}]})
    assert response.status_code == 422 and response.json() == {"detail": "age over 150"}


def test_an_oversized_body_is_refused_before_it_is_read(client):
    big = json.dumps({"rows": [{"age": 1, "city": "x" * 3_000}]})
    response = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over the limit of 2000" in response.json()["detail"]
    chunked = client.post("/predict", content=iter([b'{"rows": []}']))
    assert chunked.status_code == 411


def test_health_and_metadata(client):
    assert client.get("/health").json() == {"status": "ok", "model": "toy"}
    meta = client.get("/metadata").json()
    assert meta["threshold"] == 0.5 and meta["max_rows"] == MODEL.max_rows
    assert "registry" not in meta
    # no alias, no reload (an app of its own: the shared one's metrics count every 404)
    assert TestClient(create_app(MODEL)).post("/reload").status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_real_uvicorn_process_answers_over_http():
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serve_toy:app", "--port", str(port), "--log-level",
         "warning"],
        env=env, cwd=HERE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not come up in 10 s")
        response = httpx.post(f"{url}/predict", json={"rows": [{"age": 50}]}, timeout=5)
        assert response.json()["predictions"] == [{"probability": 0.5, "label": 1}]
        assert httpx.post(f"{url}/predict", json={"rows": [{"age": "x"}]}).status_code == 422
    finally:
        server.terminate()
        # a graceful shutdown; uvicorn re-raises the SIGTERM it caught once it has drained
        assert server.wait(timeout=10) in (0, -15)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"rows": [{"age": "\\udcff"}]}',  # a lone surrogate: could not be echoed back
        b'{"rows": [{"age": true}]}',  # a boolean is not a number
        b'{"rows": [{"age": Infinity}]}',
        b'{"rows": [{"age": "30"}]}',  # strict: text is not a number
    ],
)
def test_unusable_values_are_422_without_echoing_the_input(client, raw):
    response = client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert all("input" not in item for item in response.json()["detail"])


def test_made_up_paths_do_not_mint_metric_labels(client):
    for i in range(5):
        assert client.get(f"/nothing-{i}").status_code == 404
    metrics = client.get("/metrics").text
    assert "nothing-" not in metrics
    assert 'mlcraft_requests_total{route="unmatched",status="404"} 5.0' in metrics


def _file_model():
    import base64

    from mlcraft.errors import UserInputError
    from mlcraft.serve import ServedModel, create_app

    def predict(rows):
        out = []
        for i, row in enumerate(rows):
            raw = base64.b64decode(row["blob"])
            if not raw.startswith(b"IMG"):
                raise UserInputError(f"rows[{i}].blob: not an image")
            out.append({"probability": len(raw) / 100, "label": int(len(raw) > 50)})
        return out

    model = ServedModel("files_toy", {"blob": (str, ...)}, predict, max_rows=3, file_field="blob")
    return TestClient(create_app(model, max_bytes=10_000))


def test_multipart_files_become_rows_and_keep_their_names():
    client = _file_model()
    files = [("files", ("a.png", b"IMG" + b"x" * 7)), ("files", ("b.png", b"IMG" + b"y" * 57))]
    response = client.post("/predict/files", files=files)
    assert response.status_code == 200
    assert response.json()["predictions"] == [
        {"probability": 0.1, "label": 0, "file": "a.png"},
        {"probability": 0.6, "label": 1, "file": "b.png"},
    ]
    bad = client.post("/predict/files", files=[("files", ("c.png", b"GIF89a"))])
    assert bad.status_code == 422 and "rows[0].blob: not an image" in bad.json()["detail"]
    too_many = client.post("/predict/files", files=[("files", (f"{i}.png", b"IMG"))
                                                    for i in range(4)])  # fmt: skip
    assert too_many.status_code == 422 and "over the limit of 3" in too_many.json()["detail"]
    none = client.post("/predict/files", data={"other": "x"})
    assert none.status_code == 422
    big = client.post("/predict/files", files=[("files", ("big.png", b"IMG" + b"z" * 20_000))])
    assert big.status_code == 413


def test_a_model_without_a_file_field_has_no_upload_route(client):
    assert client.post("/predict/files", files=[("files", ("a.png", b"IMG"))]).status_code == 404


class FakeRegistry:
    """Stands in for the MLflow registry: which version the alias names, and each run's model."""

    def __init__(self, models):
        self.models, self.version = models, 1

    def locate(self):
        return self.version, Path(f"runs/run{self.version}")

    def load(self, run_dir):
        if run_dir.name not in self.models:
            raise UserInputError(f"{run_dir}: no such run folder")
        return self.models[run_dir.name]


def _toy_version(run: str, fields=None) -> ServedModel:
    """serve_toy's contract; each answer names the run that gave it."""

    def predict(rows):
        return [{"probability": row["age"] / 100, "label": 0, "run": run} for row in rows]

    return ServedModel("toy", fields or MODEL.fields, predict, {"run_id": run},
                       max_rows=MODEL.max_rows)  # fmt: skip


@pytest.fixture
def alias():
    return FakeRegistry({"run1": _toy_version("run1"), "run2": _toy_version("run2")})


def _answered_by(client) -> str:
    return client.post("/predict", json={"rows": [{"age": 30}]}).json()["predictions"][0]["run"]


def test_reload_swaps_in_the_version_the_alias_names_now(alias):
    follower = AliasFollower("models:/toy@champion", alias.locate, alias.load, every_s=0)
    client = TestClient(create_app(follower))
    meta = client.get("/metadata").json()
    assert meta["run_id"] == "run1" and meta["registry"]["version"] == 1
    assert _answered_by(client) == "run1"
    alias.version = 2  # a promote
    reloaded = client.post("/reload")
    assert reloaded.status_code == 200
    assert reloaded.json()["changed"] and reloaded.json()["version"] == 2
    meta = client.get("/metadata").json()
    assert meta["run_id"] == "run2" and meta["registry"]["run_id"] == "run2"
    assert _answered_by(client) == "run2"
    assert client.post("/reload").json()["changed"] is False  # the alias did not move
    alias.version = 1  # a rollback
    assert client.post("/reload").json()["version"] == 1 and _answered_by(client) == "run1"


def test_a_failed_reload_keeps_the_served_version_and_says_why(alias):
    alias.models["run3"] = _toy_version("run3", fields={"age": (int, ...)})
    follower = AliasFollower("models:/toy@champion", alias.locate, alias.load, every_s=0)
    with TestClient(create_app(follower, batch_ms=2)) as client:  # the batcher's one loop
        for version, why in ((4, "no such run folder"), (3, "takes other input than version 1")):
            alias.version = version
            refused = client.post("/reload")
            detail = refused.json()["detail"]
            assert (
                refused.status_code == 503 and "still serving version 1" in detail and why in detail
            )
            registry = client.get("/metadata").json()["registry"]
            assert registry["version"] == 1 and why in registry["error"]
            assert _answered_by(client) == "run1"
        alias.version = 2
        assert client.post("/reload").status_code == 200 and _answered_by(client) == "run2"
        assert client.get("/metadata").json()["registry"]["error"] is None


def test_a_served_alias_is_polled_while_the_server_runs(alias):
    follower = AliasFollower("models:/toy@champion", alias.locate, alias.load, every_s=0.05)
    with TestClient(create_app(follower)) as client:  # runs the app's lifespan: the poll
        alias.version = 2
        for _ in range(100):
            if client.get("/metadata").json()["registry"]["version"] == 2:
                break
            time.sleep(0.05)
        assert _answered_by(client) == "run2"
