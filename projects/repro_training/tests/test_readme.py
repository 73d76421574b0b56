"""The README and docs/*.md: numbers come from results/ (rendered by `python -m repro_training
report`), the README stays a two-minute read, and hand-written prose types no results."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlcraft.reporting import render_markers, stale_documents, typed_numbers
from repro_training.config import load, to_dict
from repro_training.report import blocks

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "results"
README = PROJECT / "README.md"
OPERATOR = PROJECT / "docs" / "operator.md"
PAGES = [README, *sorted((PROJECT / "docs").glob("*.md"))]
README_LIMIT = 11540  # bytes, as `wc -c` counts them: 60% of the README at commit 2a25f03
REQUIRED = ["test_accuracy", "test_accuracy_ci95", "numpy_mlp_test_accuracy", "bitwise_identical",
            "resume_identical", "ddp_test_accuracy", "smoke_epoch_seconds", "wall_seconds"]  # fmt: skip
# Numbers in the prose that are facts of the setup, not results (years are skipped by
# typed_numbers itself).
SETUP_FACTS = {
    "4.0": "ELPV's licence, CC BY-NC-SA 4.0",
    "0.5": "the label threshold: defective = expert probability >= 0.5",
    "1/3": "an ELPV expert grade",
    "2/3": "an ELPV expert grade",
    "64": "data.image_size in configs/default.yaml",
    "75/25": "the stratified train/test split of configs/default.yaml",
    "95%": "the level of every confidence interval",
    # Small numbers only as phrases: the same digits typed elsewhere are a result and caught.
    "seed 0": "the first of configs/default.yaml's seeds",
    "outside 0-255": "the 8-bit pixel range",
    "the 0-255 grayscale": "the 8-bit pixel range",
    "exits 1": "the exit code of a failed verify",
    "exit code 2": "the exit code of a one-line error (mlcraft.cli)",
    "2-process DDP": "DDP's two processes",
    "on 2 cores": "the reference machine",
    "10001": "the container's uid",
}


needs_results = pytest.mark.skipif(
    not (RESULTS / "summary.json").is_file(), reason="no reference run committed yet"
)


@needs_results
def test_readme_and_docs_agree_with_results():
    assert stale_documents(PROJECT, blocks(RESULTS)) == [], "run `python -m repro_training report`"


@needs_results
def test_reference_run_meets_its_targets():
    summary = json.loads((RESULTS / "summary.json").read_text())
    headline = summary["headline"]
    assert set(REQUIRED) <= set(headline)
    assert headline["bitwise_identical"] is True
    assert headline["resume_identical"] is True
    assert headline["smoke_epoch_seconds"] < 60
    # the published run ran the reference config (keys added since then aside)
    reference = to_dict(load(PROJECT / "configs" / "default.yaml"))
    assert _common_differences(summary["config"], reference) == []


def _common_differences(published, reference, prefix=""):
    if isinstance(published, dict) and isinstance(reference, dict):
        out = []
        for key in published.keys() & reference.keys():
            out += _common_differences(published[key], reference[key], f"{prefix}{key}.")
        return out
    return [] if published == reference else [prefix.rstrip(".")]


def _size(text: str) -> int:
    return len(text.encode())


def test_readme_is_short():
    size = _size(README.read_text())
    assert size <= README_LIMIT, f"README.md is {size} bytes (limit {README_LIMIT})"


def test_readme_opens_with_the_answer_then_the_model_card():
    text = README.read_text()
    order = ["**Question.**", "<!-- generated:summary -->", "nox -s train-repro",
             "nox -s tests", "## Model card", "Mitchell et al. (2019)", "**Intended use**",
             "**Out of scope**", "### Data and licence", "### Metrics",
             "<!-- generated:metrics -->", "### Slices", "<!-- generated:slices -->",
             "### Ethical considerations", "### Caveats", "## Reproduce",
             "<!-- generated:reproduce -->", "## The ladder"]  # fmt: skip
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "(docs/operator.md)" in text and "(docs/own-data.md)" in text


@pytest.fixture
def rerun_results(tmp_path):
    """The committed results plus what the reference rerun will add (values of realistic width:
    this measures length only, nothing here is published)."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    summary = json.loads((results / "summary.json").read_text())
    summary.update(minority_class="defective", faults_seconds=123.4)
    summary["headline"].update(
        seed0_accuracy=0.791, seed0_accuracy_ci95=[0.760, 0.820],
        majority_baseline_accuracy=0.688,
        balanced_accuracy=0.681, balanced_accuracy_ci95=[0.650, 0.712],
        minority_recall=0.402, minority_recall_ci95=[0.331, 0.470],
        ddp_minus_single_accuracy=0.006, ddp_minus_single_accuracy_ci95=[-0.012, 0.024],
        deterministic_time_ratio=1.08, default_mode_bitwise_identical=True,
    )  # fmt: skip
    # per-epoch times: the DDP timing gets its CI; near-equal means give the longest verdict
    summary["ddp"].update(threads_per_rank=1, single_process_threads=2, fit_seconds=61.2,
                          single_process_fit_seconds=35.7,
                          epoch_seconds=[1.80 + 0.013 * (i % 5) for i in range(12)],
                          single_process_epoch_seconds=[1.81 + 0.011 * (i % 4) for i in range(12)])  # fmt: skip
    (results / "summary.json").write_text(json.dumps(summary))
    cells = pd.read_csv(results / "hardware.csv")  # every timed step of every cell
    steps = [{"precision": c.precision, "grad_checkpointing": c.grad_checkpointing,
              "deterministic_mode": c.deterministic_mode, "step": i,
              "step_ms": c.step_ms_median + 0.7 * (i % 6)}
             for c in cells.itertuples() for i in range(20)]  # fmt: skip
    pd.DataFrame(steps).to_csv(results / "hardware_steps.csv", index=False)
    (results / "determinism_modes.csv").write_text(
        "mode,train_seconds_a,train_seconds_b,weights_identical\n"
        "default,11.234,11.456,True\ndeterministic,12.345,12.567,True\n"
    )
    (results / "headline.png").write_bytes(b"png")
    return results


