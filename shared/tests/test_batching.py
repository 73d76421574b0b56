import asyncio

import pytest
from fastapi.testclient import TestClient
from mlcraft.batching import MicroBatcher
from mlcraft.errors import UserInputError
from mlcraft.serve import create_app
from serve_toy import MODEL  # noqa: I001 - a module of this test folder


def double(rows):
    if any(row["x"] < 0 for row in rows):
        raise UserInputError("negative x")
    return [{"y": 2 * row["x"]} for row in rows]


async def _submit_all(batcher, requests):
    return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows():
    batcher = MicroBatcher(double, wait_s=0.05, max_rows=100)
    requests = [[{"x": i}, {"x": 10 + i}] for i in range(8)]
    answers = asyncio.run(_submit_all(batcher, requests))
    assert answers == [[{"y": 2 * i}, {"y": 20 + 2 * i}] for i in range(8)]
    assert batcher.batches == 1


def test_a_batch_never_exceeds_max_rows():
    batcher = MicroBatcher(double, wait_s=0.05, max_rows=4)
    answers = asyncio.run(_submit_all(batcher, [[{"x": i}] for i in range(10)]))
    assert [a[0]["y"] for a in answers] == [2 * i for i in range(10)]
    assert batcher.batches == 3


def test_one_bad_request_fails_alone():
    batcher = MicroBatcher(double, wait_s=0.05, max_rows=100)
    answers = asyncio.run(_submit_all(batcher, [[{"x": 1}], [{"x": -1}], [{"x": 3}]]))
    assert answers[0] == [{"y": 2}] and answers[2] == [{"y": 6}]
    assert isinstance(answers[1], UserInputError)


def test_the_batched_app_answers_like_the_plain_one():
    body = {"rows": [{"age": 30}, {"age": 80}]}
    plain = TestClient(create_app(MODEL)).post("/predict", json=body).json()
    with TestClient(create_app(MODEL, batch_ms=2)) as client:
        assert client.post("/predict", json=body).json() == plain
        refused = client.post("/predict", json={"rows": [{"age": 500}]})
        assert refused.status_code == 422 and refused.json() == {"detail": "age over 150"}


@pytest.mark.parametrize("bad", ["-1", "5000"])
def test_batch_ms_out_of_range_is_one_line(bad, capsys):
    from mlcraft import cli

    project = cli.Project(
        name="toy", project_dir=__import__("pathlib").Path("."), load_config=None, train=None,
        blocks=None, serve=lambda run: MODEL,
    )  # fmt: skip
    main = cli.entry_points(project)[0]
    assert cli.run_cli(main, ["serve", "--model", "x", "--batch-ms", bad]) == 2
    assert "--batch-ms" in capsys.readouterr().err
