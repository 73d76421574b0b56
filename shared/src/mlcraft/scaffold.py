"""A new project from templates/project: `uvx nox -s new-project -- <name>` calls this.

    python -m mlcraft.scaffold <repo root> <name>

Copies the template to projects/<name>/ with every `project_template` renamed, and appends the
project to projects.toml (the registry nox, the portfolio table, the Dockerfile test and CI read).
The nox session then runs `uv lock` so the new workspace member is in the lock.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

from mlcraft.errors import UserInputError

TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ""}


def create_project(root: Path, name: str, projects_dir: Path | None = None) -> Path:
    root = Path(root)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in ("mlcraft", "shared", "templates"):
        raise UserInputError(f"project name {name!r}: use snake_case letters, digits and _")
    registry_path = root / "projects.toml"
    registry = tomllib.loads(registry_path.read_text())
    target = (projects_dir or root / "projects") / name
    shorts = {entry["short"] for entry in registry.values()}
    if target.exists() or name in registry or name in shorts:
        raise UserInputError(f"project {name!r} already exists")
    member = name.replace("_", "-")
    shutil.copytree(root / "templates" / "project", target)
    (target / "src" / "project_template").rename(target / "src" / name)
    for path in target.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.name != ".gitkeep":
            text = path.read_text().replace("project_template", name)
            path.write_text(text.replace("project-template", member))
    with open(registry_path, "a") as handle:
        handle.write(
            f'\n[{name}]\nshort = "{name}"\nmember = "{member}"\n'
            f'task = "{name}: a two-rung ladder (describe it here)"\n'
            'headline = "test_accuracy_best"\nlabel = "test accuracy"\nsearch = false\n'
        )
    return target


def main(argv: list[str] | None = None) -> int:
    from mlcraft.cli import run_cli

    def run(args):
        root, name = args
        print(f"created {create_project(Path(root), name)}")

    return run_cli(run, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
