"""Each generated sentence says what its numbers measure: the cost line's time and rate, the rung
a ratio is taken against, which named cells the figure shows, the threshold "flagged" uses, and
what the Reproduce block measured (or that it did not)."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from conftest import PROJECT
from vision_transfer import readings
from vision_transfer.report import blocks
from vision_transfer.reproduce import reproduce_block

RESULTS = PROJECT / "results"


@pytest.fixture
def committed():
    summary = json.loads((RESULTS / "summary.json").read_text())
    return summary, pd.read_csv(RESULTS / "ladder.csv")


def _cost(summary, ladder) -> str:
    lines = readings.summary_block(summary, ladder, None).splitlines()
    return next(line for line in lines if line.startswith("- Cost:"))


def test_cost_line_takes_the_rate_from_the_time_it_names(committed):
    """The rate is the final fit's images over its own step time, and that step time is the one
    printed beside it; the ladder's train seconds (chain wall time) are labelled as such."""
    summary, ladder = committed
    full = ladder["rung"] == "full fine-tune"
    ladder.loc[full, ["train_seconds", "train_images_per_s"]] = [50.0, 999.0]
    summary["final_fit"]["timer"].update(samples=1000, data_seconds=1.0, compute_seconds=9.0)
    line = _cost(summary, ladder)
    assert "full fine-tune 50 s wall (the last-stages fit it starts from and validation" in line
    assert "its own 1,000 training images in 10 s of steps (100 img/s)" in line
    assert "999" not in line  # the ladder's rate is not paired with another measurement's time
    del summary["final_fit"]
    assert "999 img/s over its training steps" in _cost(summary, ladder)


def test_from_scratch_vs_hog_ratio_is_against_hog(committed):
    _, ladder = committed
    seconds = {"HOG + logistic regression": 10.0, "linear probe (pretrained)": 5.0,
               "from scratch": 40.0}  # fmt: skip
    for rung, value in seconds.items():
        ladder.loc[ladder["rung"] == rung, "train_seconds"] = value
    line = next(
        line for line in readings.ladder_block(ladder).splitlines() if "From scratch vs HOG" in line
    )
    assert line.endswith("at 4.0x HOG's training time.") and "8.0x" not in line


def _named(text: str) -> set[str]:
    return set(re.findall(r"images/cell\d+\.png", text))


def test_gallery_readings_name_only_cells_the_figure_shows():
    gallery = pd.DataFrame(
        {"image": ["images/a.png", "images/b.png"], "true": "defective",
         "p_defective": [0.05, 0.1], "expert_probability": 1.0, "cell_type": "mono"}
    )  # fmt: skip
    predictions = pd.DataFrame(
        {"image": ["images/a.png", "images/b.png", "images/c.png", "images/d.png"],
         "p_positive": [0.05, 0.1, 0.15, 0.9], "flagged": [False, False, False, True],
         "defect_probability": 1.0}
    )  # fmt: skip
    text = readings.gallery_block(gallery, predictions)
    assert "images/c.png" not in text  # below 0.2 but not in the figure: counted, not named
    assert "3 of them scored P(defective) < 0.2: 2 in the figure (named above), the other 1" in text
    assert "all in the figure" in readings.gallery_block(gallery, predictions.drop(index=2))
    # The published block: every cell it names is one the committed figure shows.
    shown = set(pd.read_csv(RESULTS / "failure_gallery.csv")["image"])
    published = blocks(RESULTS)["gallery_readings"]
    assert _named(published) and _named(published) <= shown


def test_flagged_uses_the_threshold_of_the_slices_and_the_review_band():
    """expert_agreement.csv counts "flagged" at the calibrated decision threshold: the one
    summary.json records, the review band starts from, and the slices' recall reproduces."""
    summary = json.loads((RESULTS / "summary.json").read_text())
    experts = pd.read_csv(RESULTS / "expert_agreement.csv")
    band = pd.read_csv(RESULTS / "review_band.csv").iloc[0]
    assert experts["threshold"].nunique() == 1
    threshold = experts["threshold"].iloc[0]
    assert threshold == pytest.approx(summary["threshold_calibrated"], abs=1e-12)
    assert threshold == pytest.approx(band["threshold"], abs=1e-12)
    slices = pd.read_csv(RESULTS / "slices.csv")
    grades = slices[slices["slice"] == "expert_probability"].set_index("group")
    grades.index = grades.index.astype(float)
    for _, row in experts.iterrows():
        grade = grades.loc[row["expert_probability"]]
        flagged = grade["defective_recall"] if grade["positive_rate"] else 1 - grade["accuracy"]
        assert row["share_flagged"] == pytest.approx(flagged, abs=1e-9), row.to_dict()
    assert f"P(defective) >= {threshold:.3f} after temperature" in blocks(RESULTS)["experts"]


def test_reproduce_says_what_was_measured_and_what_was_not(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    summary = json.loads((results / "summary.json").read_text())
    text = reproduce_block(results, summary)
    same, other, noise = text.splitlines()
    repeat = pd.read_csv(results / "repeat.csv").iloc[0]
    assert "in the same process" in same and repeat["weights_sha256"] in same
    assert "two separate processes: not measured" in same
    assert other.startswith("- **Other hardware**: not measured")
    assert "results/full/ trains another config" in other  # another recipe, not a repeat
    assert "sd " in noise and "range " in noise
    # The reference's own config published from another machine is a measurement: its accuracy
    # is read against this run's CI.
    gpu = results / "gpu"
    moved = dict(summary, hardware={"cpu_model": "AMD EPYC", "cpu_count": 2, "gpu": None})
    (gpu / "summary.json").write_text(json.dumps(moved))
    ladder = pd.read_csv(results / "ladder.csv")
    ladder.to_csv(gpu / "ladder.csv", index=False)
    other = reproduce_block(results, summary).splitlines()[1]
    assert "on AMD EPYC, 2 cores" in other and "inside this run's CI" in other
    ladder.loc[ladder.index[-1], "accuracy"] = 0.5
    ladder.to_csv(gpu / "ladder.csv", index=False)
    assert "outside this run's CI" in reproduce_block(results, summary)
    # The same config on the same hardware is a second process: its test probabilities.
    (gpu / "summary.json").write_text(json.dumps(summary))
    predictions = pd.read_csv(results / "test_predictions.csv")
    predictions.to_csv(gpu / "test_predictions.csv", index=False)
    same, other, _ = reproduce_block(results, summary).splitlines()
    assert "two separate processes: results/gpu/, test probabilities bitwise the same" in same
    assert "results/gpu/ ran on the same hardware" in other
    predictions.assign(p_positive=predictions["p_positive"] + 1e-3).to_csv(
        gpu / "test_predictions.csv", index=False
    )
    assert "apart by up to 1.0e-03" in reproduce_block(results, summary)
    # Neither a repeat nor a seed spread: no block.
    for name in ("repeat", "seeds"):
        (results / f"{name}.csv").unlink()
    assert reproduce_block(results, summary) is None
