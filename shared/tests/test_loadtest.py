"""The load test against a real server process: a toy project whose serve verb is the toy model."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from mlcraft.errors import UserInputError
from mlcraft.loadtest import published_block, run_loadtest, write_report
from mlcraft.publish import publish_part

HERE = Path(__file__).parent
TOY_MAIN = """
from pathlib import Path
from mlcraft import cli
from serve_toy import MODEL

PROJECT = cli.Project(name="toyproj", project_dir=Path("."), load_config=None, train=None,
                      blocks=None, serve=lambda run: MODEL)
main, console = cli.entry_points(PROJECT)
if __name__ == "__main__":
    console()
"""


@pytest.fixture
def toy_project(tmp_path, monkeypatch):
    package = tmp_path / "toyproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(TOY_MAIN)
    path = os.pathsep.join([str(tmp_path), str(HERE), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_every_level_and_batch_setting_is_measured_without_errors(toy_project, tmp_path):
    rows = [{"age": float(a)} for a in range(10, 60)]
    table = run_loadtest("toyproj", "unused-run", rows, [1, 4], 40, [0.0, 2.0])
    frame = pd.DataFrame(table)
    assert frame[["batch_ms", "concurrency"]].values.tolist() == [[0, 1], [0, 4], [2, 1], [2, 4]]
    assert (frame["errors"] == 0).all() and (frame["requests"] == 40).all()
    assert (frame["p50_ms"] <= frame["p95_ms"]).all() and (frame["p95_ms"] <= frame["p99_ms"]).all()
    write_report(tmp_path / "serve", table, {"model_run": "r", "model_config": {"a": 1}})
    meta = json.loads((tmp_path / "serve" / "loadtest.json").read_text())
    assert meta["top_concurrency"] == 4 and meta["batching_speedup_at_top"] > 0


def test_a_server_that_cannot_start_is_one_line(toy_project):
    with pytest.raises(UserInputError, match="serve exited"):
        run_loadtest("no_such_project", "x", [{"age": 1.0}], [1], 1, [0])


def test_publish_takes_only_a_loadtest_of_a_reference_model(tmp_path):
    run = tmp_path / "run"
    (run / "results" / "serve").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "complete", "verb": "loadtest"}))
    meta = {"model_run": "fork", "model_config": {"data": "mine"}, "git_dirty": False}
    (run / "results" / "serve" / "loadtest.json").write_text(json.dumps(meta))
    project = tmp_path / "project"
    (project / "results").mkdir(parents=True)
    with pytest.raises(UserInputError, match="not a reference-config run"):
        publish_part(run, project, {"data": "reference"})
    meta["model_config"] = {"data": "reference"}
    (run / "results" / "serve" / "loadtest.json").write_text(json.dumps(meta))
    target = publish_part(run, project, {"data": "reference"})
    assert (target / "loadtest.json").is_file() and target == project / "results" / "serve"
    # A model trained before the config gained a key with a default: the project's validation
    # fills the default in, so it still counts as trained on the reference config.
    meta["model_config"] = {"data": "reference"}
    (run / "results" / "serve" / "loadtest.json").write_text(json.dumps(meta))
    current = {"data": "reference", "new_key": []}
    with pytest.raises(UserInputError, match="not a reference-config run"):
        publish_part(run, project, current)
    assert publish_part(run, project, current, normalize=lambda raw: {"new_key": [], **raw})
    with pytest.raises(UserInputError, match="not a reference-config run"):
        publish_part(run, project, current, normalize=lambda raw: {"new_key": [1], **raw})


def _published(tmp_path, top_rps_off, top_rps_on):
    rows = [
        {
            "batch_ms": b,
            "concurrency": c,
            "requests": 300,
            "errors": 0,
            "requests_per_s": rps,
            "p50_ms": 10.0,
            "p95_ms": 20.0,
            "p99_ms": 30.0,
        }
        for b, c, rps in [
            (0.0, 1, 50.0),
            (0.0, 32, top_rps_off),
            (5.0, 1, 40.0),
            (5.0, 32, top_rps_on),
        ]
    ]
    write_report(
        tmp_path / "serve",
        rows,
        {
            "model_run": "ref",
            "rows_per_request": 1,
            "hardware": {"cpu_count": 2, "cpu_model": "Xeon"},
        },
    )
    return published_block(tmp_path)


def test_the_published_block_computes_the_batching_verdict(tmp_path):
    assert "**6.0x**" in _published(tmp_path, 40.0, 240.0) and "target >= 2x: met" in _published(
        tmp_path, 40.0, 240.0
    )
    assert "target >= 2x: missed" in _published(tmp_path, 40.0, 60.0)
    assert published_block(tmp_path / "nothing") is None
