"""The run lifecycle: staging and completion, kill and reap, publish, and the CLI error boundary."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlcraft import cli, runs
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json, atomic_write_text
from mlcraft.publish import publish, publish_full


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A fake workspace: runs/ and the MLflow store live under tmp_path."""
    (tmp_path / "uv.lock").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/runs/mlflow.db")
    return tmp_path


def test_complete_run_is_renamed_and_marked(repo):
    with runs.open_run("demo", "train", "configs/smoke.yaml") as run:
        atomic_write_text(run.results / "table.csv", "a\n1\n")
        assert run.path.name.endswith(runs.PARTIAL)
    assert run.final.is_dir() and not run.staging.exists()
    assert runs.is_complete(run.final)
    assert run.final.name.startswith("train-smoke-")
    assert runs.latest_complete("demo") == run.final


def test_train_run_is_the_run_itself_or_the_one_a_compress_run_names(repo):
    with runs.open_run("demo", "train") as train:
        pass
    with runs.open_run("demo", "compress") as compress:
        compress.model.mkdir(parents=True)
    assert runs.train_run(train.final) == train.final
    with pytest.raises(UserInputError, match="without a readable model/source.json"):
        runs.train_run(compress.final)
    source = compress.final / "model" / runs.COMPRESS_SOURCE
    atomic_write_json(source, {"model_run": str(train.final)})
    assert runs.train_run(compress.final) == train.final
    atomic_write_json(source, {"model_run": str(repo / "gone")})
    with pytest.raises(UserInputError, match="source.json: model_run=.*no such run folder"):
        runs.train_run(compress.final)


def test_failed_run_leaves_nothing(repo):
    with pytest.raises(RuntimeError), runs.open_run("demo", "train") as run:
        atomic_write_text(run.results / "half.csv", "a\n")
        raise RuntimeError("boom")
    assert not run.staging.exists() and not run.final.exists()


def test_run_dir_that_exists_or_is_unwritable_is_refused_before_anything(repo):
    (repo / "taken").mkdir()
    with (
        pytest.raises(UserInputError, match="already exists"),
        runs.open_run("demo", "train", run_dir=repo / "taken"),
    ):
        pass
    (repo / "afile").write_text("x")
    with (
        pytest.raises(UserInputError, match="is a file"),
        runs.open_run("demo", "train", run_dir=repo / "afile" / "run"),
    ):
        pass
    with (
        pytest.raises(UserInputError, match="MB free"),
        runs.open_run("demo", "train", expected_bytes=10**18),
    ):
        pass
    assert not (repo / "runs" / "demo").exists() or not list((repo / "runs" / "demo").iterdir())


def test_output_files_follow_the_umask(repo):
    path = atomic_write_text(repo / "out.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


KILLED = textwrap.dedent(
    """
    import sys, time
    from mlcraft.runs import open_run
    from mlcraft.tracking import TrackedRun
    with open_run("demo", "train") as run:
        with TrackedRun("demo", {"a": 1}, 0, run_folder=run):
            (run.results).mkdir()
            (run.results / "half.csv").write_text("a")
            print(run.staging, flush=True)
            time.sleep(600)
    """
)


def test_sigkilled_run_is_reaped_and_its_mlflow_run_failed(repo):
    from mlflow.tracking import MlflowClient

    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED], stdout=subprocess.PIPE, text=True, cwd=repo
    )
    staging = Path(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert staging.is_dir() and not runs.is_complete(staging)
    run_id = runs.read_run_info(staging)["mlflow_run_id"]
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run_id).info.status == "RUNNING"
    assert runs.reap_stale(staging.parent) == [staging]
    assert not staging.exists()
    assert client.get_run(run_id).info.status == "FAILED"


TERMINATED = textwrap.dedent(
    """
    import sys, time
    from mlcraft.cli import run_cli
    from mlcraft.runs import open_run
    from mlcraft.tracking import TrackedRun

    def main(argv):
        with open_run("demo", "train") as run, TrackedRun("demo", {}, 0, run_folder=run):
            print(run.staging, flush=True)
            time.sleep(600)

    sys.exit(run_cli(main))
    """
)


def test_sigterm_removes_the_staging_folder_and_fails_the_mlflow_run(repo):
    from mlflow.tracking import MlflowClient

    script = TERMINATED
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=repo)  # fmt: skip
    staging = Path(proc.stdout.readline().strip())
    run_id = runs.read_run_info(staging)["mlflow_run_id"]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err and "SIGTERM" in err
    assert not staging.exists()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run_id).info.status == "FAILED"


def test_mlflow_run_names_differ_for_the_same_seed(repo):
    from mlcraft.tracking import TrackedRun

    names = []
    for _ in range(2):
        with runs.open_run("demo", "train") as run, TrackedRun("demo", {}, 0, run_folder=run) as t:
            names.append(t.run_name)
        time.sleep(0.01)
    assert names[0] != names[1] and names[0].startswith("demo/train-")


def _reference_run(repo, config, data_sha="abc", dirty=False, data=None):
    data = data if data is not None else {"d": {"sha256": data_sha}}
    with runs.open_run("demo", "train") as run:
        atomic_write_json(run.results / "summary.json",
                          {"config": config, "data": data, "git_dirty": dirty})  # fmt: skip
        atomic_write_text(run.results / "ladder.csv", f"x\n{data_sha}\n")
    return run.final


