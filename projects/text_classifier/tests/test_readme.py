"""The README and docs/ pages must agree with results/ (every generated block re-renders to the
same text), type no measured number by hand, and the README stays a two-minute read."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import PROJECT
from mlcraft.reporting import documents, render_documents, stale_documents
from text_classifier.compress import LATENCY_BATCHES, PARITY_ROWS
from text_classifier.report import blocks

RESULTS = PROJECT / "results"


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_readme_and_docs_agree_with_results():
    stale = stale_documents(PROJECT, blocks(RESULTS))
    assert stale == [], f"blocks {stale} are stale: run `python -m text_classifier report`"


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_reference_summary_has_headline_keys():
    head = json.loads((RESULTS / "summary.json").read_text())["headline"]
    for key in ("test_accuracy_finetuned", "test_accuracy_tfidf", "test_accuracy_majority",
                "test_macro_f1_finetuned", "test_macro_f1_tfidf", "ece_before_temperature",
                "ece_after_temperature", "worst_perturbation", "worst_perturbation_flip_rate",
                "inference_examples_per_s", "wall_seconds"):  # fmt: skip
        assert key in head and head[key] is not None, key
    assert head["test_accuracy_tfidf"] > head["test_accuracy_majority"]


# Facts of the setup, not results (years are skipped by typed_numbers itself): the CI level, exit
# codes (a one-line error 2, SIGTERM 143, Ctrl-C 130), the HTTP status of a refused request (422),
# the reference machine's cores, a probability's ceiling, JSONL line numbering, the test texts
# compress checks parity on and the batch sizes latency is timed at.
# Each as a phrase: its number passes there only, so the same digits typed as a result are caught.
ONE, BATCH = LATENCY_BATCHES
SETUP_NUMBERS = {
    "95%", "exit 2", "exit 143 / 130", "a 422", "on 2 CPU cores", "ceiling below 1",
    "line n + 1", f"batch {ONE} and {BATCH}", f"latency of {ONE} and {BATCH}",
    f"first {PARITY_ROWS} test texts",
}  # fmt: skip


def test_prose_types_no_results():
    """Every measured number lives in a generated block; the hand-written prose of the README and
    of every docs/ page types none."""
    from mlcraft.reporting import typed_numbers

    pages = documents(PROJECT)
    assert len(pages) >= 3  # README.md, docs/operator.md, docs/own-data.md
    for page in pages:
        assert typed_numbers(page.read_text(), SETUP_NUMBERS) == [], page.name


def test_a_typed_result_in_the_prose_is_caught():
    from mlcraft.reporting import typed_numbers

    prose = "The fine-tune wins 7 of 12 seeds, is 1.7x slower and misses 32% (95% CI).\n"
    assert typed_numbers(prose, SETUP_NUMBERS) == ["7", "12", "1.7x", "32%"]
    assert typed_numbers("Exit 2 on bad input; it won 2 seeds.\n", SETUP_NUMBERS) == ["2"]


# 60% of the README's length at commit 2a25f03 (issue 14): a reviewer reads it in two minutes.
README_LIMIT = 22_179


def test_readme_is_a_two_minute_read():
    assert len((PROJECT / "README.md").read_text()) <= README_LIMIT


def test_readme_stays_short_when_a_full_run_fills_every_block(smoke_run, tmp_path):
    """The reference rerun adds blocks the committed results lack (the hero figure, per-class
    scores): render a complete run's blocks into a copy of the pages and measure again."""
    shutil.copy(PROJECT / "README.md", tmp_path / "README.md")
    shutil.copytree(PROJECT / "docs", tmp_path / "docs")
    rendered = blocks(smoke_run[1] / "results")
    assert {"answer", "per_class", "slices", "errors", "robustness"} <= set(rendered)
    render_documents(tmp_path, rendered)
    assert len((tmp_path / "README.md").read_text()) <= README_LIMIT


def test_readme_opens_with_question_answer_and_commands():
    text = (PROJECT / "README.md").read_text()
    order = ["**Question.**", "<!-- generated:answer -->", "No published number", "```bash",
             "## Reproduce"]  # fmt: skip
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_readme_has_the_model_card_and_links_the_operator_pages():
    text = (PROJECT / "README.md").read_text()
    order = ["## Model card", "Mitchell et al. 2019", "**Intended use.**", "**Out of scope:**",
             "### Data and licence", "### Metrics", "### Slices", "### Ethical considerations",
             "### Caveats", "## Reproduce"]  # fmt: skip
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "(docs/operator.md)" in text and "(docs/own-data.md)" in text
    assert "<!-- generated:faults -->" in (PROJECT / "docs" / "operator.md").read_text()


def test_the_gpu_bench_and_cuda_tests_render_in_their_own_section():
    """results/gpu/bench/ (a bench on CUDA) and results/gpu/tests/ render under "On a GPU" in
    docs/operator.md, naming the GPU, beside (not instead of) the CPU bench."""
    if not (RESULTS / "gpu" / "bench" / "bench.json").is_file():
        pytest.skip("no GPU bench published")
    rendered = blocks(RESULTS)
    model = json.loads((RESULTS / "gpu" / "bench" / "bench.json").read_text())["hardware"]["gpu"]
    assert f"1 x {model['model']} (cuda)" in rendered["gpu_bench"]
    assert rendered["gpu_tests"].startswith(f"`pytest -m gpu` on 1 x {model['model']}")
    assert "(cpu)" in rendered["bench"]
    section = (PROJECT / "docs" / "operator.md").read_text().split("\n### On a GPU\n", 1)[1]
    assert "<!-- generated:gpu_bench -->" in section and "<!-- generated:gpu_tests -->" in section
