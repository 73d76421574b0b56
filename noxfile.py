"""Every entrypoint of the portfolio: `uvx nox -l` lists them.

Each project gets its own environment under .nox/env-<member>, synced from the one uv.lock with
`uv sync --frozen --package <member>`, so installing the tabular project never installs torch.
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
# Never let uv fetch a Python: use the one on the machine (3.11+).
os.environ["UV_PYTHON_DOWNLOADS"] = "never"
# Bytecode caching makes the many imports of torch/transformers much faster on repeat runs.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The one project list (projects.toml): folder/import name -> short name, member, search, ...
REGISTRY = tomllib.loads((ROOT / "projects.toml").read_text())
# short name -> (workspace member / PyPI name, import name)
PROJECTS = {entry["short"]: (entry["member"], module) for module, entry in REGISTRY.items()}
# The bigger-budget configs, as mlcraft.publish.BUDGETS: configs/<name>.yaml -> results/<name>/.
BUDGETS = ("full", "gpu")
TEST_MEMBERS = {"mlcraft": ("mlcraft", ROOT / "shared")} | {
    module: (member, ROOT / "projects" / module) for member, module in PROJECTS.values()
}
TEMPLATE = ROOT / "templates" / "project"


def member_python(session: nox.Session, member: str, *sync_args: str) -> str:
    """Sync one workspace member (plus its dev group) into its own env; return that env's python.

    Extras get an env of their own, so `uv sync`'s exact mode never strips them from a shared one.
    """
    extras = [arg for arg in sync_args if not arg.startswith("-")]
    env_dir = ROOT / ".nox" / "-".join(["env", member, *extras])
    session.run_install(
        "uv", "sync", "--frozen", "--package", member, "--group", "dev", *sync_args,
        env={"UV_PROJECT_ENVIRONMENT": str(env_dir)},
        external=True,
    )  # fmt: skip
    return str(env_dir / "bin" / "python")


def require_project(session: nox.Session, short: str) -> tuple[str, str, Path]:
    member, module = PROJECTS[short]
    folder = ROOT / "projects" / module
    if not (folder / "src" / module / "__main__.py").is_file():
        session.error(
            f"project {module} does not exist yet (no projects/{module}/src/{module}/__main__.py)"
        )
    return member, module, folder


def run_project(session: nox.Session, short: str, verb: str, config: str, *extra: str) -> None:
    member, module, folder = require_project(session, short)
    python = member_python(session, member)
    with session.chdir(folder):
        session.run(python, "-m", module, verb, "--config", config, *extra, *session.posargs,
                    external=True)  # fmt: skip


def run_and_publish(
    session: nox.Session, short: str, budget: str = "reference", verb: str = "train"
) -> None:
    """The reference run (or a bigger-budget one, configs/<budget>.yaml -> results/<budget>/), or
    the `bench` of that config (-> results/bench/, results/<budget>/bench/), into its own run
    folder, then publish and render the README. publish refuses a run that is not that config and
    the reference data, or a dirty tree."""
    member, module, folder = require_project(session, short)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = budget if verb == "train" else f"{verb}-{budget}"
    run_dir = ROOT / "runs" / module / f"{name}-{stamp}"
    config = "configs/default.yaml" if budget == "reference" else f"configs/{budget}.yaml"
    run_project(session, short, verb, config, "--run-dir", str(run_dir))
    python = member_python(session, member)
    with session.chdir(folder):
        session.run(python, "-m", module, "publish", "--run-dir", str(run_dir), external=True)
        session.run(python, "-m", module, "report", external=True)
    if verb == "train":  # the root README's table of headline numbers
        session.run(member_python(session, "mlcraft"), "-m", "mlcraft.portfolio", str(ROOT),
                    external=True)  # fmt: skip


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Run every member's tests, each in its own env (`-- tabular_ladder` runs one). The suites
    run TEST_WORKERS at a time (each alone in its own process and env), so CI's wall time is the
    machine's cores', not the sum of five suites; each suite's output is printed whole."""
    chosen = session.posargs or list(TEST_MEMBERS)
    unknown = [name for name in chosen if name not in TEST_MEMBERS]
    if unknown:
        session.error(f"unknown member(s) {unknown}; choose from {sorted(TEST_MEMBERS)}")
    suites = []
    for name in chosen:  # sync every env first: uv writes its cache one process at a time
        member, folder = TEST_MEMBERS[name]
        if not (folder / "tests").is_dir():
            session.log(f"skipping {name}: no tests/ folder yet")
            continue
        extras = (
            ("--extra", "torch", "--extra", "serve", "--extra", "onnx") if name == "mlcraft" else ()
        )
        suites.append((name, member_python(session, member, *extras), folder))
    failed = [name for name, code in _run_suites(session, suites) if code != 0]
    if failed:
        session.error(f"tests failed for: {', '.join(failed)}")


