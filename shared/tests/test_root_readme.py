"""The root README's hand-written prose types no results: every number in it is a fact of the
setup, listed here with the code it comes from, and checked against that code where it lives."""

import ast
import tomllib
from pathlib import Path

import pytest
from mlcraft import cli, serve
from mlcraft.reporting import typed_numbers

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SETUP_FACTS = {  # a phrase allows its number there only
    "Python 3.11": "requires-python in pyproject.toml",
    "exit 2": "the exit code of a refused input (mlcraft.cli's error boundary)",
    "at least 12": "each project's tests/test_faults.py asserts at least this many fault drills",
    "a 422": "HTTP status of a request FastAPI's validation refuses",
    "refused (413)": "HTTP status of a body over serve --max-bytes",
    "seconds (10)": "serve.RELOAD_EVERY_S, the default of serve --reload-s",
    "exposes 8000": "cli.DEFAULT_PORT, serve's port",
    "at least 200 rows": "the default of gate --min-slice-rows",
    "after 3 minutes": "search.GRACE_S in minutes, Optuna's heartbeat grace",
}


def test_root_readme_prose_types_no_results():
    assert typed_numbers(README.read_text(), SETUP_FACTS) == []


def test_a_result_typed_into_the_root_readme_is_caught():
    prose = README.read_text() + "\nThe vision fine-tune reaches 0.861, 7 of 12 cells.\n"
    assert typed_numbers(prose, SETUP_FACTS) == [
        "0.861",
        "7",
        "12",
    ]  # 12 is a fact only as "at least 12"


def test_the_setup_facts_match_their_code():
    search = pytest.importorskip("mlcraft.search")  # optuna: the search extra
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python == ">=3.11"
    assert cli.DEFAULT_PORT == 8000 and serve.RELOAD_EVERY_S == 10
    assert search.GRACE_S == 3 * 60
    for faults in ROOT.glob("projects/*/tests/test_faults.py"):
        assert "assert len(FAULTS) >= 12" in faults.read_text(), faults
    defaults = {
        node.args[0].value: kw.value.value
        for node in ast.walk(ast.parse(Path(cli.__file__).read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
        and node.args and isinstance(node.args[0], ast.Constant)
        for kw in node.keywords if kw.arg == "default" and isinstance(kw.value, ast.Constant)
    }  # fmt: skip
    assert defaults["--min-slice-rows"] == 200
