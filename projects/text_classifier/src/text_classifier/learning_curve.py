"""The learning curve: TF-IDF and the fine-tune at growing training sizes, same recipe as the run.

Each point draws a stratified subsample of the training split (its own seed), tunes TF-IDF and
fine-tunes a fresh copy of the pretrained model on it with the run's settings, then calibrates
and thresholds on validation exactly as the ladder does and scores the whole test split once.
The largest point is the run's own rungs on every training review, so the curve ends at the
headline. results/learning_curve.csv|md, learning_curve_diff.csv|md and learning_curve.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import fit_temperature, softmax_with_temperature
from mlcraft.reporting import write_table
from mlcraft.stats import paired_bootstrap_diff
from sklearn.metrics import f1_score

from text_classifier.baselines import tune_tfidf
from text_classifier.config import Config
from text_classifier.data import stratified_subsample
from text_classifier.evaluate import decide, score_with_ci, tune_threshold
from text_classifier.finetune import fit
from text_classifier.models import load_classifier, predict_logits, tokenize

MODELS = {"tfidf": "TF-IDF + logistic regression", "finetune": "fine-tuned MiniLM"}


def macro_f1(y, pred) -> float:
    return f1_score(y, pred, average="macro")


def scored(model, size, seed, val_logits, test_logits, y_val, y_test, n_boot, extra=None):
    """One curve row (temperature and threshold from validation, as the ladder) and the test
    decisions the paired comparison needs."""
    temperature = fit_temperature(val_logits, y_val)
    val_prob = softmax_with_temperature(val_logits, temperature)
    threshold = tune_threshold(y_val, val_prob)
    test_prob = softmax_with_temperature(test_logits, temperature)
    test = score_with_ci(y_test, test_prob, threshold, n_boot, seed)
    row = {
        "train_reviews": size,
        "seed": seed,
        "model": model,
        "val_macro_f1": macro_f1(y_val, decide(val_prob, threshold)),
        "test_macro_f1": test["macro_f1"],
        "test_macro_f1_lo": test["macro_f1_lo"],
        "test_macro_f1_hi": test["macro_f1_hi"],
        **(extra or {}),
    }
    return row, decide(test_prob, threshold)


def compare(size, seed, decisions, y_test, n_boot) -> dict:
    diff = paired_bootstrap_diff(
        macro_f1, y_test, decisions["finetune"], decisions["tfidf"], n_boot=n_boot, seed=seed
    )
    return {"train_reviews": size, "seed": seed, **diff}


def smaller_point(cfg: Config, size, seed, splits, tokenizer, source, max_len, pad, ids, k):
    """TF-IDF and the fine-tune on a `size`-review subsample drawn with `seed`."""
    train, val, test = splits["train"], splits["val"], splits["test"]
    y_val, y_test = val["label"].to_numpy(), test["label"].to_numpy()
    sub = stratified_subsample(train, size, seed, key="learning_curve.sizes")
    texts, labels = sub["text"].tolist(), sub["label"].to_numpy()
    rows, decisions = [], {}
    tuned = tune_tfidf(texts, labels, val["text"].tolist(), y_val, cfg.tfidf, seed)
    row, decisions["tfidf"] = scored(
        "tfidf", size, seed,
        tuned["pipeline"].predict_log_proba(val["text"].tolist()),
        tuned["pipeline"].predict_log_proba(test["text"].tolist()),
        y_val, y_test, cfg.analysis.n_boot, {"train_seconds": tuned["train_seconds"]},
    )  # fmt: skip
    rows.append(row)
    model = load_classifier(source, k)
    info = fit(model, tokenize(tokenizer, texts, max_len), labels, ids["val"], y_val, pad,
               cfg.finetune, seed)  # fmt: skip
    test_logits = predict_logits(model, ids["test"], pad, cfg.finetune.eval_batch_size)
    row, decisions["finetune"] = scored(
        "finetune", size, seed, info["val_logits"], test_logits, y_val, y_test,
        cfg.analysis.n_boot, {k2: info[k2] for k2 in ("train_seconds", "steps", "epochs_run")},
    )  # fmt: skip
    rows.append(row)
    print(f"learning curve {size} reviews, seed {seed}: "
          + ", ".join(f"{r['model']} {r['test_macro_f1']:.4f}" for r in rows))  # fmt: skip
    return rows, compare(size, seed, decisions, y_test, cfg.analysis.n_boot)


def full_point(cfg: Config, rungs, train_rows, y_val, y_test) -> tuple[list[dict], dict]:
    """The run's own TF-IDF and fine-tune rungs (every training review, seed cfg.seed)."""
    rows, decisions = [], {}
    for name in ("tfidf", "finetune"):
        rung = rungs[name]
        extra = {"train_seconds": rung.train_seconds}
        extra.update({k: rung.extra[k] for k in ("steps", "epochs_run") if k in rung.extra})
        row, decisions[name] = scored(name, train_rows, cfg.seed, rung.val_logits,
                                      rung.test_logits, y_val, y_test, cfg.analysis.n_boot, extra)  # fmt: skip
        rows.append(row)
    return rows, compare(train_rows, cfg.seed, decisions, y_test, cfg.analysis.n_boot)


