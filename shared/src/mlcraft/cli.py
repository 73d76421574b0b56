"""One CLI for every project: the same verbs, the same flags, one error boundary.

    python -m <project> train|search --config X.yaml [--set k=v ...] [--run-dir DIR]
    python -m <project> evaluate --config X.yaml --model RUN [--set k=v ...] [--run-dir DIR]
    python -m <project> predict --model RUN --input FILE --output FILE
    python -m <project> serve --model RUN|models:/<project>@<alias> [--host H] [--port P]
    python -m <project> loadtest --model RUN [--concurrency 1 8 32] [--batch-ms 0 5]
    python -m <project> register --model RUN | promote [--tolerance T] | rollback
    python -m <project> report [--results DIR] [--readme FILE]
    python -m <project> publish [--run-dir RUN] [--allow-dirty]

train, search and evaluate run pre-flight checks first, then write only into a new run folder
(mlcraft.runs); `publish` is the only verb that changes the project's results/. The console script
and `python -m` both go through `run_cli`: bad input, a missing or unwritable path, a full disk or a
non-UTF-8 file is one line on stderr and exit 2; only a real bug prints a traceback (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcraft.errors import UserInputError
from mlcraft.runs import Run, latest_complete, open_run

Handler = Callable[[Any, Run, argparse.Namespace], Any]
DEFAULT_PORT = 8000  # serve's; the Dockerfiles EXPOSE it and their HEALTHCHECK asks it
# bench's untimed training steps before the timed ones (--warmup): past lazy initialisation and
# cuDNN autotuning on a GPU, a few seconds on a CPU (see mlcraft.bench)
BENCH_WARMUP = 5
USER_OS_ERRORS = {
    errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EISDIR, errno.ENOTDIR,
    errno.ENOENT, errno.EROFS, errno.EEXIST, errno.ENAMETOOLONG, errno.EFBIG,
}  # fmt: skip


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every `with` block unwinds (run folder removed,
    MLflow run marked FAILED) before the process exits."""


@dataclass
class Project:
    """What a project gives the shared CLI. Handlers import their heavy modules lazily."""

    name: str
    project_dir: Path
    load_config: Callable[[str, list[str]], Any]
    train: Handler
    blocks: Callable[[Path], dict[str, str]]
    predict: Callable[[argparse.Namespace], Any] | None = None
    search: Handler | None = None
    evaluate: Handler | None = None
    # the project's training step and inference timed on this hardware -> results/bench/
    bench: Handler | None = None
    # Checks that run before any folder is made: raise UserInputError, or return what the
    # handler may reuse (e.g. loaded data) as args.checked.
    preflight: Callable[[Any, argparse.Namespace], Any] | None = None
    expected_bytes: int = 50_000_000  # free disk needed by a train run (checked first)
    predict_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    # a complete run folder -> mlcraft.serve.ServedModel (checks the folder, loads the model)
    serve: Callable[[str], Any] | None = None
    # (a complete run folder, n) -> n request rows from its test split, for `loadtest`
    request_rows: Callable[[str, int], list[dict[str, Any]]] | None = None
    # a complete run folder -> (labels, scores, slice columns) on the gate rows, and the metric
    # name (a sklearn.metrics function) the gate compares: enables register/promote/rollback
    gate_scores: Callable[[str], tuple[Any, Any, Any]] | None = None
    gate_metric: str = "roc_auc_score"
    # verb -> (help, add_arguments, handler(args) -> exit code) for project-only verbs
    extra_verbs: dict[str, tuple[str, Callable, Callable]] = field(default_factory=dict)


def _config_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", required=required, help="YAML config (configs/default.yaml)")
    parser.add_argument(
        "--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
        help="override config keys (repeatable; several after one flag)",
    )  # fmt: skip
    parser.add_argument(
        "--run-dir", default=None, help="the new run folder (default runs/<project>/<run-id>)"
    )


