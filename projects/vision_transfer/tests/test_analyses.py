"""The ELPV analyses on hand-made numbers: one decision threshold everywhere, and the human-review
band chosen on a risk-coverage curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
from vision_transfer import analyses


def _cells():
    grade = np.array([0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0, 2 / 3])
    p = np.array([0.10, 0.48, 0.30, 0.47, 0.46, 0.90, 0.48, 0.20])
    meta = pd.DataFrame({"defect_probability": grade, "cell_type": ["mono", "poly"] * 4})
    return meta, (grade >= 0.5).astype(int), p


def test_expert_agreement_and_slices_flag_at_the_same_tuned_threshold():
    meta, y, p = _cells()
    threshold = 0.47  # tuned: cells at 0.47 and 0.48 are flagged, which 0.5 would not flag
    experts = analyses.expert_agreement(meta, p, threshold).set_index("expert_probability")
    assert experts.loc[1.0, "share_flagged"] == 2 / 3 and experts.loc[1.0, "threshold"] == 0.47
    assert experts.loc[0.0, "share_flagged"] == 0.5
    slices = analyses.slices(meta, y, p, threshold, n_boot=10)
    grade_one = slices[(slices["slice"] == "expert_probability") & (slices["group"] == 1.0)]
    assert float(grade_one["defective_recall"].iloc[0]) == experts.loc[1.0, "share_flagged"]


def test_accel_auto_is_decided_by_the_grid_and_fixed_settings_are_kept():
    import torch
    from vision_transfer.config import Config

    def build():
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
            torch.nn.Linear(4, 2),
        )  # fmt: skip

    images = np.random.default_rng(0).integers(0, 256, (8, 1, 16, 16), dtype=np.uint8)
    stats = {"mean": [0.5] * 3, "std": [0.25] * 3}
    fixed = Config(channels_last=True, bf16=False)
    same, record = analyses.decide_accel(fixed, build, images, stats, "cpu")
    assert same is fixed and record["decided_by"] == "config" and record["grid"] == []
    auto = Config(channels_last="auto", bf16=False, analysis={"profiling_steps": 2})
    decided, record = analyses.decide_accel(auto, build, images, stats, "cpu")
    assert record["decided_by"] == "profiling grid" and len(record["grid"]) == 2  # bf16 fixed
    fastest = max(record["grid"], key=lambda row: row["train_images_per_s"])
    assert decided.channels_last is fastest["channels_last"] and decided.bf16 is False
