"""CI's test matrix from the project registry: which members a change touches.

    python .ci/changed_members.py [BASE_REF]   ->  members=[...] and projects=[...] (GITHUB_OUTPUT)

Without a base ref (a push to main) every member is tested. shared/, uv.lock, pyproject.toml,
projects.toml and noxfile.py touch everything; projects/<p>/ touches only <p>.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVERYTHING = ("shared/", "uv.lock", "pyproject.toml", "projects.toml", "noxfile.py", ".ci/")


def changed_files(base: str | None) -> list[str] | None:
    if not base:
        return None
    out = subprocess.run(["git", "diff", "--name-only", f"{base}...HEAD"], cwd=ROOT,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.split()


def main() -> None:
    projects = list(tomllib.loads((ROOT / "projects.toml").read_text()))
    files = changed_files(sys.argv[1] if len(sys.argv) > 1 else None)
    if files is None or any(f.startswith(EVERYTHING) for f in files):
        touched = projects
        members = ["mlcraft", *projects]
    else:
        touched = [p for p in projects if any(f.startswith(f"projects/{p}/") for f in files)]
        members = touched
    lines = [f"members={json.dumps(members)}", f"projects={json.dumps(touched)}"]
    print("\n".join(lines))
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
