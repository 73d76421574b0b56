"""The new-project template renders into a working project whose own tests pass."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mlcraft.errors import UserInputError
from mlcraft.scaffold import create_project

ROOT = Path(__file__).resolve().parents[2]


def test_template_renders_and_its_tests_pass(tmp_path):
    root = tmp_path / "repo"
    (root / "templates").mkdir(parents=True)
    shutil.copytree(ROOT / "templates" / "project", root / "templates" / "project")
    shutil.copy(ROOT / "projects.toml", root / "projects.toml")
    (root / "uv.lock").write_text("")
    project = create_project(root, "demo")
    assert tomllib.loads((root / "projects.toml").read_text())["demo"]["member"] == "demo"
    assert "project_template" not in (project / "src" / "demo" / "train.py").read_text()
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(project / "tests" / "test_train.py")],
                         cwd=project, env=env, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:]
    with pytest.raises(UserInputError, match="already exists"):
        create_project(root, "demo")
    with pytest.raises(UserInputError, match="snake_case"):
        create_project(root, "Bad-Name")
