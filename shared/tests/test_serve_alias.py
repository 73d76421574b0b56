"""serve --model models:/<project>@<alias>: a real uvicorn process follows the registry alias on
the local sqlite MLflow store, so a promote or a rollback is live without a restart."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlcraft
import pytest
from alias_toy import main, make_run  # noqa: I001 - a module of this test folder
from mlcraft import cli
from mlcraft.errors import UserInputError
from mlcraft.loadtest import free_port, wait_until_healthy
from mlcraft.registry import parse_model_uri

HERE = Path(__file__).parent


@pytest.fixture
def registry(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _serve(tmp_path, registry, port: int) -> subprocess.Popen:
    # the same mlcraft as this test, and the toy project beside it
    path = [str(HERE), str(Path(mlcraft.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "MLFLOW_TRACKING_URI": registry}
    command = [sys.executable, "-m", "alias_toy", "serve", "--model", "models:/toy@champion",
               "--port", str(port), "--reload-s", "1"]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip


def _served(url: str) -> tuple[int, str, str]:
    """(registry version, run id) from /metadata, and the run that answered a prediction."""
    meta = httpx.get(f"{url}/metadata", timeout=5).json()
    answer = httpx.post(f"{url}/predict", json={"rows": [{"age": 40}]}, timeout=5).json()
    return meta["registry"]["version"], meta["run_id"], answer["predictions"][0]["run"]


def test_a_promote_and_a_rollback_are_live_on_a_running_server(tmp_path, registry, capsys):
    first = make_run(tmp_path / "first", noise=1.0)
    second = make_run(tmp_path / "second", noise=0.5)  # strictly better: passes the gate
    assert cli.run_cli(main, ["register", "--model", str(first)]) == 0  # champion at once
    port = free_port()
    server = _serve(tmp_path, registry, port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(server, f"{url}/health", timeout_s=60)
        assert _served(url) == (1, "first", "first")

        assert cli.run_cli(main, ["register", "--model", str(second)]) == 0
        assert cli.run_cli(main, ["promote"]) == 0
        assert "champion is now version 2" in capsys.readouterr().out
        for _ in range(100):  # the server asks the registry every second
            if _served(url) == (2, "second", "second"):
                break
            time.sleep(0.1)
        assert _served(url) == (2, "second", "second")

        assert cli.run_cli(main, ["rollback"]) == 0
        reloaded = httpx.post(f"{url}/reload", timeout=30)  # now, not at the next poll
        assert reloaded.status_code == 200 and reloaded.json()["run_id"] == "first"
        assert _served(url) == (1, "first", "first")
    finally:
        server.terminate()
        assert server.wait(timeout=15) in (0, -15)


def _our_lines(err: str) -> list[str]:
    """stderr without MLflow's own log lines (it announces a new sqlite store)."""
    return [line for line in err.splitlines() if " INFO mlflow." not in line]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("models:/toy@nosuch", "registry: model 'toy' has no 'nosuch' version"),
        ("models:/other@champion", "this is toy's CLI; its registered model is models:/toy@"),
        ("models:/toy", "write models:/<model>@<alias>"),
    ],
)
def test_a_bad_alias_or_model_is_one_line_and_exit_2(tmp_path, registry, capsys, model, message):
    assert cli.run_cli(main, ["register", "--model", str(make_run(tmp_path / "run", 1.0))]) == 0
    capsys.readouterr()
    assert cli.run_cli(main, ["serve", "--model", model, "--port", str(free_port())]) == 2
    (line,) = _our_lines(capsys.readouterr().err)
    assert line.startswith("error: ") and message in line


def test_an_empty_registry_or_a_reload_without_an_alias_is_one_line_and_exit_2(
    tmp_path, registry, capsys
):
    serve = ["serve", "--port", str(free_port()), "--model"]
    assert cli.run_cli(main, [*serve, "models:/toy@champion"]) == 2
    assert _our_lines(capsys.readouterr().err) == [
        "error: registry: model 'toy' has no 'champion' version; `register --model RUN` first"
    ]
    run = make_run(tmp_path / "run", 1.0)
    assert cli.run_cli(main, [*serve, str(run), "--reload-s", "5"]) == 2
    assert "with --model models:/<model>@<alias>" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("models:/toy@champion", ("toy", "champion")), ("runs/toy/run-1", None),
     ("models:/toy", "write models:/"), ("models:/toy/3", "write models:/"),
     ("models:/toy@", "write models:/")],
)  # fmt: skip
def test_a_model_uri_names_a_model_and_an_alias(text, parsed):
    if isinstance(parsed, str):
        with pytest.raises(UserInputError, match=parsed):
            parse_model_uri(text)
    else:
        assert parse_model_uri(text) == parsed
