"""The README's generated words follow the numbers: verdicts from CIs (mlcraft.stats.verdict),
the DDP timing comparison, and the epochs of the determinism check from the config."""

import json
import shutil
from pathlib import Path

import pytest
from repro_training.report import blocks, judged

RESULTS = Path(__file__).resolve().parents[1] / "results"
needs_results = pytest.mark.skipif(
    not (RESULTS / "summary.json").is_file(), reason="no reference run committed yet"
)


@pytest.fixture
def results(tmp_path):
    """A copy of the committed results whose summary a test can edit."""
    shutil.copytree(RESULTS, tmp_path / "results")
    return tmp_path / "results"


def _edit(results: Path, change) -> None:
    path = results / "summary.json"
    summary = json.loads(path.read_text())
    change(summary)
    path.write_text(json.dumps(summary))


def test_judged_states_value_ci_target_and_verdict():
    text = judged("ECE", 0.021, [0.015, 0.027], 0.02, "calibration", higher_is_better=False)
    assert text == (
        "ECE 0.021 [0.015, 0.027] vs target <= 0.020 (calibration): **inconclusive** "
        "(the CI spans the target)"
    )
    assert "**met**" in judged("accuracy", 0.8, [0.75, 0.85], 0.7, "baseline")
    assert "**missed**" in judged("accuracy", 0.6, [0.55, 0.65], 0.7, "baseline")


@needs_results
def test_summary_shows_balanced_accuracy_and_minority_recall_with_verdicts(results):
    def add(summary):
        summary["minority_class"] = "defective"
        summary["headline"].update(
            seed0_accuracy=0.79, seed0_accuracy_ci95=[0.76, 0.82],
            majority_baseline_accuracy=0.688,
            balanced_accuracy=0.68, balanced_accuracy_ci95=[0.45, 0.71],
            minority_recall=0.4, minority_recall_ci95=[0.33, 0.47],
        )  # fmt: skip

    _edit(results, add)
    (results / "headline.png").write_bytes(b"png")
    text = blocks(results)["summary"]
    assert "accuracy 0.790 [0.760, 0.820] vs target >= 0.688 (the majority-class baseline): " \
           "**met**" in text  # fmt: skip
    assert (
        "balanced accuracy 0.680 [0.450, 0.710] vs target >= 0.500 (chance): **inconclusive**"
        in text
    )
    assert "recall of the defective class 0.400 [0.330, 0.470]" in text
    assert "results/headline.png" in text


@needs_results
@pytest.mark.parametrize(("ddp_s", "single_s", "words"), [
    (11.9, 98.2, "faster"), (98.2, 11.9, "slower"), (10.0, 10.5, "about as fast"),
])  # fmt: skip
def test_ddp_timing_words_are_computed_from_the_times(results, ddp_s, single_s, words):
    def times(summary):
        summary["ddp"].update(train_seconds=ddp_s, single_process_seed0_train_seconds=single_s)

    _edit(results, times)
    text = blocks(results)["ddp"]
    assert f"DDP took {ddp_s / single_s:.2f}x the single-process time: {words}" in text
    assert "not for speed" not in text


@needs_results
@pytest.mark.parametrize(("epochs", "words"), [(1, "1 epoch "), (3, "3 epochs ")])
def test_determinism_sentence_takes_its_epochs_from_the_config(results, epochs, words):
    def set_epochs(summary):
        summary["config"]["checks"]["check_epochs"] = epochs

    _edit(results, set_epochs)
    text = blocks(results)["determinism"]
    assert f"Each compared run trains {words}(`checks.check_epochs: {epochs}`)" in text
    assert "single epoch" not in text


@needs_results
def test_metrics_carry_their_ci_on_the_same_row(results):
    def add(summary):
        summary["headline"].update(balanced_accuracy=0.68, balanced_accuracy_ci95=[0.45, 0.71])

    _edit(results, add)
    text = blocks(results)["metrics"]
    assert "| balanced_accuracy | 0.680 [0.450, 0.710] |" in text
    assert "_ci95" not in text and "bitwise_identical" not in text


