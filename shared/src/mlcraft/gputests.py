"""The CUDA tests' record: `nox -s tests-gpu` runs each project's `pytest -m gpu` through `run`,
which keeps what pytest printed and, on a machine with a CUDA device, writes
results/gpu/tests/tests_gpu.md|.json|.log: the summary line, failures and skips, the GPU model and
the code it ran. Without CUDA the tests skip and nothing is written (a skip is not a GPU result).

`record` writes the same files from a log copied off a GPU machine; the fingerprint then comes
from a file written on that machine in the same session (a bench.json or summary.json holds one).

    python -m mlcraft.gputests run --project-dir projects/vision_transfer
    python -m mlcraft.gputests record --project-dir P --log pytest.log --fingerprint-from bench.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

FOLDER = Path("gpu") / "tests"  # under results/; publish_full keeps it across gpu runs
# pytest's last line: "== 1 failed, 2 passed, 115 deselected, 5 warnings in 49.42s =="
SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+ in [\d.]+s(?: \([\d:]+\))?)\s*=*$")
OUTCOME = re.compile(r"^(FAILED|ERROR|SKIPPED) (.+)$")  # -rfEs lines
FAILURE_HEADER = re.compile(r"^_{3,} (\S+) _{3,}$")  # "____ test_name ____" under FAILURES


def summarize(output: str) -> dict[str, Any]:
    """The counts, failures and skips that pytest (-q -rs) printed."""
    lines = [line.strip() for line in output.splitlines()]
    summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY.match(line))), None)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary or "")}
    outcomes: dict[str, list[str]] = {"FAILED": [], "ERROR": [], "SKIPPED": []}
    for line in lines:
        if match := OUTCOME.match(line):
            outcomes[match.group(1)].append(match.group(2))
    if not outcomes["FAILED"]:  # a log run with -rs only names failures in their headers
        outcomes["FAILED"] = [m.group(1) for line in lines if (m := FAILURE_HEADER.match(line))]
    passed = bool(summary) and counts.get("passed", 0) > 0
    passed = passed and not counts.get("failed") and not counts.get("error")
    return {
        "summary": summary or "no pytest summary line found",
        "counts": counts,
        "passed": passed,
        "failed": outcomes["FAILED"] + outcomes["ERROR"],
        "skipped": outcomes["SKIPPED"],
    }


def write(results: Path, output: str, fingerprint: dict[str, Any], project: str) -> Path:
    from mlcraft.files import atomic_write_json, atomic_write_text

    gpu = (fingerprint.get("hardware") or {}).get("gpu")
    if not gpu:
        raise ValueError("the fingerprint names no GPU: a CUDA test record needs one")
    facts = summarize(output)
    record = {
        "project": project,
        **facts,
        "gpu": gpu,
        **{key: fingerprint.get(key) for key in ("git_sha", "git_dirty", "python")},
    }
    out = results / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "tests_gpu.json", record)
    atomic_write_text(out / "tests_gpu.log", output)
    atomic_write_text(out / "tests_gpu.md", block(record) + "\n")
    return out


def block(record: dict[str, Any]) -> str:
    """The README/docs text for a CUDA test record."""
    gpu = record["gpu"]
    verdict = "passed" if record["passed"] else "did not pass"
    lines = [
        f"`pytest -m gpu` on 1 x {gpu.get('model')} (driver {gpu.get('driver')}, CUDA "
        f"{gpu.get('cuda')}), git `{str(record.get('git_sha'))[:10]}`"
        f"{' (uncommitted changes)' if record.get('git_dirty') else ''}: {verdict}: "
        f"{record['summary']}."
    ]
    lines += [f"- failed: `{name}`" for name in record["failed"]]
    lines += [f"- skipped: {name}" for name in record["skipped"]]
    return "\n".join(lines)


def published_block(results: str | Path) -> str | None:
    path = Path(results) / FOLDER / "tests_gpu.json"
    if not path.is_file():
        return None
    return block(json.loads(path.read_text()))


def gpu_blocks(results: str | Path, target=None) -> dict[str, str]:
    """A project's GPU blocks for docs/operator.md: the bench that ran on CUDA
    (results/gpu/bench/, with the project's target sentence) and this CUDA test record; only the
    ones published."""
    from mlcraft.bench import published_block as bench_block

    blocks = {
        "gpu_bench": bench_block(Path(results) / "gpu", target),
        "gpu_tests": published_block(results),
    }
    return {name: block for name, block in blocks.items() if block}


def run(project_dir: Path) -> int:
    """pytest -m gpu in project_dir with this interpreter, echoed; recorded where CUDA is."""
    import torch

    from mlcraft.tracking import environment_fingerprint

    fingerprint = environment_fingerprint()  # the code as it was when the tests started
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-rfEs", "-q"],
        cwd=project_dir, capture_output=True, text=True,
    )  # fmt: skip
    output = done.stdout + done.stderr
    print(output, end="")
    if torch.cuda.is_available():
        print(
            f"recorded in {write(project_dir / 'results', output, fingerprint, project_dir.name)}"
        )
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlcraft.gputests", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb in ("run", "record"):
        one = sub.add_parser(verb)
        one.add_argument("--project-dir", required=True, type=Path)
        if verb == "record":
            one.add_argument("--log", required=True, type=Path)
            one.add_argument("--fingerprint-from", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.verb == "run":
        return run(args.project_dir)
    try:  # bad input: one line, exit 2
        fingerprint = json.loads(args.fingerprint_from.read_text())
        log = args.log.read_text()
        folder = args.project_dir.resolve()
        print(write(folder / "results", log, fingerprint, folder.name))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
