import json
import subprocess
import sys
from pathlib import Path

from project_template.__main__ import main

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_smoke_train_beats_majority_and_writes_only_its_run_folder(scratch_runs, monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)
    before = _files(PROJECT_DIR / "results") | _files(PROJECT_DIR / "README.md")
    assert main(["train", "--config", "configs/smoke.yaml"]) == 0
    (run,) = (scratch_runs / "project_template").iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    h = summary["headline"]
    assert h["best_rung"] == "logistic regression"
    assert h["test_accuracy_best"] > h["test_accuracy_majority"] + 0.2
    assert (run / "REPORT.md").read_text().count("| logistic regression |") == 1
    assert _files(PROJECT_DIR / "results") | _files(PROJECT_DIR / "README.md") == before


def test_your_own_csv(scratch_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_DIR)
    rows = ["x,noise,label"] + [f"{i % 10},{(i * 7) % 3},{int(i % 10 > 4)}" for i in range(200)]
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n")
    argv = ["train", "--config", "configs/smoke.yaml",
            "--set", f"data.path={tmp_path / 'mine.csv'}", "data.target=label"]  # fmt: skip
    assert main(argv) == 0
    (run,) = (scratch_runs / "project_template").iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["headline"]["data"] == "csv" and summary["data"]["data"]["rows"] == 200


def test_console_script_goes_through_the_error_boundary(scratch_runs):
    code = "from project_template.__main__ import console; console()"
    out = subprocess.run([sys.executable, "-c", code, "train", "--config", "nope.yaml"],
                         capture_output=True, text=True, cwd=PROJECT_DIR)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: config file not found: nope.yaml"]
