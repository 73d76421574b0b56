"""Config errors name the key; the README agrees with results/; torch is never imported."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlcraft.cli import run_cli
from mlcraft.reporting import stale_blocks
from tabular_ladder.__main__ import main
from tabular_ladder.report import README, RESULTS, blocks

PROJECT = Path(__file__).resolve().parents[1]


def test_unknown_config_key_is_named(capsys):
    code = run_cli(main, ["train", "--config", str(PROJECT / "configs/smoke.yaml"),
                          "--set", "search.n_trail=3"])  # fmt: skip
    assert code == 2 and "search.n_trail" in capsys.readouterr().err


def test_configs_validate():
    from mlcraft.config import load_config
    from tabular_ladder.config import TrainConfig

    for name in ("default", "smoke", "search"):
        config = load_config(PROJECT / "configs" / f"{name}.yaml", TrainConfig)
        assert config.n_jobs <= 2
    assert load_config(PROJECT / "configs/smoke.yaml", TrainConfig).output is None


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_readme_agrees_with_results():
    assert stale_blocks(README, blocks(RESULTS)) == [], "run `python -m tabular_ladder report`"
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert summary["config"]["output"] == "results" and summary["headline"]["optuna_trials"] > 0


def test_source_never_imports_torch():
    for path in (PROJECT / "src" / "tabular_ladder").glob("*.py"):
        text = path.read_text()
        assert "import torch" not in text and "from torch" not in text, path


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None,
    reason="torch is installed here (the dev venv); skops imports it when present. "
    "The project's own env (nox tests) has no torch, where this runs.",
)
def test_never_imports_torch():
    code = (
        "import sys, tabular_ladder.train, tabular_ladder.predict, tabular_ladder.report;"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