# Suites at once: one per core, two at most (the torch suites use two threads each).
TEST_WORKERS = int(os.environ.get("MLCRAFT_TEST_WORKERS", min(2, os.cpu_count() or 1)))


def _run_suites(session: nox.Session, suites: list[tuple[str, str, Path]]) -> list[tuple]:
    """pytest -q per suite, TEST_WORKERS at a time; each suite's output goes to
    .nox/test-logs/<name>.log and is printed whole when it ends. pytest's exit 5 ("no tests
    collected") is a failure here, like any other non-zero code."""
    import subprocess
    import threading
    from concurrent.futures import ThreadPoolExecutor

    printing = threading.Lock()  # one suite's output at a time, never interleaved
    logs = ROOT / ".nox" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)

    def run(suite: tuple[str, str, Path]) -> tuple[str, int]:
        name, python, folder = suite
        log = logs / f"{name}.log"
        with log.open("w") as out:
            command = [python, "-m", "pytest", str(folder / "tests"), "-q"]
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
        with printing:
            session.log(f"=== tests: {name} (exit {code}) ===")
            print(log.read_text(), flush=True)
        return name, code

    with ThreadPoolExecutor(max_workers=max(TEST_WORKERS, 1)) as pool:
        return list(pool.map(run, suites))


@nox.session(name="tests-gpu", python=False)
def tests_gpu(session: nox.Session) -> None:
    """The CUDA tests (pytest marker `gpu`) of every project with `gpu = true` in projects.toml.

    Without a CUDA device they are skipped, and pytest's -rs summary says so for each test; a
    project with no gpu test at all fails (pytest exit 5), so the marker cannot quietly vanish.
    """
    chosen = [module for module, entry in REGISTRY.items() if entry.get("gpu")]
    failed = []
    for module in session.posargs or chosen:
        member, folder = TEST_MEMBERS[module]
        python = member_python(session, member)
        session.log(f"=== gpu tests: {module} ===")
        try:
            # pytest -m gpu -rs -q in the project; on a CUDA machine it also writes the record
            # (GPU model, code, summary, failures) to results/gpu/tests/
            session.run(python, "-m", "mlcraft.gputests", "run", "--project-dir", str(folder),
                        external=True)  # fmt: skip
        except nox.command.CommandFailed:
            failed.append(module)
    if failed:
        session.error(f"gpu tests failed for: {', '.join(failed)}")


@nox.session(name="gpu-results", python=False)
def gpu_results(session: nox.Session) -> None:
    """On one CUDA machine, everything that needs it, in one go: the CUDA tests, then each
    project's configs/gpu.yaml run published into its results/gpu/ (vision, repro) and each
    project's bench (of configs/gpu.yaml where there is one) beside it."""
    tests_gpu(session)
    for short in PROJECTS:
        has_gpu_config = (ROOT / "projects" / PROJECTS[short][1] / "configs" / "gpu.yaml").is_file()
        if has_gpu_config:
            run_and_publish(session, short, "gpu")
        if REGISTRY[PROJECTS[short][1]].get("bench"):  # the throughput targets are for a GPU
            run_and_publish(session, short, "gpu" if has_gpu_config else "reference", "bench")


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repo."""
    env_dir = ROOT / ".nox" / "env-lint"
    session.run_install(
        "uv", "sync", "--frozen", "--only-group", "dev",
        env={"UV_PROJECT_ENVIRONMENT": str(env_dir)}, external=True,
    )  # fmt: skip
    ruff = str(env_dir / "bin" / "ruff")
    session.run(ruff, "check", ".", external=True)
    session.run(ruff, "format", "--check", ".", external=True)


@nox.session(python=False)
def smoke(session: nox.Session) -> None:
    """Each existing project's smoke config end to end (seconds each; writes under runs/smoke)."""
    ran = 0
    for short, (_, module) in PROJECTS.items():
        if (ROOT / "projects" / module / "src" / module / "__main__.py").is_file():
            run_project(session, short, "train", "configs/smoke.yaml")
            ran += 1
    if not ran:
        session.error("no project exists yet")