def build_parser(project: Project) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {project.name}")
    verbs = parser.add_subparsers(dest="verb", required=True)
    run_verbs = [("train", "the full run: ladder, analyses, results and model in a run folder")]
    if project.search:
        run_verbs.append(("search", "the Optuna search (resumes; several workers may share it)"))
    if project.evaluate:
        run_verbs.append(("evaluate", "score a saved model on the configured test split"))
    if project.bench:
        run_verbs.append(("bench", "train and inference throughput, data wait, memory, MFU"))
    for verb, text in run_verbs:
        sub = verbs.add_parser(verb, help=text)
        _config_arguments(sub)
        if verb == "evaluate":
            sub.add_argument("--model", required=True, help="a complete run folder")
        if verb == "bench":
            sub.add_argument("--steps", type=int, default=30, help="timed training steps")
            sub.add_argument(
                "--warmup", type=int, default=BENCH_WARMUP,
                help="untimed warm-up steps before the timed ones (at least; raised where an "
                "epoch's partial last batch needs warming too)",
            )  # fmt: skip
        sub.set_defaults(handler=_run_verb)
    if project.predict:
        sub = verbs.add_parser("predict", help="predict a file with a saved model")
        sub.add_argument("--model", required=True, help="a complete run folder")
        sub.add_argument("--input", required=True)
        sub.add_argument("--output", required=True)
        if project.predict_arguments:
            project.predict_arguments(sub)
        sub.set_defaults(handler=_predict)
    if project.serve:
        sub = verbs.add_parser("serve", help="serve a saved model over HTTP (FastAPI, uvicorn)")
        sub.add_argument(
            "--model", required=True,
            help=f"a complete run folder, or models:/{project.name}@<alias> (e.g. @champion) to "
            "serve the run a registry alias names and follow it when it moves",
        )  # fmt: skip
        sub.add_argument(
            "--reload-s", type=float, default=None,
            help="with models:/: ask the registry every this many seconds (default 10; "
            "0: only on POST /reload)",
        )  # fmt: skip
        sub.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
        sub.add_argument("--port", type=int, default=DEFAULT_PORT)
        sub.add_argument("--max-bytes", type=int, default=2_000_000, help="largest request body")
        sub.add_argument(
            "--batch-ms", type=float, default=0.0,
            help="micro-batching: requests within this many ms share one model call (0: off)",
        )  # fmt: skip
        sub.set_defaults(handler=_serve)
    if project.serve and project.request_rows:
        sub = verbs.add_parser("loadtest", help="requests/s and latency of serve under load")
        sub.add_argument("--model", required=True, help="a complete run folder")
        sub.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
        sub.add_argument("--requests", type=int, default=300, help="per concurrency level")
        sub.add_argument("--batch-ms", type=float, nargs="+", default=[0.0, 5.0],
                         help="micro-batching settings to compare (0: off)")  # fmt: skip
        sub.add_argument("--run-dir", default=None, help="default runs/<project>/<run-id>")
        sub.set_defaults(handler=_loadtest)
    if project.gate_scores:
        sub = verbs.add_parser("register", help="a run's model as the registry's challenger")
        sub.add_argument("--model", required=True, help="a complete run folder")
        sub.set_defaults(handler=_register)
        sub = verbs.add_parser("promote", help="challenger -> champion if it passes the gate")
        sub.add_argument("--tolerance", type=float, default=0.005,
                         help="the largest loss the CI may leave open (metric points)")  # fmt: skip
        sub.add_argument("--slice-tolerance", type=float, default=0.02)
        sub.add_argument("--min-slice-rows", type=int, default=200)
        sub.set_defaults(handler=_promote)
        sub = verbs.add_parser("rollback", help="champion -> the previous champion")
        sub.set_defaults(handler=_rollback)
    sub = verbs.add_parser("report", help="render the README's generated blocks from results/")
    sub.add_argument("--results", default=str(project.project_dir / "results"))
    sub.add_argument("--readme", default=None, help="one page to render (default: README + docs/)")
    sub.set_defaults(handler=_report)
    sub = verbs.add_parser("publish", help="make a complete reference run the published results/")
    sub.add_argument("--run-dir", default=None, help="default: the newest complete train run")
    sub.add_argument("--allow-dirty", action="store_true", help="publish a dirty-tree run anyway")
    sub.set_defaults(handler=_publish)
    for verb, (text, add_arguments, handler) in project.extra_verbs.items():
        sub = verbs.add_parser(verb, help=text)
        add_arguments(sub)
        sub.set_defaults(handler=lambda _project, args, handler=handler: handler(args))
    return parser


