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
@pytest.mark.parametrize(("ddp", "single", "words"), [
    ([1.0, 1.1, 0.9, 1.0], [2.0, 2.1, 1.9, 2.0], "**faster** (CI below 1)"),
    ([2.0, 2.1, 1.9, 2.0], [1.0, 1.1, 0.9, 1.0], "**slower** (CI above 1)"),
    ([1.0, 1.01, 0.99, 1.0], [1.0, 1.02, 0.98, 1.0], "**about as fast** (CI within 10% of 1)"),
    ([1.0, 1.6, 0.6, 1.0], [1.0, 1.4, 0.7, 1.0], "**inconclusive** (CI spans 1)"),
])  # fmt: skip
def test_ddp_timing_verdict_comes_from_a_ci_over_epochs(results, ddp, single, words):
    """Per-epoch times give the time ratio a bootstrap CI and the verdict is judged on it."""
    from repro_training.timing import ratio_of_means_ci

    def times(summary):
        summary["ddp"].update(epoch_seconds=ddp, single_process_epoch_seconds=single)

    _edit(results, times)
    text = blocks(results)["ddp"]
    ratio, lo, hi = ratio_of_means_ci(ddp, single)
    assert (f"DDP over one process, time per epoch: {ratio:.2f}x [{lo:.2f}, {hi:.2f}] "
            f"(bootstrap over 4 and 4 epochs): {words}") in text  # fmt: skip


@needs_results
def test_one_timing_each_is_stated_without_a_verdict(results):
    """The committed run kept only the sums: the ratio, and no verdict (no 'about as fast')."""

    def sums(summary):
        for key in ("epoch_seconds", "single_process_epoch_seconds"):
            summary["ddp"].pop(key, None)
        summary["ddp"].update(train_seconds=10.0, single_process_seed0_train_seconds=10.5)

    _edit(results, sums)
    text = blocks(results)["ddp"]
    assert "DDP over one process, training time: 0.95x (one timing each: no verdict)" in text
    for word in ("faster", "slower", "about as fast"):
        assert word not in text


def test_speed_verdicts_are_judged_on_the_whole_ci():
    from repro_training.timing import ratio_of_means_ci, speed_verdict

    assert speed_verdict(1.01, 1.2).startswith("**slower**")
    assert speed_verdict(0.8, 0.99).startswith("**faster**")
    assert speed_verdict(0.95, 1.05).startswith("**about as fast**")
    assert speed_verdict(0.85, 1.05).startswith("**inconclusive**")
    with pytest.raises(ValueError, match="at least two timings"):
        ratio_of_means_ci([1.0], [1.0, 2.0])


