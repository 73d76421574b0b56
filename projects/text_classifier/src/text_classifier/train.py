"""One train run: data -> the rungs -> metrics with CIs -> analyses, all into its run folder.

Tables, figures and summary.json go to run.results (what `publish` copies to results/), the saved
models to run.model (see artifacts.py). One obvious path from top to bottom; every number written
here comes from this code. Any non-empty subset of the four rungs works.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import fit_temperature, reliability_diagram, softmax_with_temperature
from mlcraft.config import config_to_dict
from mlcraft.reporting import write_table
from mlcraft.runs import Run
from mlcraft.seeding import seed_everything
from mlcraft.stats import paired_bootstrap_diff
from mlcraft.tracking import TrackedRun
from sklearn.metrics import f1_score

from text_classifier import PROJECT_DIR, analysis, artifacts, robustness
from text_classifier.audit import write_audit
from text_classifier.baselines import Majority, fit_frozen_probe, tune_tfidf
from text_classifier.config import Config
from text_classifier.data import Dataset, describe, stratified_subsample
from text_classifier.evaluate import (
    decide,
    latency,
    per_class_scores,
    score_with_ci,
    speedup_ci,
    tune_threshold,
)
from text_classifier.finetune import fit, time_one_pass
from text_classifier.learning_curve import run_curve
from text_classifier.models import (
    choose_max_length,
    load_classifier,
    load_encoder,
    load_tokenizer,
    mean_pooled_embeddings,
    predict_logits,
    resolve_model,
    threads_in_use,
    tokenize,
    use_threads,
)

PROJECT = "text_classifier"


class Rung:
    """What the ladder needs from each model: val/test logits and a texts -> probs function."""

    def __init__(self, name, val_logits, test_logits, train_seconds, predict_fn, extra=None):
        self.name = name
        self.val_logits = np.asarray(val_logits, dtype=float)
        self.test_logits = np.asarray(test_logits, dtype=float)
        self.train_seconds = train_seconds
        self.predict_fn = predict_fn  # list[str] -> logits
        self.extra = extra or {}


def transformer_predictor(model, tokenizer, max_length, batch_size=64):
    pad = tokenizer.pad_token_id

    def predict(texts):
        return predict_logits(model, tokenize(tokenizer, texts, max_length), pad, batch_size)

    return predict


def run(cfg: Config, run: Run, data: Dataset) -> dict:
    """The train handler: `data` is what pre-flight loaded and checked (args.checked)."""
    seed_everything(cfg.seed)
    use_threads(cfg.torch_threads)
    results = run.results
    train, val, test = data.splits["train"], data.splits["val"], data.splits["test"]
    y_train, y_val, y_test = (s["label"].to_numpy() for s in (train, val, test))
    k = data.n_classes
    print(f"data: {describe(data)}")

    with TrackedRun(PROJECT, config_to_dict(cfg), cfg.seed, run_folder=run) as tracked:
        tracked.add_data_file(
            "reviews" if cfg.data.path is None else "data", data.source, data.rows_in_file
        )
        write_audit(results, data.audit)
        if data.audit:
            print(f"data audit: {len(data.audit)} finding(s), see results/audit.md")
        source = resolve_model(cfg.model.name_or_path)
        tokenizer = load_tokenizer(source)
        pad = tokenizer.pad_token_id
        lengths = choose_max_length(
            tokenizer,
            train["text"].tolist(),
            cfg.model.max_length_percentile,
            cfg.model.max_length_cap,
            cfg.model.max_length,
        )
        max_len = lengths["max_length"]
        print(f"token lengths: {lengths}")
        ids = {n: tokenize(tokenizer, s["text"].tolist(), max_len) for n, s in data.splits.items()}
        rungs: dict[str, Rung] = {}
        timings: dict[str, float] = {}
        saved: dict[str, str] = {}  # rung -> path relative to the run folder

        if "majority" in cfg.rungs:
            t0 = time.perf_counter()
            majority = Majority().fit(y_train, k)
            log_prior = np.log(np.clip(majority.prior, 1e-12, 1))
            rungs["majority"] = Rung(
                "majority",
                np.tile(log_prior, (len(val), 1)),
                np.tile(log_prior, (len(test), 1)),
                time.perf_counter() - t0,
                lambda texts: np.log(np.clip(majority.predict_proba(texts), 1e-12, 1)),
            )

        tfidf = None
        if "tfidf" in cfg.rungs:
            tuned = tune_tfidf(
                train["text"].tolist(), y_train, val["text"].tolist(), y_val, cfg.tfidf, cfg.seed
            )
            tfidf = tuned["pipeline"]
            artifacts.save_tfidf(tfidf, run.path / artifacts.TFIDF)
            saved["tfidf"] = artifacts.TFIDF
            write_table(results, "tfidf_trials", pd.DataFrame(tuned["trials"]), digits=4)
            rungs["tfidf"] = Rung(
                "tfidf",
                tfidf.predict_log_proba(val["text"].tolist()),
                tfidf.predict_log_proba(test["text"].tolist()),
                tuned["train_seconds"],
                lambda texts: tfidf.predict_log_proba(list(texts)),
                {"best_params": tuned["best_params"]},
            )
            print(f"tfidf: {tuned['best_params']} in {tuned['train_seconds']:.0f}s")

        if "frozen" in cfg.rungs:
            t0 = time.perf_counter()
            encoder = load_encoder(source)
            sub = stratified_subsample(train, cfg.frozen.train_subsample, cfg.seed)
            bs = cfg.frozen.batch_size
            emb_sub = mean_pooled_embeddings(
                encoder, tokenize(tokenizer, sub["text"].tolist(), max_len), pad, bs
            )
            emb_val = mean_pooled_embeddings(encoder, ids["val"], pad, bs)
            probe = fit_frozen_probe(emb_sub, sub["label"].to_numpy(), emb_val, y_val, cfg.seed)
            train_seconds = time.perf_counter() - t0
            emb_test = mean_pooled_embeddings(encoder, ids["test"], pad, bs)

            def frozen_predict(texts, encoder=encoder, probe=probe["model"]):
                emb = mean_pooled_embeddings(encoder, tokenize(tokenizer, texts, max_len), pad, bs)
                return probe.predict_log_proba(emb)

            rungs["frozen"] = Rung(
                "frozen",
                probe["model"].predict_log_proba(emb_val),
                probe["model"].predict_log_proba(emb_test),
                train_seconds,
                frozen_predict,
                {"C": probe["C"], "train_examples": len(sub)},
            )
            print(f"frozen probe: C={probe['C']} on {len(sub)} examples, {train_seconds:.0f}s")

        finetune_info = None
        model = initial = None
        if "finetune" in cfg.rungs:
            model = load_classifier(source, k)
            sub = stratified_subsample(train, cfg.finetune.train_subsample, cfg.seed)
            sub_ids = tokenize(tokenizer, sub["text"].tolist(), max_len)
            initial = copy.deepcopy(model.state_dict()) if cfg.analyses else None
            finetune_info = fit(
                model,
                sub_ids,
                sub["label"].to_numpy(),
                ids["val"],
                y_val,
                pad,
                cfg.finetune,
                cfg.seed,
            )
            t0 = time.perf_counter()
            test_logits = predict_logits(model, ids["test"], pad, cfg.finetune.eval_batch_size)
            timings["finetune_test_inference_seconds"] = time.perf_counter() - t0
            rungs["finetune"] = Rung(
                "finetune",
                finetune_info["val_logits"],
                test_logits,
                finetune_info["train_seconds"],
                transformer_predictor(model, tokenizer, max_len, cfg.finetune.eval_batch_size),
                {
                    k2: finetune_info[k2]
                    for k2 in ("steps", "epochs_run", "train_examples", "history")
                },
            )
            artifacts.save_finetuned(model, tokenizer, run.path / artifacts.FINETUNE)
            saved["finetune"] = artifacts.FINETUNE
            write_training_curve(finetune_info, results)

        # --- the ladder: temperature + threshold from val, then test once -----------------------
        ladder_rows, probs, decisions, per_class = [], {}, {}, []
        for name, rung in rungs.items():
            temperature = 1.0 if name == "majority" else fit_temperature(rung.val_logits, y_val)
            val_prob = softmax_with_temperature(rung.val_logits, temperature)
            test_prob = softmax_with_temperature(rung.test_logits, temperature)
            threshold = None if name == "majority" else tune_threshold(y_val, val_prob)
            probs[name], decisions[name] = test_prob, (temperature, threshold)
            scores = score_with_ci(y_test, test_prob, threshold, cfg.analysis.n_boot, cfg.seed)
            per_class += [
                {"rung": name, **row}
                for row in per_class_scores(
                    y_test, test_prob, threshold, data.classes, cfg.analysis.n_boot, cfg.seed
                )
            ]
            cost = latency(rung.predict_fn, test["text"].tolist(), cfg.analysis.latency_repeats)
            ladder_rows.append(
                {
                    "rung": name,
                    **scores,
                    "train_seconds": rung.train_seconds,
                    **cost,
                    "temperature": temperature,
                    "threshold": threshold if threshold is not None else float("nan"),
                }
            )
            print(f"{name}: acc {scores['accuracy']:.4f} macro-F1 {scores['macro_f1']:.4f}")
        ladder = pd.DataFrame(ladder_rows)
        write_table(results, "ladder", ladder)
        write_table(results, "per_class", pd.DataFrame(per_class))
        write_hero_figure(ladder, results)

        comparison = None
        if "finetune" in probs and "tfidf" in probs:
            # Paired: both models scored on the same resampled test rows.
            comparison = paired_bootstrap_diff(
                lambda y, pred: f1_score(y, pred, average="macro"),
                y_test,
                decide(probs["finetune"], decisions["finetune"][1]),
                decide(probs["tfidf"], decisions["tfidf"][1]),
                n_boot=cfg.analysis.n_boot,
                seed=cfg.seed,
            )
            print(f"finetune - tfidf macro-F1: {comparison}")

        curve = None
        if cfg.learning_curve.sizes:
            curve = run_curve(
                cfg, rungs, data.splits, tokenizer, source, max_len, pad, ids, k, results
            )

        # --- analyses --------------------------------------------------------------------------
        extra: dict = {
            "data_description": describe(data),
            "token_lengths": lengths,
            "finetune_vs_tfidf_macro_f1": comparison,
            "learning_curve": curve,
            "timings": timings,
            "rung_details": {n: r.extra for n, r in rungs.items()},
            "torch_threads": threads_in_use(),  # what a bitwise repeat is tied to (repro.py)
        }
        headline_cal = {}
        if cfg.analyses:
            headline_cal = run_analyses(
                cfg, data, rungs, probs, decisions, tokenizer, results, extra, model, initial,
                ids, pad, max_len,
            )  # fmt: skip

        meta = {
            "classes": data.classes,
            "text_column": cfg.data.text_column if cfg.data.path else "text",
            "default_reviews_data": cfg.data.path is None,
            "max_length": max_len,
            "decisions": {
                n: {"temperature": t, "threshold": th} for n, (t, th) in decisions.items()
            },
            "model_source": cfg.model.name_or_path,
            "files": saved,
        }
        artifacts.save_meta(run.path, meta)

        row = {r["rung"]: r for r in ladder_rows}

        def get(rung, key):
            return row[rung][key] if rung in row else None

        headline = {
            "test_accuracy_finetuned": get("finetune", "accuracy"),
            "test_accuracy_tfidf": get("tfidf", "accuracy"),
            "test_accuracy_frozen": get("frozen", "accuracy"),
            "test_accuracy_majority": get("majority", "accuracy"),
            "test_macro_f1_finetuned": get("finetune", "macro_f1"),
            "test_macro_f1_tfidf": get("tfidf", "macro_f1"),
            "test_macro_f1_frozen": get("frozen", "macro_f1"),
            "finetune_minus_tfidf_macro_f1_lo": comparison["lo"] if comparison else None,
            "finetune_minus_tfidf_macro_f1_hi": comparison["hi"] if comparison else None,
            **headline_cal,
            "inference_examples_per_s": get("finetune", "examples_per_s"),
            "max_length": max_len,
            "token_length_p95": lengths["p95"],
        }
        extra["run_id"] = run.run_id
        if cfg.faults:
            with tracked.untimed():  # the drills are not the model's wall time
                extra["faults_seconds"] = run_fault_drills(run)
        summary = tracked.write_summary(headline, extra)
        tracked.log_artifact(results / "ladder.csv")
    return summary


def run_fault_drills(run: Run) -> float:
    """The fault drills (faults.py) against this code, in a scratch folder: results/faults.csv.
    Returns their seconds (the caller keeps them out of the run's wall time)."""
    from mlcraft.faults import run_drills

    from text_classifier.faults import FAULTS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="text_classifier-faults-") as scratch:
        frame = run_drills(PROJECT, PROJECT_DIR, FAULTS, Path(scratch))
    write_table(run.results, "faults", frame)
    seconds = time.perf_counter() - started
    print(f"fault drills: {int(frame['ok'].sum())}/{len(frame)} ok in {seconds:.0f}s")
    return round(seconds, 1)