def test_publish_replaces_results_whole_and_refuses_other_runs(repo):
    project = repo / "projects" / "demo"
    (project / "results" / "full").mkdir(parents=True)
    (project / "results" / "stale.csv").write_text("old")
    (project / "results" / "full" / "keep.csv").write_text("full budget")
    good = _reference_run(repo, {"seed": 0})
    publish(good, project, {"seed": 0})
    published = sorted(p.relative_to(project / "results").as_posix()
                       for p in (project / "results").rglob("*") if p.is_file())  # fmt: skip
    assert published == ["full/keep.csv", "ladder.csv", "summary.json"]
    before = {p: p.read_bytes() for p in (project / "results").rglob("*") if p.is_file()}
    for run_dir, reason in [
        (_reference_run(repo, {"seed": 1}), "reference config"),
        (_reference_run(repo, {"seed": 0}, data_sha="other"), "other data"),
        (_reference_run(repo, {"seed": 0}, dirty=True), "uncommitted"),
    ]:
        with pytest.raises(UserInputError, match=reason):
            publish(run_dir, project, {"seed": 0})
    after = {p: p.read_bytes() for p in (project / "results").rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in project.iterdir() if p.name.startswith(".results")]


def test_a_full_budget_run_publishes_into_results_full_only(repo):
    project = repo / "projects" / "demo"
    publish(_reference_run(repo, {"seed": 0}), project, {"seed": 0})
    reference = (project / "results" / "summary.json").read_bytes()
    with pytest.raises(UserInputError, match="reference config"):
        publish_full(_reference_run(repo, {"seed": 0}), project, {"seed": 0, "full": True})
    assert not (project / "results" / "full").exists()
    target = publish_full(_reference_run(repo, {"seed": 0, "full": True}), project,
                          {"seed": 0, "full": True})  # fmt: skip
    assert target == project / "results" / "full"
    assert json.loads((target / "summary.json").read_text())["config"] == {"seed": 0, "full": True}
    assert (project / "results" / "summary.json").read_bytes() == reference
    with pytest.raises(UserInputError, match="other data"):
        publish_full(_reference_run(repo, {"seed": 0, "full": True}, data_sha="other"), project,
                     {"seed": 0, "full": True})  # fmt: skip
    gpu = publish_full(_reference_run(repo, {"seed": 0, "gpu": True}), project,
                       {"seed": 0, "gpu": True}, budget="gpu")  # fmt: skip
    assert gpu == project / "results" / "gpu"
    assert json.loads((target / "summary.json").read_text())["config"] == {"seed": 0, "full": True}
    with pytest.raises(ValueError, match="budget"):
        publish_full(_reference_run(repo, {"seed": 0}), project, {"seed": 0}, budget="../x")


def test_cli_boundary_turns_user_and_os_errors_into_one_line(capsys):
    def raises(exc):
        def main(argv):
            raise exc

        return main

    assert cli.run_cli(raises(UserInputError("data.path=x: no such file"))) == 2
    assert capsys.readouterr().err == "error: data.path=x: no such file\n"
    assert cli.run_cli(raises(OSError(28, "No space left on device", "/full/f"))) == 2
    assert capsys.readouterr().err == "error: disk full: /full/f\n"
    assert cli.run_cli(raises(IsADirectoryError(21, "Is a directory", "out"))) == 2
    assert "Is a directory: out" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):  # a bug stays a traceback
        cli.run_cli(raises(ZeroDivisionError()))


def test_set_takes_several_values_after_one_flag(tmp_path):
    project = cli.Project("demo", tmp_path, load_config=lambda p, o: o, train=None, blocks=dict)
    args = cli.build_parser(project).parse_args(
        ["train", "--config", "c.yaml", "--set", "a=1", "b=2", "--set", "c=3"]
    )
    assert args.overrides == ["a=1", "b=2", "c=3"]


def test_run_report_keeps_headings_and_blocks_only():
    from mlcraft.reporting import run_report

    readme = "# Title\nprose\n## Ladder\nmore prose\n<!-- generated:ladder -->\nold\n<!-- /generated:ladder -->\n## Empty\ntext\n"
    text = run_report(readme, {"ladder": "| a |\n"}, title="demo/train-x")
    assert text.splitlines() == ["# Run report: demo/train-x", "",
        "Every table below was rendered from this run's results/.", "", "## Ladder", "", "| a |"]  # fmt: skip
    assert json.dumps(text)


def test_opening_the_store_fails_runs_whose_process_died(repo):
    """Without a run folder too: the next TrackedRun marks a killed process's run FAILED."""
    from mlcraft.tracking import TrackedRun
    from mlflow.tracking import MlflowClient

    script = (
        "import time\nfrom mlcraft.tracking import TrackedRun\n"
        "with TrackedRun('demo', {}, 0) as t:\n    print(t.run_id, flush=True)\n    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=repo
    )
    run_id = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_run(run_id).info.status == "RUNNING"
    with TrackedRun("demo", {}, 0):
        pass
    assert client.get_run(run_id).info.status == "FAILED"


def test_lazy_handlers_import_on_first_call():
    import sys

    sys.modules.pop("colorsys", None)
    to_hsv = cli.lazy("colorsys:rgb_to_hsv")
    assert "colorsys" not in sys.modules  # nothing imported while the CLI is being built
    assert to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)


def test_a_budget_run_may_read_fewer_data_sets_than_the_reference_never_others(repo):
    project = repo / "projects" / "demo"
    both = {"d": {"sha256": "abc"}, "digits": {"sha256": "d1"}}
    publish(_reference_run(repo, {"seed": 0}, data=both), project, {"seed": 0})
    gpu = {"seed": 0, "gpu": True}
    fewer = _reference_run(repo, gpu, data={"d": {"sha256": "abc"}})
    assert publish_full(fewer, project, gpu, budget="gpu") == project / "results" / "gpu"
    for data in ({"d": {"sha256": "abc"}, "extra": {"sha256": "e"}}, {"d": {"sha256": "x"}}):
        with pytest.raises(UserInputError, match="other data"):
            publish_full(_reference_run(repo, gpu, data=data), project, gpu, budget="gpu")