@needs_results
def test_determinism_cost_has_one_source_judged_on_every_step(results):
    """The cost of deterministic kernels is judged once, on the hardware table's per-step times
    (a CI of the ratio of mean steps); the two whole runs per mode give no verdict, and a run
    that kept no steps states the table's own ratios with no verdict."""
    import pandas as pd
    from repro_training.timing import ratio_of_means_ci

    (results / "hardware_steps.csv").unlink(missing_ok=True)  # a run from before steps were kept
    text = blocks(results)
    assert (
        "(mean of two whole runs each: no verdict); per step: the hardware table"
        in (text["determinism"])
    )
    cells = pd.read_csv(results / "hardware.csv")
    default, det = cells.iloc[0], cells.iloc[-1]
    assert det["deterministic_mode"] and not default["deterministic_mode"]
    best = det["step_ms_best"] / default["step_ms_best"]
    assert f"best step {best:.2f}x" in text["hardware"] and "no verdict" in text["hardware"]
    steps = [{"precision": c.precision, "grad_checkpointing": c.grad_checkpointing,
              "deterministic_mode": c.deterministic_mode, "step": i,
              "step_ms": c.step_ms_median * (1 + 0.01 * (i % 3))}
             for c in cells.itertuples() for i in range(6)]  # fmt: skip
    pd.DataFrame(steps).to_csv(results / "hardware_steps.csv", index=False)
    frame = pd.DataFrame(steps)
    plain = frame[(frame["precision"] == "fp32") & ~frame["grad_checkpointing"]]
    ratio, lo, hi = ratio_of_means_ci(plain.loc[plain["deterministic_mode"], "step_ms"],
                                      plain.loc[~plain["deterministic_mode"], "step_ms"])  # fmt: skip
    hardware = blocks(results)["hardware"]
    assert (
        f"mean step: {ratio:.2f}x [{lo:.2f}, {hi:.2f}] (bootstrap over 6 and 6 steps)" in hardware
    )
    assert "no verdict" not in hardware


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
    from repro_training.metrics import seed_ci

    seeds = pd.DataFrame({"seed": [0, 1], "test_accuracy": [0.70, 0.75],
                          "balanced_accuracy": [0.61, 0.66]})  # fmt: skip
    seeds.to_csv(results / "seeds.csv", index=False)
    text = blocks(results)["reproduce"]
    _, lo, hi = seed_ci([0.61, 0.66])
    assert "(2 seeds, one split, Student-t 95% CIs: test accuracy 0.725 [" in text
    assert f"balanced accuracy 0.635 [{lo:.3f}, {hi:.3f}]" in text
    seeds.assign(test_accuracy=0.7).to_csv(results / "seeds.csv", index=False)
    assert "test accuracy 0.700 (identical on all 2 seeds)" in blocks(results)["reproduce"]
    seeds.head(1).to_csv(results / "seeds.csv", index=False)
    assert "measures no seed-to-seed spread" in blocks(results)["reproduce"]


@needs_results
def test_metrics_show_every_seed_score_with_its_seed_ci_and_no_zero_width_interval(results):
    """All seeds score the same accuracy: that is said in words, not as a [0.791, 0.791] 'CI';
    balanced accuracy and defective recall, which do differ by seed, get Student-t CIs."""
    import pandas as pd
    from repro_training.metrics import seed_ci

    seeds = pd.read_csv(results / "seeds.csv")
    text = blocks(results)["metrics"]
    if seeds["test_accuracy"].round(3).nunique() == 1:
        assert f"| test_accuracy | {seeds['test_accuracy'].mean():.3f} (identical on all " \
               f"{len(seeds)} seeds) |" in text  # fmt: skip
    for column in ("balanced_accuracy", "defective_recall"):
        mean, lo, hi = seed_ci(seeds[column])
        assert f"| seeds_{column} | {mean:.3f} [{lo:.3f}, {hi:.3f}] |" in text
    seeds.assign(test_accuracy=[0.70, 0.72, 0.74]).to_csv(results / "seeds.csv", index=False)
    mean, lo, hi = seed_ci([0.70, 0.72, 0.74])
    assert f"| test_accuracy | {mean:.3f} [{lo:.3f}, {hi:.3f}] |" in blocks(results)["metrics"]


@needs_results
def test_reproduce_says_what_is_bitwise_what_is_not_and_what_was_not_measured(results):
    """Each line from a measurement: the determinism table, the SIGKILL drill, DDP, the GPU run's
    modes and weights; another CPU model was never measured and says so. The GPU run's balanced
    accuracy is judged against this run's test-set CI and the seeds' CI."""
    text = blocks(results)["reproduce"]
    bitwise = next(line for line in text.splitlines() if line.startswith("- **Bitwise**"))
    assert "same seed twice, this CPU model, 2 torch threads **yes**" in bitwise
    assert "SIGKILL and resume **yes**" in bitwise
    not_bitwise = next(line for line in text.splitlines() if line.startswith("- **Not bitwise"))
    assert "2 vs 1 torch threads" in not_bitwise and "DDP vs one process" in not_bitwise
    assert not_bitwise.endswith("Another CPU model: not measured.")
    if (RESULTS / "gpu" / "summary.json").is_file():
        gpu = json.loads((RESULTS / "gpu" / "summary.json").read_text())["headline"]
        assert "deterministic kernels, twice **yes**" in bitwise
        assert "default kernels, twice" in not_bitwise and "vs this CPU (seed 0" in not_bitwise
        line = next(line for line in text.splitlines() if line.startswith("- **GPU vs CPU**"))
        assert f"balanced accuracy {gpu['balanced_accuracy']:.3f}" in line
        assert line.endswith(": within noise.")

        def far(summary):  # a GPU score outside both intervals is not within noise
            summary["headline"].update(balanced_accuracy=0.9, balanced_accuracy_ci95=[0.88, 0.92])

        _edit(results / "gpu", far)
        assert blocks(results)["reproduce"].endswith(
            "outside this run's test-set CI and the seeds' CI: not within noise."
        )