def sizes_and_seeds(cfg: Config, train_rows: int) -> list[tuple[int, int]]:
    """(size, seed) of every point below the full training split, in the order they run."""
    curve = cfg.learning_curve
    points = []
    for size in curve.sizes:
        if size >= train_rows:
            continue  # the full point is the run itself
        seeds = curve.seeds if size <= curve.all_seeds_up_to else curve.seeds[:1]
        points += [(size, seed) for seed in seeds]
    return points


def summarise(points: pd.DataFrame) -> pd.DataFrame:
    """Per size and model: seeds, mean and sd of test macro-F1 (sd only with >= 2 seeds)."""
    grouped = points.groupby(["train_reviews", "model"])["test_macro_f1"]
    table = grouped.agg(seeds="count", mean="mean", sd="std").reset_index()
    return table.rename(columns={"mean": "test_macro_f1_mean", "sd": "test_macro_f1_sd"})


def run_curve(cfg: Config, rungs, splits, tokenizer, source, max_len, pad, ids, k, results):
    """Every smaller point, then the run's own; the tables and figure; the summary entry."""
    y_val, y_test = splits["val"]["label"].to_numpy(), splits["test"]["label"].to_numpy()
    points, diffs = [], []
    for size, seed in sizes_and_seeds(cfg, len(splits["train"])):
        rows, diff = smaller_point(cfg, size, seed, splits, tokenizer, source, max_len, pad, ids, k)
        points += rows
        diffs.append(diff)
    rows, diff = full_point(cfg, rungs, len(splits["train"]), y_val, y_test)
    return write_curve(points + rows, diffs + [diff], results)


def write_curve(points: list[dict], diffs: list[dict], results: Path) -> dict:
    frame, diff_frame = pd.DataFrame(points), pd.DataFrame(diffs)
    for column in ("steps", "epochs_run"):  # TF-IDF rows have none: whole numbers, not floats
        frame[column] = frame[column].astype("Int64")
    write_table(results, "learning_curve", frame, digits=4)
    write_table(results, "learning_curve_diff", diff_frame, digits=4)
    summary = summarise(frame)
    write_table(results, "learning_curve_summary", summary, digits=4)
    write_figure(frame, results / "learning_curve.png")
    return {"points": points, "differences": diffs, "summary": summary.to_dict("records")}


def write_figure(frame: pd.DataFrame, path: Path) -> None:
    """Test macro-F1 against training reviews (log x): every seed's point with its bootstrap CI,
    the mean over seeds as a line, and validation macro-F1 dashed."""
    from mlcraft.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for offset, (model, label) in zip((0.98, 1.02), MODELS.items(), strict=True):
        part = frame[frame["model"] == model]
        x = part["train_reviews"].to_numpy() * offset  # side by side, not on top of each other
        err = np.vstack([part["test_macro_f1"] - part["test_macro_f1_lo"],
                         part["test_macro_f1_hi"] - part["test_macro_f1"]])  # fmt: skip
        line = ax.errorbar(x, part["test_macro_f1"], yerr=err, fmt="o", ms=4, capsize=2,
                           alpha=0.8, label=f"{label}, test (95% CI)")  # fmt: skip
        means = part.groupby("train_reviews")[["test_macro_f1", "val_macro_f1"]].mean()
        color = line[0].get_color()
        ax.plot(means.index * offset, means["test_macro_f1"], color=color)
        ax.plot(means.index * offset, means["val_macro_f1"], color=color, ls="--",
                label=f"{label}, validation")  # fmt: skip
    ax.set_xscale("log")
    sizes = sorted(frame["train_reviews"].unique())
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training reviews (log scale)")
    ax.set_ylabel("macro-F1")
    ax.set_title("Learning curve: every point scored on the whole test split")
    ax.legend(fontsize=7)
    save_figure(fig, path)
