import numpy as np
import pandas as pd
import pytest
from mlcraft.errors import UserInputError
from mlcraft.registry import gate, promote, register, rollback, run_dir_of
from sklearn.metrics import roc_auc_score

RNG = np.random.default_rng(0)
N = 2000
Y = RNG.integers(0, 2, N)
GOOD = Y + RNG.normal(0, 0.8, N)
SLICES = pd.DataFrame({"group": np.where(RNG.random(N) < 0.5, "a", "b")})


def test_an_equal_or_better_challenger_passes():
    better = Y + RNG.normal(0, 0.6, N)
    result = gate(roc_auc_score, Y, GOOD, better, SLICES, tolerance=0.01, slice_tolerance=0.02)
    assert result.passed and result.diff["diff"] > 0 and len(result.slices) == 2


def test_a_worse_challenger_is_refused_naming_the_check():
    worse = Y + RNG.normal(0, 1.6, N)
    result = gate(roc_auc_score, Y, GOOD, worse, SLICES, tolerance=0.01, slice_tolerance=0.5)
    assert not result.passed and result.failures[0].startswith("overall")


def test_a_slice_that_drops_is_refused_even_when_the_total_holds():
    in_b = (SLICES["group"] == "b").to_numpy()
    broken = np.where(in_b, RNG.normal(0, 1, N), Y + RNG.normal(0, 0.3, N))
    result = gate(roc_auc_score, Y, GOOD, broken, SLICES, tolerance=0.5, slice_tolerance=0.05)
    assert result.failures == [f for f in result.failures if f.startswith("slice group=b")]
    assert not result.passed


def test_register_promote_and_roll_back(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first, second = tmp_path / "run1", tmp_path / "run2"
    first.mkdir(), second.mkdir()
    assert register(first, "toy", uri)["version"] == 1
    assert run_dir_of("toy", "champion", uri) == first  # the first version is champion at once
    register(second, "toy", uri)
    assert run_dir_of("toy", "challenger", uri) == second
    refused = gate(roc_auc_score, Y, GOOD, Y + RNG.normal(0, 2, N), SLICES, 0.01, 0.5)
    with pytest.raises(UserInputError, match="promote refused: overall"):
        promote("toy", refused, uri)
    assert run_dir_of("toy", "champion", uri) == first
    passed = gate(roc_auc_score, Y, GOOD, GOOD, SLICES, 0.01, 0.05)
    assert promote("toy", passed, uri) == {"name": "toy", "champion": 2}
    assert run_dir_of("toy", "champion", uri) == second
    assert rollback("toy", uri)["champion"] == 1 and run_dir_of("toy", "champion", uri) == first
    with pytest.raises(UserInputError, match="no previous champion"):
        rollback("toy", uri)
    with pytest.raises(UserInputError, match="already toy version 1"):
        register(first, "toy", uri)
    first.rmdir()
    with pytest.raises(UserInputError, match="no longer exists"):
        run_dir_of("toy", "champion", uri)


def test_the_shared_verbs_register_gate_promote_and_roll_back(tmp_path, monkeypatch, capsys):
    import json
    from pathlib import Path

    from mlcraft import cli

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    scores = {"old": GOOD, "worse": Y + RNG.normal(0, 2, N), "same": GOOD.copy()}
    runs = {}
    for name in scores:
        runs[name] = tmp_path / name
        runs[name].mkdir()
        (runs[name] / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    project = cli.Project(
        name="toy", project_dir=Path("."), load_config=None, train=None, blocks=None,
        gate_scores=lambda run: (Y, scores[Path(run).name], SLICES),
    )  # fmt: skip
    main = cli.entry_points(project)[0]
    assert cli.run_cli(main, ["register", "--model", str(runs["old"])]) == 0
    assert cli.run_cli(main, ["register", "--model", str(runs["worse"])]) == 0
    assert cli.run_cli(main, ["promote"]) == 2
    assert "promote refused: overall" in capsys.readouterr().err
    assert cli.run_cli(main, ["register", "--model", str(runs["same"])]) == 0
    assert cli.run_cli(main, ["promote"]) == 0
    assert "champion is now version 3" in capsys.readouterr().out
    assert cli.run_cli(main, ["rollback"]) == 0
    assert "champion is version 1 again (was 3)" in capsys.readouterr().out


def _cli_project(tmp_path, monkeypatch, scores, slices=SLICES):
    """The shared CLI over toy runs whose gate scores are `scores[run name]`."""
    import json
    from pathlib import Path

    from mlcraft import cli

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    runs = {}
    for name in scores:
        runs[name] = tmp_path / name
        runs[name].mkdir()
        (runs[name] / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    project = cli.Project(
        name="toy", project_dir=Path("."), load_config=None, train=None, blocks=None,
        gate_scores=lambda run: (Y, scores[Path(run).name], slices),
    )  # fmt: skip
    return cli.entry_points(project)[0], runs


def test_the_cli_promotes_a_strictly_better_challenger(tmp_path, monkeypatch, capsys):
    import re

    from mlcraft import cli

    better = Y + RNG.normal(0, 0.5, N)  # less noise than GOOD's 0.8: a higher AUC
    main, runs = _cli_project(tmp_path, monkeypatch, {"old": GOOD, "better": better})
    for name in ("old", "better"):
        assert cli.run_cli(main, ["register", "--model", str(runs[name])]) == 0
    capsys.readouterr()
    assert cli.run_cli(main, ["promote"]) == 0
    out = capsys.readouterr().out
    diff, lo = map(float, re.search(r"= ([-+.\d]+) \[([-+.\d]+),", out).groups())
    assert diff > 0 and lo > 0, out  # better beyond doubt, not merely no worse
    assert "champion is now version 2" in out and "failed" not in out
    assert run_dir_of("toy", "champion") == runs["better"]


def test_the_cli_refuses_a_challenger_whose_slice_of_200_rows_drops(tmp_path, monkeypatch, capsys):
    from mlcraft import cli

    # 200 rows in b and 199 in c: b is checked, c is too small to judge
    group = np.array(["b"] * 200 + ["c"] * 199 + ["a"] * (N - 399))
    broken = np.where(group == "a", Y + RNG.normal(0, 0.3, N), RNG.normal(0, 1, N))
    scores = {"old": GOOD, "broken": broken}
    main, runs = _cli_project(tmp_path, monkeypatch, scores, pd.DataFrame({"group": group}))
    for name in scores:
        assert cli.run_cli(main, ["register", "--model", str(runs[name])]) == 0
    capsys.readouterr()
    # a loose overall tolerance: only the slice check can refuse
    assert cli.run_cli(main, ["promote", "--tolerance", "0.5", "--slice-tolerance", "0.05"]) == 2
    captured = capsys.readouterr()
    assert "2 slices with >= 200 rows checked" in captured.out
    assert "failed: slice group=b (200 rows) drops by" in captured.out
    assert "group=c" not in captured.out
    assert captured.err.startswith("error: promote refused: slice group=b (200 rows) drops by")
    assert captured.err.count("\n") == 1
    assert run_dir_of("toy", "champion") == runs["old"]