@needs_results
def test_readme_stays_short_after_the_reference_rerun(rerun_results):
    """The rerun adds verdicts, the DDP accuracy comparison and the kernel-mode table."""
    text = README.read_text()
    rendered = blocks(rerun_results)
    here = {name: block for name, block in rendered.items() if f"generated:{name} -->" in text}
    assert "Default against deterministic kernels" in here["determinism"]
    assert "(bootstrap over 12 and 12 epochs): **about as fast**" in here["ddp"]
    assert "(bootstrap over 20 and 20 steps)" in here["hardware"]
    size = _size(render_markers(text, here))
    assert size <= README_LIMIT, f"after the rerun README.md would be {size} bytes"


def test_faults_block_sits_under_fault_drills_in_operator_notes():
    section = OPERATOR.read_text().split("\n## Fault drills\n", 1)[1].split("\n## ", 1)[0]
    assert "<!-- generated:faults -->" in section and "<!-- /generated:faults -->" in section
    assert "generated:faults" not in README.read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_prose_types_no_results(page):
    assert typed_numbers(page.read_text(), SETUP_FACTS) == []


def test_a_typed_result_in_the_prose_is_caught():
    prose = "The ResNet reaches 0.791 on ELPV (Deitsch et al. 2019); 7 of 12 agree, 1.7x faster.\n"
    assert typed_numbers(prose, SETUP_FACTS) == ["0.791", "7", "12", "1.7x"]


def test_container_commands_name_the_verb():
    """The image's entrypoint is the CLI: arguments replace the default command, verb included."""
    text = OPERATOR.read_text()
    assert "docker run img train --config configs/default.yaml --set train.epochs=1" in text
    assert "docker run img --set" not in text + README.read_text()


@needs_results
def test_blocks_leave_out_what_a_run_did_not_measure(tmp_path):
    """A smoke-like run (only the ladder and seeds) renders those blocks and skips the others;
    a faults table, when present, becomes the faults block."""
    for name in ("summary.json", "ladder.csv", "seeds.csv"):
        shutil.copy(RESULTS / name, tmp_path / name)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("resume_kill", "resume_variants", "ddp", "profile"):
        summary.pop(key)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = blocks(tmp_path)
    assert set(out) == {"summary", "metrics", "reproduce", "ladder", "seeds"}
    (tmp_path / "faults.csv").write_text(
        "fault,exit_code,message,files_left,results_unchanged,ok\n"
        "bad value,2,error: bad value for 'train.epochs',0,True,True\n"
    )
    assert "| bad value | 2 |" in blocks(tmp_path)["faults"]
    (tmp_path / "ladder.csv").unlink()
    with pytest.raises(FileNotFoundError):  # the ladder is never optional: a bug, not a skip
        blocks(tmp_path)


def test_the_gpu_run_sits_beside_the_reference_with_its_hardware_and_wall_time(tmp_path):
    """results/gpu/ (configs/gpu.yaml on CUDA) renders a side-by-side row in the README and its
    own section in docs/operator.md; without it neither block exists."""
    if not (RESULTS / "gpu" / "summary.json").is_file():
        pytest.skip("no GPU run published")
    rendered = blocks(RESULTS)
    gpu = json.loads((RESULTS / "gpu" / "summary.json").read_text())
    row = next(line for line in rendered["budgets"].splitlines() if "gpu.yaml" in line)
    assert f"1 x {gpu['hardware']['gpu']['model']}" in row
    assert f"| {round(gpu['wall_seconds'])} |" in row
    assert "Default against deterministic kernels" in rendered["gpu"]
    assert "<!-- generated:budgets -->" in README.read_text()
    assert "<!-- generated:gpu -->" in OPERATOR.read_text().split("\n## On a GPU\n", 1)[1]
    copy = tmp_path / "results"
    shutil.copytree(RESULTS, copy)
    shutil.rmtree(copy / "gpu")
    assert "budgets" not in blocks(copy) and "gpu" not in blocks(copy)