@needs_results
def test_the_committed_profile_splits_data_and_compute_without_overlap():
    """The "data" range wraps only next(): in the published profile its time is a small part of
    the step, data + compute fit in the steps, and the top-ops table agrees with the summary."""
    import pandas as pd

    prof = json.loads((RESULTS / "summary.json").read_text())["profile"]
    assert prof["data_seconds"] + prof["compute_seconds"] <= prof["step_seconds"] * 1.001
    ops = pd.read_csv(RESULTS / "profile_top_ops.csv").set_index("op")["cpu_total_ms"]
    data = ops[ops.index.str.startswith("data: ")].iloc[0]
    compute = ops[ops.index.str.startswith("compute: ")].iloc[0]
    assert data < compute  # a range left open across a yield would contain the compute


@needs_results
def test_hardware_constant_columns_become_one_line(results):
    text = blocks(results)["hardware"]
    assert "| batch_size |" not in text.splitlines()[0] and "Every row: batch_size" in text


@needs_results
def test_figure_caption_names_the_published_band_the_run_drew(results):
    """On ELPV the figure draws Deitsch et al.'s accuracy as a band (binomial 95% CI on their 656
    test cells) on the accuracy row only, and records it; the caption is rendered from that
    record and from what was drawn, and a run without one says that no published number is
    drawn."""
    from mlcraft.elpv import published_band
    from repro_training.figures import hero_references

    band = published_band()
    assert band["lo"] < 0.8842 < band["hi"]
    head = json.loads((RESULTS / "summary.json").read_text())["headline"]
    rows = {ref["label"]: ref["rows"] for ref in hero_references(head, band)}
    assert rows == {"majority-class accuracy": ["accuracy"], "chance": ["balanced accuracy"],
                    band["label"]: ["accuracy"]}  # an accuracy, drawn where accuracy is  # fmt: skip
    _edit(results, lambda s: s.pop("hero_reference", None))
    summary = blocks(results)["summary"]
    assert "No published number is drawn on the figure." in summary and "the band" not in summary
    _edit(results, lambda s: s.update(hero_reference=band))
    summary = blocks(results)["summary"]
    assert "shaded band" in summary and "Deitsch et al." in summary and "656 test cells" in summary
    assert ("Only on their rows: accuracy: majority-class accuracy (dashed), the band; balanced "
            "accuracy: chance (dashed).") in summary  # fmt: skip


@needs_results
def test_report_redraws_the_headline_figure_from_the_summary(results):
    """headline.png is a drawing of summary.json: the report redraws it (same summary, same
    bytes; another summary, another figure), here and in results/gpu/, so a fix to the drawing
    reaches the published figures without a retrain."""
    (results / "headline.png").unlink()
    (results / "gpu" / "headline.png").write_bytes(b"drawn by its own run")
    blocks(results)
    first = (results / "headline.png").read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert (results / "gpu" / "headline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    blocks(results)
    assert (results / "headline.png").read_bytes() == first
    _edit(
        results,
        lambda s: s["headline"].update(seed0_accuracy=0.75, seed0_accuracy_ci95=[0.72, 0.78]),
    )
    blocks(results)
    assert (results / "headline.png").read_bytes() != first


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
