"""Headline metrics beside accuracy, and the cost of deterministic kernels."""

import numpy as np
import pytest
from conftest import tiny_config
from repro_training.metrics import ddp_comparison, minority_class, scored_metrics


def test_balanced_accuracy_and_minority_recall_expose_what_accuracy_hides():
    # 80 functional, 20 defective; the model finds 8 of the 20 defective cells.
    y = np.array([0] * 80 + [1] * 20)
    pred = np.array([0] * 78 + [1] * 2 + [0] * 12 + [1] * 8)
    out = scored_metrics(y, pred, ["functional", "defective"])
    assert out["minority_class"] == "defective"
    assert out["accuracy"] == pytest.approx(0.86)
    assert out["minority_recall"] == pytest.approx(0.4)
    assert out["balanced_accuracy"] == pytest.approx((78 / 80 + 0.4) / 2)
    for name in ("accuracy", "balanced_accuracy", "minority_recall"):
        lo, hi = out[f"{name}_ci95"]
        assert lo <= out[name] <= hi and hi - lo > 0


def test_minority_class_ignores_absent_classes():
    assert minority_class(np.array([0, 0, 2, 2, 2]), 3) == 0


def test_ddp_comparison_is_paired_on_the_same_images():
    y = np.arange(200) % 2
    same = ddp_comparison(y, y.copy(), y.copy())
    assert same["ddp_minus_single_accuracy"] == 0
    assert same["ddp_minus_single_accuracy_ci95"] == [0, 0]  # paired: no noise when equal
    worse = y.copy()
    worse[:20] = 1 - worse[:20]
    diff = ddp_comparison(y, worse, y)
    assert diff["ddp_minus_single_accuracy"] == pytest.approx(-0.1)
    assert diff["ddp_minus_single_accuracy_ci95"][1] < 0


def test_default_and_deterministic_modes_each_run_twice_in_fresh_processes(tmp_path):
    from repro_training.suite import determinism_modes

    cfg = tiny_config(epochs=1, grad_scaler=False)
    rows, ratio = determinism_modes(cfg, 0, tmp_path)
    assert [row["mode"] for row in rows] == ["default", "deterministic"]
    assert all(row["weights_identical"] for row in rows)  # CPU kernels repeat in both modes
    assert ratio > 0 and all(row["train_seconds_a"] > 0 for row in rows)
    configs = {p.parent.name: p.read_text() for p in tmp_path.glob("mode-*/launch.yaml")}
    assert len(configs) == 4
    assert "deterministic: false" in configs["mode-default-a"]
    assert "deterministic: true" in configs["mode-deterministic-b"]