@needs_results
def test_reproduce_states_the_seed_spread_or_that_there_is_none(results):
    import pandas as pd

    seeds = pd.DataFrame({"seed": [0, 1], "test_accuracy": [0.70, 0.75]})
    seeds.to_csv(results / "seeds.csv", index=False)
    text = blocks(results)["reproduce"]
    assert "2 seeds, one split): test accuracy from 0.700 to 0.750" in text
    assert "bounds nothing" not in text
    seeds.assign(test_accuracy=0.7).to_csv(results / "seeds.csv", index=False)
    assert "bounds nothing" in blocks(results)["reproduce"]
    seeds.head(1).to_csv(results / "seeds.csv", index=False)
    assert "measures no seed-to-seed spread" in blocks(results)["reproduce"]


@needs_results
def test_hardware_constant_columns_become_one_line(results):
    text = blocks(results)["hardware"]
    assert "| batch_size |" not in text.splitlines()[0] and "Every row: batch_size" in text


@needs_results
def test_figure_caption_names_the_published_band_the_run_drew(results, tmp_path):
    """On ELPV the figure draws Deitsch et al.'s accuracy as a band (binomial 95% CI on their 656
    test cells) and records it; the caption is rendered from that record, and a run without one
    says that no published number is drawn."""
    from mlcraft.elpv import published_band
    from repro_training.suite import _headline_plot

    head = json.loads((RESULTS / "summary.json").read_text())["headline"]
    band = _headline_plot(head, "defective", tmp_path / "elpv.png", "elpv")
    assert band == published_band() and band["lo"] < 0.8842 < band["hi"]
    assert _headline_plot(head, "defective", tmp_path / "digits.png", "digits") is None
    assert (tmp_path / "elpv.png").is_file() and (tmp_path / "digits.png").is_file()
    _edit(results, lambda s: s.pop("hero_reference", None))
    assert "No published number is drawn on the figure." in blocks(results)["summary"]
    _edit(results, lambda s: s.update(hero_reference=band))
    summary = blocks(results)["summary"]
    assert "shaded band" in summary and "Deitsch et al." in summary and "656 test cells" in summary


def test_seed_columns_tell_apart_seeds_with_equal_accuracy():
    """Two seeds with the same accuracy (4 of 5) that disagree on two of five images."""
    import numpy as np
    from repro_training.metrics import seed_columns

    y = np.array([0, 0, 0, 1, 1])
    preds = {0: np.array([0, 0, 0, 1, 0]), 1: np.array([0, 0, 1, 1, 1])}
    cols = seed_columns(y, preds, ["ok", "bad"])
    assert cols[0]["differs_from_seed_1"] == cols[1]["differs_from_seed_0"] == 0.4
    assert cols[0]["differs_from_seed_0"] == 0.0
    assert (cols[0]["bad_recall"], cols[1]["bad_recall"]) == (0.5, 1.0)
    assert cols[0]["balanced_accuracy"] == 0.75 and cols[1]["balanced_accuracy"] == pytest.approx(
        5 / 6
    )


@needs_results
def test_reproduce_gives_the_pairwise_disagreement_of_the_seeds(results):
    import pandas as pd

    seeds = pd.DataFrame({"seed": [0, 1, 2], "test_accuracy": [0.7, 0.7, 0.7],
                          "differs_from_seed_0": [0.0, 0.05, 0.08],
                          "differs_from_seed_1": [0.05, 0.0, 0.12],
                          "differs_from_seed_2": [0.08, 0.12, 0.0]})  # fmt: skip
    seeds.to_csv(results / "seeds.csv", index=False)
    text = blocks(results)["reproduce"]
    assert "the seeds predict 5.0% to 12.0% of the test images differently" in text