def _make_project_sessions() -> None:
    for short in PROJECTS:

        @nox.session(name=f"train-{short}", python=False)
        def train(session: nox.Session, short: str = short) -> None:
            run_and_publish(session, short)

        train.__doc__ = f"The reference run of {PROJECTS[short][1]}, published to its results/."
        for budget in BUDGETS:  # configs/full.yaml -> train-<p>-full, configs/gpu.yaml -> -gpu
            if not (
                ROOT / "projects" / PROJECTS[short][1] / "configs" / f"{budget}.yaml"
            ).is_file():
                continue

            @nox.session(name=f"train-{short}-{budget}", python=False)
            def train_budget(
                session: nox.Session, short: str = short, budget: str = budget
            ) -> None:
                run_and_publish(session, short, budget)

            train_budget.__doc__ = (
                f"The bigger-budget run of {PROJECTS[short][1]} (configs/{budget}.yaml) "
                f"-> results/{budget}/."
            )
        if REGISTRY[PROJECTS[short][1]].get("bench"):

            @nox.session(name=f"bench-{short}", python=False)
            def bench(session: nox.Session, short: str = short) -> None:
                run_and_publish(session, short, verb="bench")

            bench.__doc__ = f"Throughput of {PROJECTS[short][1]} on this machine -> results/bench/."
        if not REGISTRY[PROJECTS[short][1]].get("search"):
            continue

        @nox.session(name=f"search-{short}", python=False)
        def search(session: nox.Session, short: str = short) -> None:
            run_project(session, short, "search", "configs/search.yaml")

        search.__doc__ = f"The Optuna search of {PROJECTS[short][1]} (resumes from runs/optuna.db)."


def _make_serve_sessions() -> None:
    for short, (member, module) in PROJECTS.items():
        if not REGISTRY[module].get("serve"):
            continue

        @nox.session(name=f"serve-{short}", python=False)
        def serve(session: nox.Session, short: str = short) -> None:
            member, module, folder = require_project(session, short)
            python = member_python(session, member)
            args = session.posargs or ["--model", str(newest_reference(session, module))]
            with session.chdir(folder):
                session.run(python, "-m", module, "serve", *args, external=True)

        serve.__doc__ = f"Serve a {module} run over HTTP (default: the newest reference run)."


def newest_reference(session: nox.Session, module: str) -> Path:
    runs = sorted((ROOT / "runs" / module).glob("reference-*[0-9]Z"))
    if not runs:
        session.error(f"no reference run of {module} under runs/; train one or pass -- --model RUN")
    return runs[-1]


@nox.session(name="new-project", python=False)
def new_project(session: nox.Session) -> None:
    """A fifth project from templates/project: `uvx nox -s new-project -- <name>` (snake_case)."""
    if len(session.posargs) != 1:
        session.error("usage: uvx nox -s new-project -- <name>   (e.g. demo or churn_model)")
    name = session.posargs[0]
    python = member_python(session, "mlcraft")
    session.run(python, "-m", "mlcraft.scaffold", str(ROOT), name, external=True)
    session.run("uv", "lock", external=True)
    session.log(f"created projects/{name}; next: uvx nox -s tests -- {name}, then train-{name}")


_make_project_sessions()
_make_serve_sessions()


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Render every README's generated tables from the committed results/."""
    for member, module in PROJECTS.values():
        folder = ROOT / "projects" / module
        if (folder / "results" / "summary.json").is_file():
            # the shared CLI's report verb: README blocks from the published results/
            python = member_python(session, member)
            with session.chdir(folder):
                session.run(python, "-m", module, "report", external=True)
    python = member_python(session, "mlcraft")
    session.run(python, "-m", "mlcraft.portfolio", str(ROOT), external=True)


@nox.session(name="mlflow-ui", python=False)
def mlflow_ui(session: nox.Session) -> None:
    """The MLflow UI on the local store (runs/mlflow.db); MLFLOW_TRACKING_URI points elsewhere."""
    python = member_python(session, "mlcraft")
    (ROOT / "runs").mkdir(exist_ok=True)
    uri = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'runs' / 'mlflow.db'}")
    session.run(
        python, "-m", "mlflow", "ui", "--backend-store-uri", uri, *session.posargs, external=True
    )


@nox.session(python=False)
def dashboard(session: nox.Session) -> None:
    """optuna-dashboard on the local study storage (runs/optuna.db); OPTUNA_STORAGE overrides."""
    env_dir = ROOT / ".nox" / "env-dashboard"
    session.run_install(
        "uv", "sync", "--frozen", "--only-group", "dashboard",
        env={"UV_PROJECT_ENVIRONMENT": str(env_dir)}, external=True,
    )  # fmt: skip
    (ROOT / "runs").mkdir(exist_ok=True)
    storage = os.environ.get("OPTUNA_STORAGE", f"sqlite:///{ROOT / 'runs' / 'optuna.db'}")
    session.run(str(env_dir / "bin" / "optuna-dashboard"), storage, *session.posargs, external=True)