def write_hero_figure(ladder: pd.DataFrame, results: Path) -> None:
    """results/ladder.png: each rung's test macro-F1 with its bootstrap 95% CI (README's top)."""
    from mlcraft.plots import ladder_figure

    from text_classifier.report import RUNG_NAMES

    rows = [
        {
            "name": RUNG_NAMES.get(r["rung"], r["rung"]),
            "value": r["macro_f1"],
            "lo": r["macro_f1_lo"],
            "hi": r["macro_f1_hi"],
        }
        for _, r in ladder.iterrows()
    ]
    title = "Test macro-F1 per rung (bootstrap 95% CI)"
    ladder_figure(rows, "test macro-F1", results / "ladder.png", title=title)


def write_training_curve(info: dict, results: Path) -> None:
    from mlcraft.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    losses = np.array(info["train_losses"])
    window = max(1, len(losses) // 25)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(losses, alpha=0.3, lw=0.8, label="train loss (per step)")
    ax.plot(np.arange(len(smooth)) + window - 1, smooth, label=f"train loss ({window}-step mean)")
    # Each check sits at the optimizer steps taken before it (step n = after losses[n - 1]).
    for h in info["history"]:
        ax.scatter(h["step"] - 1, h["val_loss"], color="k", zorder=3)
    ax.scatter([], [], color="k", label="val loss (validation check)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize=8)
    save_figure(fig, results / "training_curve.png")


def review_band(cfg, data, rung, decision, test_prob, results) -> dict:
    """The human-review band around the rung's decision threshold, chosen on validation by
    analysis.review_max_error and checked on test, on its temperature-scaled P(class 1)
    (mlcraft.review): results/risk_coverage.csv, review_band.csv and risk_coverage.png."""
    from mlcraft.review import review_band_analysis

    temperature, threshold = decision
    val_prob = softmax_with_temperature(rung.val_logits, temperature)
    items = "reviews" if cfg.data.path is None else "texts"
    return review_band_analysis(
        data.splits["val"]["label"].to_numpy(), val_prob[:, 1],
        data.splits["test"]["label"].to_numpy(), test_prob[:, 1], threshold,
        cfg.analysis.review_max_error, cfg.analysis.n_boot, results,
        f"{rung.name}'s P(class '{data.classes[1]}')", items,
    )  # fmt: skip


def robustness_check(clean: np.ndarray, from_test: np.ndarray, y: np.ndarray) -> dict:
    """The robustness sample's clean predictions against the test split's predictions for the
    same rows: their accuracy there and the share of rows on which the two agree (1 when the
    robustness path scores exactly as the ladder does)."""
    return {
        "test_split_accuracy_same_rows": float(np.mean(from_test == y)),
        "agreement_with_test_split": float(np.mean(clean == from_test)),
    }


def run_analyses(
    cfg, data, rungs, probs, decisions, tokenizer, results, extra, model, initial, ids, pad, max_len
) -> dict:
    test, val = data.splits["test"], data.splits["val"]
    y_test, y_val = test["label"].to_numpy(), val["label"].to_numpy()
    headline: dict = {}

    # Calibration: ECE before/after temperature, fitted on val, measured on test. One bin count
    # (analysis.calibration_bins) for the table, the reliability table and the figure. Two
    # classes: P(class 1); more: the top label's probability.
    bins = cfg.analysis.calibration_bins
    cal_rows, curves, rel_probs = [], {}, {}
    for name in ("finetune", "tfidf"):
        if name not in rungs:
            continue
        row, p = analysis.calibration(
            name, rungs[name].val_logits, y_val, rungs[name].test_logits, y_test, bins,
            cfg.analysis.n_boot, cfg.seed,
        )  # fmt: skip
        cal_rows.append(row)
        for tag, key in ((f"{name} raw", "before"), (f"{name} + temperature", "after")):
            curves[tag] = (y_test, analysis.calibrated_scores(p[key]))
            rel_probs[tag] = p[key]
        if data.n_classes == 2:
            band = analysis.what_a_shown_probability_means(y_test, p["after"])
            extra.setdefault("shown_probability", {})[name] = band
    if cal_rows:
        write_table(results, "calibration", pd.DataFrame(cal_rows), digits=4)
        main = cal_rows[0]
        headline["ece_before_temperature"] = main["ece_before"]
        headline["ece_after_temperature"] = main["ece_after"]
        headline["ece_after_temperature_lo"] = main["ece_after_lo"]
        headline["ece_after_temperature_hi"] = main["ece_after_hi"]
        headline["ece_model"] = main["model"]
    if curves:
        what = "P(class 1)" if data.n_classes == 2 else "top-label confidence"
        reliability_diagram(
            curves, results / "reliability.png", n_bins=bins,
            title=f"Test reliability, {what}, {bins} bins (T fit on val)",
        )  # fmt: skip
        write_table(results, "reliability", analysis.reliability_frame(y_test, rel_probs, bins))

    best = "finetune" if "finetune" in probs else ("tfidf" if "tfidf" in probs else None)
    if best is not None:
        _, threshold = decisions[best]
        reviews = cfg.data.path is None  # class 1 = recommended, star ratings known
        errors = analysis.confident_errors(
            test, probs[best], threshold, data.classes, cfg.analysis.errors_top_k, reviews
        )
        errors.insert(0, "model", best)
        if len(errors):  # a model without a single test error has no error table
            write_table(results, "errors", errors)
            kinds = errors["kind"].value_counts().rename_axis("kind").reset_index(name="count")
            write_table(results, "error_kinds", kinds)
        if data.n_classes == 2:  # the same calibrated probabilities and threshold as above
            extra["review_band"] = review_band(cfg, data, rungs[best], decisions[best], probs[best],
                                               results)  # fmt: skip
        slice_frames = []
        for name in ("finetune", "tfidf"):
            if name in probs:
                frame = analysis.slices(
                    test, probs[name], decisions[name][1], data.classes,
                    min(cfg.analysis.n_boot, 500), cfg.seed, reviews,
                )  # fmt: skip
                frame.insert(0, "model", name)
                slice_frames.append(frame)
        write_table(results, "slices", pd.concat(slice_frames, ignore_index=True))

    contradictions = analysis.rating_contradictions(data.frame)
    if contradictions:
        extra["rating_contradictions"] = contradictions
        headline["label_rating_contradiction_rate"] = contradictions["contradiction_rate"]

    # Robustness: same subsample, each perturbation, both models side by side.
    rob_rows = []
    sub = stratified_subsample(test, cfg.analysis.perturb_examples, cfg.seed)
    texts = sub["text"].tolist()
    y_sub = sub["label"].to_numpy()
    sample = {"rows": len(sub), "of_test_rows": len(test),
              "selection": "label-stratified random", "seed": cfg.seed}  # fmt: skip
    extra["robustness_sample"] = sample
    # The same rows in the test split: their test-split predictions, to tell a harder draw from a
    # code path that scores the sample differently (robustness_check).
    at = pd.Index(test["row_id"]).get_indexer(sub["row_id"])
    perturbed = robustness.perturb_all(texts, cfg.seed)
    for name in ("tfidf", "finetune"):
        if name not in rungs:
            continue
        temperature, threshold = decisions[name]
        base = decide(
            softmax_with_temperature(rungs[name].predict_fn(texts), temperature), threshold
        )
        rob_rows.append(
            {"model": name, "perturbation": "none", "changed_texts": 0.0,
             "accuracy": float(np.mean(base == y_sub)), "flip_rate": 0.0}
        )  # fmt: skip
        sample[name] = robustness_check(base, decide(probs[name], threshold)[at], y_sub)
        for pert, new_texts in perturbed.items():
            pred = decide(
                softmax_with_temperature(rungs[name].predict_fn(new_texts), temperature), threshold
            )
            rob_rows.append(
                {
                    "model": name,
                    "perturbation": pert,
                    "changed_texts": robustness.changed_fraction(texts, new_texts),
                    "accuracy": float(np.mean(pred == y_sub)),
                    "flip_rate": float(np.mean(pred != base)),
                }
            )
    if rob_rows:
        rob = pd.DataFrame(rob_rows)
        wide = rob.pivot(index="perturbation", columns="model", values=["accuracy", "flip_rate"])
        wide.columns = [f"{metric}_{model}" for metric, model in wide.columns]
        wide = wide.reset_index()
        changed = rob.groupby("perturbation")["changed_texts"].first()
        wide.insert(1, "changed_texts", wide["perturbation"].map(changed))
        order = ["none", *robustness.PERTURBATIONS]
        wide = wide.set_index("perturbation").loc[order].reset_index()
        write_table(results, "robustness", wide)
        main = "finetune" if "finetune" in rungs else "tfidf"
        worst = rob[(rob["model"] == main) & (rob["perturbation"] != "none")]
        worst = worst.sort_values("flip_rate", ascending=False).iloc[0]
        headline["worst_perturbation"] = worst["perturbation"]
        headline["worst_perturbation_flip_rate"] = float(worst["flip_rate"])
        headline["worst_perturbation_model"] = main
    splits = [
        {"perturbation": name, "text": text, "tokens": " ".join(tokenizer.tokenize(text))}
        for name, text in robustness.SPLIT_EXAMPLES
    ]
    write_table(results, "tokenizer_splits", pd.DataFrame(splits))

    # Length bucketing vs fixed max-length padding: one training pass each, same start weights.
    if model is not None and initial is not None:
        n = min(cfg.analysis.bucket_benchmark_examples, len(ids["train"]))
        bench_ids, bench_y = ids["train"][:n], data.splits["train"]["label"].to_numpy()[:n]
        bs = cfg.finetune.batch_size
        out = {"examples": n, "batch_size": bs, "max_length": max_len}
        model = copy.deepcopy(model)  # never touch the fine-tuned weights
        model.load_state_dict(initial)
        time_one_pass(
            model, bench_ids[: bs * 2], bench_y[: bs * 2], pad, bs, cfg.seed, True
        )  # warm-up
        batch_seconds = {}
        for label, bucket, fixed in (("fixed_padding", False, max_len), ("bucketed", True, None)):
            model.load_state_dict(initial)
            batch_seconds[label] = time_one_pass(
                model, bench_ids, bench_y, pad, bs, cfg.seed, bucket, fixed
            )
            out[f"{label}_seconds"] = float(sum(batch_seconds[label]))
        ratio = speedup_ci(
            batch_seconds["fixed_padding"], batch_seconds["bucketed"], cfg.analysis.n_boot, cfg.seed
        )
        out["speedup"], out["speedup_lo"], out["speedup_hi"] = (
            ratio["speedup"],
            ratio["lo"],
            ratio["hi"],
        )
        n_train = len(data.splits["train"])
        out["projected_epoch_seconds_fixed"] = out["fixed_padding_seconds"] / n * n_train
        out["projected_epoch_seconds_bucketed"] = out["bucketed_seconds"] / n * n_train
        extra["bucketing"] = out
        headline["bucketing_speedup"] = out["speedup"]
        headline["bucketing_speedup_lo"] = out["speedup_lo"]
        headline["bucketing_speedup_hi"] = out["speedup_hi"]
        print(f"bucketing: {out}")
    return headline