def _run_verb(project: Project, args: argparse.Namespace) -> int:
    if args.verb == "bench" and args.steps < 2:  # a flag: before the config and the data load
        raise UserInputError(f"--steps={args.steps}: at least 2 timed steps")
    if args.verb == "bench" and args.warmup < 0:
        raise UserInputError(f"--warmup={args.warmup}: at least 0")
    config = project.load_config(args.config, args.overrides)
    args.checked = project.preflight(config, args) if project.preflight else None
    handler = {"train": project.train, "search": project.search, "evaluate": project.evaluate,
               "bench": project.bench}  # fmt: skip
    expected = project.expected_bytes if args.verb == "train" else project.expected_bytes // 10
    with open_run(project.name, args.verb, args.config, args.run_dir, expected) as run:
        handler[args.verb](config, run, args)
        if (run.results / "summary.json").is_file():
            write_run_report(project, run)
    print(f"run complete: {run.final}")
    return 0


def write_run_report(project: Project, run: Run) -> None:
    """REPORT.md: the README's section headings with every generated block filled from this run."""
    from mlcraft.files import atomic_write_text
    from mlcraft.reporting import documents, run_report

    blocks = project.blocks(run.results)
    pages = [page for page in documents(project.project_dir) if page.is_file()]
    # An installed package (e.g. in a container) has no README beside it: one section per block.
    template = (
        "\n".join(page.read_text() for page in pages)
        if pages
        else "\n".join(f"## {name}\n<!-- generated:{name} -->" for name in blocks)
    )
    text = run_report(template, blocks, title=run.mlflow_name)
    atomic_write_text(run.path / "REPORT.md", text)


def _predict(project: Project, args: argparse.Namespace) -> int:
    out = project.predict(args)
    print(f"wrote {out or args.output}")
    return 0


