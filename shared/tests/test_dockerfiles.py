"""Docker cannot run here, so check each project's Dockerfile against the lock and the CLI."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from mlcraft.cli import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
# The registry (projects.toml), plus the template every new project starts from.
PROJECTS = list(tomllib.loads((ROOT / "projects.toml").read_text()))
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def lock_members() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["source"].get("editable") for p in lock["package"]
            if "editable" in p.get("source", {})}  # fmt: skip


@pytest.mark.parametrize("project", PROJECTS)
def test_dockerfile_matches_lock_and_cli(project):
    path = ROOT / "projects" / project / "Dockerfile"
    steps = instructions(path)
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG" and "=" in a)
    froms = [a for k, a in steps if k == "FROM"]

    # multi-stage, every external base pinned by digest, the variant picks the runtime base
    assert len(froms) >= 3
    assert args["VARIANT"] == "cpu"
    for image_arg in ("PYTHON_IMAGE", "CUDA_IMAGE"):
        assert DIGEST.search(args[image_arg]), f"{image_arg} not pinned by digest"
    stages = {a.split(" AS ")[1] for a in froms if " AS " in a}
    assert {"build", "runtime-cpu", "runtime-cuda"} <= stages
    assert froms[-1] == "runtime-${VARIANT}"
    for base in froms[:-1]:
        image = base.split(" AS ")[0]
        assert image in ("${PYTHON_IMAGE}", "${CUDA_IMAGE}") or image in stages, image

    # the install command: uv sync --frozen --package <a workspace member of this project>
    runs = " ".join(a for k, a in steps if k == "RUN")
    match = re.search(r"uv sync (?=[^&]*--frozen)[^&]*--package ([\w-]+)", runs)
    assert match, "no `uv sync --frozen --package <member>`"
    assert lock_members().get(match.group(1)) == f"projects/{project}"

    # non-root at run time
    final = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    users = [a for k, a in steps[final:] if k == "USER"]
    assert users and users[-1] not in ("root", "0")

    # serving: the image exposes serve's default port and its health check is the shared module
    # (which asks /health of a serve and passes the other verbs)
    assert [a for k, a in steps[final:] if k == "EXPOSE"] == [str(DEFAULT_PORT)]
    (check,) = [a for k, a in steps[final:] if k == "HEALTHCHECK"]
    options, _, command = check.partition(" CMD ")
    assert json.loads(command) == ["python", "-m", "mlcraft.healthcheck"]
    assert (ROOT / "shared" / "src" / "mlcraft" / "healthcheck.py").is_file()
    assert "--start-period=" in options  # a model loads before /health answers

    # the entrypoint is the project's CLI (any verb: train, serve, ...); the default command is
    # its train verb with a config that exists
    (entry,) = [json.loads(a) for k, a in steps if k == "ENTRYPOINT"]
    assert entry == ["python", "-m", project]
    (command,) = [json.loads(a) for k, a in steps if k == "CMD"]
    assert command[:2] == ["train", "--config"]
    assert (ROOT / "projects" / project / command[2]).is_file()
    # and the CLI is the shared one, whose train verb takes --config
    main_py = ROOT / "projects" / project / "src" / project / "__main__.py"
    assert "cli.Project(" in main_py.read_text()


def test_one_pattern_for_all_projects():
    def normalised(project):
        steps = instructions(ROOT / "projects" / project / "Dockerfile")
        text = json.dumps(steps)  # instructions only: the comments may name other projects
        return text.replace(project, "<p>").replace(project.replace("_", "-"), "<p>")

    assert len({normalised(p) for p in PROJECTS}) == 1


def test_template_dockerfile_follows_the_same_pattern():
    template = json.dumps(instructions(ROOT / "templates" / "project" / "Dockerfile"))
    project = PROJECTS[0]
    reference = json.dumps(instructions(ROOT / "projects" / project / "Dockerfile"))
    assert template.replace("project_template", "<p>").replace("project-template", "<p>") == (
        reference.replace(project, "<p>").replace(project.replace("_", "-"), "<p>")
    )