def _serve(project: Project, args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UserInputError(f"--port={args.port}: not a TCP port (1-65535)")
    if args.max_bytes < 1:
        raise UserInputError(f"--max-bytes={args.max_bytes}: must be positive")
    if not 0 <= args.batch_ms <= 1000:
        raise UserInputError(f"--batch-ms={args.batch_ms}: between 0 (off) and 1000")
    from mlcraft.loadtest import port_free
    from mlcraft.registry import parse_model_uri
    from mlcraft.serve import serve

    alias = parse_model_uri(args.model)
    if args.reload_s is not None and (alias is None or not 0 <= args.reload_s <= 3600):
        raise UserInputError(
            f"--reload-s={args.reload_s}: between 0 and 3600, with --model models:/<model>@<alias>"
        )
    if not port_free(args.host, args.port):
        raise UserInputError(f"--port={args.port}: {args.host}:{args.port} is in use or not ours")
    # every check, and the model load, before the port opens
    model = _follower(project, args, *alias) if alias else project.serve(args.model)
    # uvicorn drains its requests on SIGTERM, then re-raises it: for a server that is a normal stop
    with contextlib.suppress(Terminated):
        serve(model, args.host, args.port, args.max_bytes, args.batch_ms)
    return 0


def _follower(project: Project, args: argparse.Namespace, name: str, alias: str):
    """The registry alias `name@alias` as an AliasFollower: its run loaded by the project."""
    from mlcraft.registry import version_of
    from mlcraft.serve import RELOAD_EVERY_S, AliasFollower

    if name != project.name:  # another project's runs are not ours to load
        raise UserInputError(
            f"--model={args.model}: this is {project.name}'s CLI; its registered model is "
            f"models:/{project.name}@<alias>"
        )
    every_s = RELOAD_EVERY_S if args.reload_s is None else args.reload_s
    return AliasFollower(args.model, lambda: version_of(name, alias),
                         lambda run_dir: project.serve(str(run_dir)), every_s)  # fmt: skip


def _loadtest(project: Project, args: argparse.Namespace) -> int:
    from mlcraft.loadtest import run_loadtest, write_report
    from mlcraft.runs import complete_run
    from mlcraft.tracking import environment_fingerprint

    if min(args.concurrency) < 1 or args.requests < 1:
        raise UserInputError("--concurrency and --requests must be positive")
    if any(not 0 <= ms <= 1000 for ms in args.batch_ms):
        raise UserInputError(f"--batch-ms={args.batch_ms}: each between 0 (off) and 1000")
    model_run = complete_run(args.model, "--model")
    rows = project.request_rows(str(model_run), 64)
    fingerprint = environment_fingerprint()  # the code as it was when the test started
    with open_run(project.name, "loadtest", None, args.run_dir) as run:
        table = run_loadtest(project.name, str(model_run), rows, args.concurrency, args.requests,
                             args.batch_ms)  # fmt: skip
        meta = {
            "model_run": model_run.name,
            "model_config": _run_config(model_run),
            "rows_per_request": 1,
            **{key: fingerprint[key] for key in ("git_sha", "git_dirty", "hardware", "python")},
        }
        write_report(run.results / "serve", table, meta)
        from mlcraft.files import atomic_write_text

        table_md = (run.results / "serve" / "loadtest.md").read_text()
        atomic_write_text(run.path / "REPORT.md", f"# Load test: {project.name} serving "
                          f"{model_run.name}\n\nOne-row requests; batch_ms 0 is batching off.\n\n"
                          f"{table_md}")  # fmt: skip
    print(f"run complete: {run.final}")
    return 0


def _run_config(run_dir: Path) -> Any:
    """The config the run's model was trained (or the bench measured) with: a train run's own,
    or the one a part's meta file records (results/<part>/<verb>.json: model_config)."""
    from mlcraft.publish import PARTS
    from mlcraft.runs import read_run_info

    verb = read_run_info(run_dir).get("verb")
    path, key = run_dir / "results" / "summary.json", "config"
    if verb in PARTS:
        path, key = run_dir / "results" / PARTS[verb] / f"{verb}.json", "model_config"
    try:
        return json.loads(path.read_text()).get(key)
    except (OSError, ValueError):  # absent or unreadable: unknown
        return None


def _register(project: Project, args: argparse.Namespace) -> int:
    from mlcraft.registry import register
    from mlcraft.runs import complete_run, read_run_info

    run_dir = complete_run(args.model, "--model")
    verb = read_run_info(run_dir).get("verb")
    if verb not in ("train", "compress"):
        raise UserInputError(f"--model={run_dir}: a '{verb}' run holds no model to register")
    if project.serve:
        project.serve(str(run_dir))  # the model loads (manifest, types, this project's format)
    config = _run_config(run_dir) or {}
    registered = register(run_dir, project.name, tags={"seed": str(config.get("seed"))})
    print(f"registered {run_dir} as {project.name} version {registered['version']} (challenger)")
    return 0


def _promote(project: Project, args: argparse.Namespace) -> int:
    import sklearn.metrics

    from mlcraft.registry import CHALLENGER, CHAMPION, gate, promote, run_dir_of

    if not (0 <= args.tolerance < 1 and 0 <= args.slice_tolerance < 1 and args.min_slice_rows > 0):
        raise UserInputError("--tolerance and --slice-tolerance in [0, 1), --min-slice-rows > 0")
    champion = run_dir_of(project.name, CHAMPION)
    challenger = run_dir_of(project.name, CHALLENGER)
    if champion == challenger:
        raise UserInputError(f"promote: the challenger ({challenger.name}) is already champion")
    y, champion_scores, slices = project.gate_scores(str(champion))
    y_again, challenger_scores, _ = project.gate_scores(str(challenger))
    if len(y) != len(y_again) or (y != y_again).any():
        raise UserInputError("promote: the two runs were gated on different rows (other data)")
    metric = getattr(sklearn.metrics, project.gate_metric)
    result = gate(metric, y, champion_scores, challenger_scores, slices, args.tolerance,
                  args.slice_tolerance, args.min_slice_rows)  # fmt: skip
    d = result.diff
    print(f"{project.gate_metric}: challenger ({challenger.name}) - champion ({champion.name}) = "
          f"{d['diff']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] on {len(y)} gate rows; "
          f"{len(result.slices)} slices with >= {args.min_slice_rows} rows checked")  # fmt: skip
    for failure in result.failures:  # every failing check, not only the first
        print(f"  failed: {failure}")
    promoted = promote(project.name, result)
    print(f"promoted: {project.name} champion is now version {promoted['champion']}")
    return 0


def _rollback(project: Project, args: argparse.Namespace) -> int:
    from mlcraft.registry import rollback

    done = rollback(project.name)
    print(f"rolled back: {project.name} champion is version {done['champion']} again "
          f"(was {done['rolled_back_from']})")  # fmt: skip
    return 0


def _report(project: Project, args: argparse.Namespace) -> int:
    from mlcraft.reporting import render_documents, render_readme

    results = Path(args.results)
    if not (results / "summary.json").is_file():
        raise UserInputError(f"--results={results}: no summary.json (publish a run first)")
    blocks = project.blocks(results)
    # --readme names one page to render; by default README.md and docs/*.md share the blocks
    changed = (
        render_readme(args.readme, blocks)
        if args.readme
        else render_documents(project.project_dir, blocks)
    )
    print(f"README blocks updated: {', '.join(changed) or 'none (already current)'}")
    return 0


def _publish(project: Project, args: argparse.Namespace) -> int:
    from mlcraft.config import config_to_dict
    from mlcraft.publish import BUDGETS, PARTS, publish, publish_full, publish_part
    from mlcraft.runs import read_run_info

    run_dir = Path(args.run_dir) if args.run_dir else latest_complete(project.name, "train")
    if run_dir is None:
        raise UserInputError(f"publish: no complete train run under runs/{project.name}/")
    configs = project.project_dir / "configs"
    config = config_to_dict(project.load_config(str(configs / "default.yaml"), []))
    budgets = {  # configs/full.yaml -> results/full/, configs/gpu.yaml -> results/gpu/
        name: config_to_dict(project.load_config(str(configs / f"{name}.yaml"), []))
        for name in BUDGETS
        if (configs / f"{name}.yaml").is_file()
    }
    run_config = _run_config(run_dir)
    budget = next((name for name, wanted in budgets.items() if wanted == run_config), None)
    if read_run_info(run_dir).get("verb") in PARTS:  # a budget's model or bench: results/<budget>/
        reference = budgets[budget] if budget else config
        published = publish_part(run_dir, project.project_dir, reference, args.allow_dirty,
                                 lambda raw: _validated(project, raw), budget)  # fmt: skip
    elif budget is not None:
        published = publish_full(
            run_dir, project.project_dir, budgets[budget], args.allow_dirty, budget
        )
    else:
        published = publish(run_dir, project.project_dir, config, args.allow_dirty)
    print(f"published {run_dir} -> {published}")
    return 0


def _validated(project: Project, raw: dict) -> dict:
    """A stored config through the project's own loader: defaults filled in, as a run sees it."""
    import tempfile

    import yaml

    from mlcraft.config import config_to_dict

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        return config_to_dict(project.load_config(str(path), []))


def lazy(target: str) -> Callable:
    """A function named "package.module:function", imported on first call: a project's CLI stays
    fast (torch and friends load only when a verb needs them) without a wrapper per handler."""
    module_name, _, attribute = target.partition(":")

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module_name), attribute)(*args, **kwargs)

    call.__qualname__ = target
    return call


def entry_points(project: Project) -> tuple[Callable, Callable]:
    """(main, console) for a project's __main__: main(argv) returns the exit code (tests call it);
    console() is the installed script and `python -m <project>`, through run_cli."""

    def project_main(argv: list[str] | None = None) -> int:
        return main(project, argv)

    def project_console() -> None:
        console(project_main)

    return project_main, project_console


def main(project: Project, argv: list[str] | None = None) -> int:
    args = build_parser(project).parse_args(argv)
    return int(args.handler(project, args) or 0)


def describe_os_error(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full{where}"
    return f"{exc.strerror or exc}{where}"


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run main with the shared error boundary; returns the exit code."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return int(main(argv) or 0)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(
            f"error: a file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr
        )
        return 2
    except OSError as exc:
        if exc.errno not in USER_OS_ERRORS:
            raise
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except Terminated:
        print("error: terminated (SIGTERM); nothing half-written was kept", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted; the run folder was removed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def console(main: Callable[[list[str] | None], int | None]) -> None:
    """The body of every console script and `python -m <project>`."""
    sys.exit(run_cli(main))
