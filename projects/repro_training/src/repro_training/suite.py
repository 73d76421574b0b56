"""`train`: the configured runs plus every reproducibility check, written into one run folder.

The reference config (configs/default.yaml) turns every check on; the smoke config only trains.

<run folder>/                 (mlcraft.runs: <run-id>.partial while it runs, renamed when complete)
  results/                    summary.json, tables (CSV + markdown), headline.png, curves.png,
                              profile top ops, faults.csv when `faults: true`: what `publish`
                              copies to results/
  model/                      the first seed's config.yaml, manifest.json, weights.pt, metrics.json
  runs/<name>/                every single run of the suite (seed0, check-a, ddp, smoke, ...)
  profile/                    the torch.profiler Chrome trace
  config.yaml, run.json, REPORT.md
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from mlcraft.elpv import published_band
from mlcraft.files import atomic_write_text, sha256_file
from mlcraft.plots import plt, save_figure
from mlcraft.reporting import slice_table, write_table
from mlcraft.seeding import CUBLAS_WORKSPACE
from mlcraft.tracking import TrackedRun

from repro_training import checkpoint as ckpt
from repro_training import data as data_mod
from repro_training.config import Config, to_dict
from repro_training.figures import draw_headline
from repro_training.metrics import (
    accuracy,
    ddp_comparison,
    scored_metrics,
    seed_ci,
    seed_columns,
)
from repro_training.numpy_mlp import gradient_check, train_digits
from repro_training.train import PROJECT, RunResult, fit, recorded_history, write_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODEL_FILES = ("config.yaml", "manifest.json", "weights.pt", "metrics.json")


def project_dir() -> Path:
    """The project folder (configs/, results/, README.md): the source tree, or the current folder
    when the package is installed non-editable (the container runs from a folder with configs/)."""
    return PROJECT_DIR if (PROJECT_DIR / "configs").is_dir() else Path.cwd()


def _variant(cfg: Config, **changes) -> Config:
    raw = to_dict(cfg)
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return Config.model_validate(raw)


def _max_abs_diff(run_a: Path, run_b: Path) -> float:
    a, b = ckpt.load(run_a / "weights.pt"), ckpt.load(run_b / "weights.pt")
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel())


def _identical(a: RunResult, b: RunResult) -> bool:
    """Same weights (canonical tensor digest), same weight file bytes and same metric history."""
    same_file = sha256_file(a.run_dir / "weights.pt") == sha256_file(b.run_dir / "weights.pt")
    same_hist = recorded_history(a.history) == recorded_history(b.history)
    return a.weights_sha256 == b.weights_sha256 and same_file and same_hist


def kill_and_resume(cfg: Config, seed: int, run_dir: Path, timeout: float = 300) -> dict:
    """Start a real training process, SIGKILL it after its first mid-epoch checkpoint, resume it.

    Returns where it was killed and the resumed run's digests.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "launch.yaml"
    write_config(cfg, config_path)
    cmd = [sys.executable, "-m", "repro_training", "run", "--config", str(config_path),
           "--seed", str(seed), "--run-dir", str(run_dir)]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last = run_dir / "checkpoints" / "last.pt"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        seen = None
        while True:  # wait for a MID-epoch checkpoint (epoch-end ones are the easy case)
            if proc.poll() is not None:
                raise RuntimeError(f"training exited ({proc.returncode}) before a checkpoint")
            if time.time() > deadline:
                raise RuntimeError("no mid-epoch checkpoint before the timeout")
            stamp = last.stat().st_mtime_ns if last.is_file() else None
            if stamp is not None and stamp != seen:
                seen = stamp
                if ckpt.load(last)["sampler"]["step"] > 0:  # atomic writes: always complete
                    break
            time.sleep(0.02)
        time.sleep(cfg.train.step_sleep_s * 1.5)  # let it run on past the checkpoint, then kill
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    state = ckpt.load(last)
    killed = {"returncode": proc.returncode, "checkpoint_global_step": state["global_step"],
              "checkpoint_epoch": state["sampler"]["epoch"],
              "checkpoint_step_in_epoch": state["sampler"]["step"],
              "finished_before_kill": (run_dir / "weights.pt").is_file()}  # fmt: skip
    subprocess.run([*cmd, "--resume"], env=env, check=True, capture_output=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {**killed, "weights_sha256": metrics["weights_sha256"],
            "final_state_sha256": metrics["final_state_sha256"],
            "test_accuracy": metrics["test_accuracy"], "history": metrics["history"]}  # fmt: skip


def _fresh_process_run(cfg: Config, seed: int, run_dir: Path) -> dict:
    """One `run` in a new process. CUBLAS_WORKSPACE_CONFIG is set in its environment for a
    deterministic run and removed for a default one, so it holds from before CUDA starts."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "launch.yaml"
    write_config(cfg, config_path)
    cmd = [sys.executable, "-m", "repro_training", "run", "--config", str(config_path),
           "--seed", str(seed), "--run-dir", str(run_dir)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    if cfg.train.deterministic:
        env["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"weights_sha256": metrics["weights_sha256"],
            "train_seconds": sum(h["epoch_seconds"] for h in metrics["history"])}  # fmt: skip


def determinism_modes(cfg: Config, seed: int, root: Path) -> tuple[list[dict], float]:
    """Default and deterministic kernels (torch.use_deterministic_algorithms), each run twice,
    interleaved so that a busy spell on the machine hits both modes. Returns one row per mode
    and the deterministic/default ratio of mean training seconds (the cost of determinism)."""
    modes = {"default": False, "deterministic": True}
    runs: dict[str, list[dict]] = {name: [] for name in modes}
    for attempt in ("a", "b"):
        for name, flag in modes.items():
            variant = _variant(cfg, train__deterministic=flag)
            runs[name].append(_fresh_process_run(variant, seed, root / f"mode-{name}-{attempt}"))
    rows = [{"mode": name, "train_seconds_a": a["train_seconds"],
             "train_seconds_b": b["train_seconds"],
             "weights_identical": a["weights_sha256"] == b["weights_sha256"]}
            for name, (a, b) in runs.items()]  # fmt: skip
    mean = {row["mode"]: (row["train_seconds_a"] + row["train_seconds_b"]) / 2 for row in rows}
    return rows, mean["deterministic"] / mean["default"]


def resume_variants(cfg: Config, seed: int, root: Path, reference: RunResult, stop: int) -> list:
    """Stop at `stop`, resume with one piece of state NOT restored: which ones change the result?"""
    ref_state = json.loads((reference.run_dir / "metrics.json").read_text())["final_state_sha256"]
    rows = []
    for skipped in ("none", *ckpt.STATE_KEYS):
        run_dir = root / f"resume-skip-{skipped}"
        fit(cfg, seed, run_dir, stop_after_step=stop)
        skip = frozenset() if skipped == "none" else frozenset({skipped})
        result = fit(cfg, seed, run_dir, resume=True, skip_restore=skip)
        state = json.loads((run_dir / "metrics.json").read_text())["final_state_sha256"]
        rows.append({
            "state_not_restored": skipped,
            "weights_identical": result.weights_sha256 == reference.weights_sha256,
            "history_identical":
                recorded_history(result.history) == recorded_history(reference.history),
            "full_state_identical": state == ref_state,
            "test_accuracy": result.test_accuracy,
        })  # fmt: skip
    return rows


def _write_table(out: Path, name: str, rows, digits: int = 4) -> pd.DataFrame:
    return write_table(out, name, pd.DataFrame(rows), digits=digits)


def _curves_plot(results: list[RunResult], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for r in results:
        epochs = [row["epoch"] + 1 for row in r.history]
        ax.plot(epochs, [row["test_accuracy"] for row in r.history], label=f"seed {r.seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def run_suite(cfg: Config, run, split: data_mod.Split | None = None) -> dict:
    """Everything `train` does, written only into `run` (an mlcraft.runs.Run)."""
    out = run.results
    out.mkdir(parents=True, exist_ok=True)
    children = run.path / "runs"  # every single run of the suite, each in its own folder
    checks = cfg.checks
    headline: dict = {}
    extra: dict = {}
    split = split or data_mod.load(cfg.data)
    digits_cfg = _variant(cfg, data__name="digits", model__stem_stride=1)
    write_config(cfg, run.path / "config.yaml")
    with TrackedRun(PROJECT, to_dict(cfg), cfg.seeds[0], run_folder=run) as tracker:
        for name, info in split.files.items():
            tracker.data_files[name] = info  # hashes come pinned from the carriers
        ladder = []
        majority = int(np.bincount(split.y_train).argmax())
        headline["majority_baseline_accuracy"] = float(np.mean(split.y_test == majority))
        ladder.append({"data": cfg.data.name, "model": "majority class (train)", "seeds": 1,
                       "test_accuracy": headline["majority_baseline_accuracy"],
                       "ci95_lo": float("nan"), "ci95_hi": float("nan")})  # fmt: skip

        # 1. The from-scratch rung.
        if checks.numpy_mlp:
            digits = data_mod.load(digits_cfg.data)
            m = cfg.numpy_mlp
            check = gradient_check()
            t0 = time.time()
            _, acc, curve = train_digits(digits, m.hidden, m.epochs, m.lr, m.momentum,
                                         m.batch_size, m.weight_decay, seed=cfg.seeds[0])  # fmt: skip
            headline["numpy_mlp_test_accuracy"] = acc
            headline["numpy_mlp_max_abs_grad_diff"] = check["max_abs_grad_diff"]
            extra["numpy_mlp"] = {**check, "train_seconds": time.time() - t0, "loss_curve": curve}
            ladder.append({"data": "digits", "model": "NumPy MLP (from scratch)", "seeds": 1,
                           "test_accuracy": acc, "ci95_lo": float("nan"),
                           "ci95_hi": float("nan")})  # fmt: skip

        if checks.digits_cnn and cfg.data.name != "digits":
            r = fit(digits_cfg, cfg.seeds[0], children / "digits-cnn", tracker=tracker)
            ladder.append({"data": "digits", "model": "ResNet (Fabric)", "seeds": 1,
                           "test_accuracy": r.test_accuracy, "ci95_lo": float("nan"),
                           "ci95_hi": float("nan")})  # fmt: skip

        # 2. The main model over seeds.
        single_started = time.perf_counter()
        results = [fit(cfg, s, children / f"seed{s}", tracker=tracker) for s in cfg.seeds]
        single_fit_seconds = (time.perf_counter() - single_started) / len(cfg.seeds)
        accs = [r.test_accuracy for r in results]
        mean, lo, hi = seed_ci(accs)
        headline.update(test_accuracy=mean, test_accuracy_ci95=[lo, hi])
        ladder.append({"data": cfg.data.name, "model": "ResNet (Fabric)", "seeds": len(accs),
                       "test_accuracy": mean, "ci95_lo": lo, "ci95_hi": hi})  # fmt: skip
        preds = {r.seed: np.load(r.run_dir / "test_probs.npy").argmax(1) for r in results}
        per_seed = seed_columns(split.y_test, preds, list(split.classes))
        seed_rows = [{"seed": r.seed, "test_accuracy": r.test_accuracy, **per_seed[r.seed],
                      "weights_sha256": r.weights_sha256[:16], "steps": r.global_step,
                      "train_seconds": sum(h["epoch_seconds"] for h in r.history)}
                     for r in results]  # fmt: skip
        _write_table(out, "seeds", seed_rows)
        first = results[0]
        run.model.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:  # what evaluate and predict --model read
            shutil.copy2(first.run_dir / name, run.model / name)
        headline["smoke_epoch_seconds"] = None
        probs = np.load(first.run_dir / "test_probs.npy")
        pred = probs.argmax(1)
        # The first seed's model (the one in model/) on the test images, with bootstrap CIs.
        scored = scored_metrics(split.y_test, pred, list(split.classes))
        extra["minority_class"] = scored.pop("minority_class")
        headline.update({f"seed0_{k}" if k.startswith("accuracy") else k: v
                         for k, v in scored.items()})  # fmt: skip
        extra["confusion_seed0"] = pd.crosstab(split.y_test, pred).values.tolist()
        _curves_plot(results, out / "curves.png", f"ResNet on {cfg.data.name}")
        band = published_band() if cfg.data.name == "elpv" else None
        draw_headline(headline, extra["minority_class"], cfg.data.name, band, out / "headline.png")
        if band is not None:  # the report redraws the figure and its caption from this record
            extra["hero_reference"] = band
        if split.test_groups is not None:
            frame = pd.DataFrame({"cell_type": split.test_groups, "y": split.y_test, "pred": pred})
            table = slice_table(frame, "cell_type", "y", "pred", {"accuracy": accuracy},
                                n_boot=500, seed=0)  # fmt: skip
            _write_table(out, "slices", table.drop(columns=["slice"]))

        check_cfg = _variant(cfg, train__epochs=checks.check_epochs, tracking=False)
        seed = cfg.seeds[0]
        ref = None
        # 3. Bitwise determinism, and what the thread count changes.
        if checks.determinism or checks.resume or checks.threads:
            ref = fit(check_cfg, seed, children / "check-a")
        det_rows = []
        if checks.determinism:
            again = fit(check_cfg, seed, children / "check-b")
            headline["bitwise_identical"] = _identical(ref, again)
            det_rows.append({"comparison": "same seed, same threads, run twice",
                             "threads": f"{ref.threads} vs {again.threads}",
                             "weights_identical": headline["bitwise_identical"],
                             "max_abs_weight_diff": _max_abs_diff(ref.run_dir, again.run_dir),
                             "test_accuracy_a": ref.test_accuracy,
                             "test_accuracy_b": again.test_accuracy})  # fmt: skip
        if checks.threads:
            other = 1 if ref.threads != 1 else 2
            alt = fit(_variant(check_cfg, train__threads=other), seed, children / "check-threads")
            det_rows.append({"comparison": "same seed, different torch threads",
                             "threads": f"{ref.threads} vs {alt.threads}",
                             "weights_identical": alt.weights_sha256 == ref.weights_sha256,
                             "max_abs_weight_diff": _max_abs_diff(ref.run_dir, alt.run_dir),
                             "test_accuracy_a": ref.test_accuracy,
                             "test_accuracy_b": alt.test_accuracy})  # fmt: skip
            headline["threads_bitwise_identical"] = alt.weights_sha256 == ref.weights_sha256
        if det_rows:
            _write_table(out, "determinism", det_rows, digits=6)
        if checks.determinism_modes:
            rows, ratio = determinism_modes(check_cfg, seed, children)
            _write_table(out, "determinism_modes", rows, digits=3)
            headline["deterministic_time_ratio"] = ratio
            headline["default_mode_bitwise_identical"] = rows[0]["weights_identical"]

        # 4. Resume after a real SIGKILL, plus the "forgot one piece of state" variants.
        if checks.resume:
            kill_cfg = _variant(check_cfg, train__step_sleep_s=0.05)
            killed = kill_and_resume(kill_cfg, seed, children / "check-killed")
            ref_state = json.loads((ref.run_dir / "metrics.json").read_text())
            killed_history = killed.pop("history")
            # Whole: weights, the full final state (optimizer, scheduler, scaler, RNGs, history)
            # and the recorded per-epoch history, each equal to the uninterrupted run's.
            killed["weights_identical"] = killed["weights_sha256"] == ref.weights_sha256
            killed["final_state_identical"] = (
                killed["final_state_sha256"] == ref_state["final_state_sha256"]
            )
            killed["history_identical"] = recorded_history(killed_history) == recorded_history(
                ref.history
            )
            headline["resume_identical"] = bool(
                killed["weights_identical"]
                and killed["final_state_identical"]
                and killed["history_identical"]
            )
            extra["resume_kill"] = killed
            # The variants run on digits (seconds each): 8 resumes of the ELPV run would cost
            # minutes and prove the same thing. Stop in the middle of the second epoch.
            # The grad scaler is on here (as for fp16) so that its state exists to be forgotten.
            var_cfg = _variant(digits_cfg, train__epochs=max(2, checks.check_epochs),
                               train__grad_scaler=True, tracking=False)  # fmt: skip
            var_ref = fit(var_cfg, seed, children / "variants-reference")
            steps = len(data_mod.load(var_cfg.data).y_train) // var_cfg.train.batch_size
            stop = steps + steps // 2
            variants = resume_variants(var_cfg, seed, children, var_ref, stop=stop)
            _write_table(out, "resume_variants", variants)
            extra["resume_variants"] = {"data": "digits", "stop_step": stop,
                                        "steps_per_epoch": steps}  # fmt: skip

        # 5. Scale out: the same recipe on 2 processes (gloo).
        if checks.ddp:
            ddp_started = time.perf_counter()
            ddp = fit(_variant(cfg, train__devices=2), seed, children / "ddp", tracker=tracker)
            ddp_fit_seconds = time.perf_counter() - ddp_started
            headline["ddp_test_accuracy"] = ddp.test_accuracy
            ddp_pred = np.load(ddp.run_dir / "test_probs.npy").argmax(1)
            headline.update(ddp_comparison(split.y_test, ddp_pred, pred))
            ladder.append({"data": cfg.data.name, "model": "ResNet, DDP 2 processes (gloo)",
                           "seeds": 1, "test_accuracy": ddp.test_accuracy,
                           "ci95_lo": float("nan"), "ci95_hi": float("nan")})  # fmt: skip
            extra["ddp"] = {"devices": 2, "global_batch": cfg.train.batch_size,
                            "per_device_batch": cfg.train.batch_size // 2,
                            "train_seconds": sum(h["epoch_seconds"] for h in ddp.history),
                            "single_process_seed0_train_seconds": seed_rows[0]["train_seconds"],
                            # per epoch: the report's CI of the time ratio (one sum is no verdict)
                            "epoch_seconds": [h["epoch_seconds"] for h in ddp.history],
                            "single_process_epoch_seconds":
                                [h["epoch_seconds"] for h in first.history],
                            # Whole fit() calls: start-up (process spawn for DDP), data loading,
                            # training and the per-epoch test evaluation.
                            "fit_seconds": ddp_fit_seconds,
                            "single_process_fit_seconds": single_fit_seconds,
                            "epochs": cfg.train.epochs, "steps": ddp.global_step,
                            "single_process_steps": first.global_step,
                            "threads_per_rank": ddp.threads,
                            "single_process_threads": first.threads,
                            "weights_identical_to_single_process":
                                ddp.weights_sha256 == first.weights_sha256}  # fmt: skip
        _write_table(out, "ladder", ladder)

        # 6. Hardware literacy.
        if checks.hardware:
            from repro_training.hardware import hardware_table

            cells, steps = hardware_table(cfg, steps=20)
            _write_table(out, "hardware", cells, digits=1)
            _write_table(out, "hardware_steps", steps, digits=3)
        if checks.profile:
            from repro_training.hardware import profile_training

            prof_dir = run.path / "profile"
            prof = profile_training(cfg, prof_dir)
            for name in ("top_ops.csv", "top_ops.txt"):
                atomic_write_text(out / f"profile_{name}", (prof_dir / name).read_text())
            trace = prof_dir / "trace.json"  # its traceName names the staging folder
            if trace.is_file():
                text = trace.read_text().replace(f"{run.path}/", "")
                atomic_write_text(trace, text)
            # Relative to the run folder: the staging folder is renamed when the run completes.
            extra["profile"] = {**prof, "trace": "profile/trace.json"}
            headline["data_wait_fraction"] = prof["data_wait_fraction"]

        # 7. CI smoke: the smoke config end to end in a fresh process, as its own run folder.
        if checks.smoke:
            t0 = time.time()
            smoke = project_dir() / "configs" / "smoke.yaml"
            subprocess.run([sys.executable, "-m", "repro_training", "train", "--config",
                            str(smoke), "--run-dir", str(children / "smoke")],
                           check=True, capture_output=True)  # fmt: skip
            headline["smoke_epoch_seconds"] = time.time() - t0
        else:
            headline["smoke_epoch_seconds"] = first.history[0]["epoch_seconds"]

        # 8. Fault drills: the real CLI under each fault (faults.py), in a scratch folder.
        # Outside the run's wall time (TrackedRun.untimed): drills are checks, not training.
        if cfg.faults:
            from mlcraft.faults import run_drills

            from repro_training.faults import FAULTS

            faults_started = time.perf_counter()
            with tracker.untimed(), tempfile.TemporaryDirectory(prefix="repro-faults-") as scratch:
                frame = run_drills(PROJECT, project_dir(), FAULTS, Path(scratch))
            extra["faults_seconds"] = time.perf_counter() - faults_started
            write_table(out, "faults", frame)
        extra["seeds_test_accuracy"] = accs
        extra["threads"] = torch.get_num_threads()
        return tracker.write_summary(headline, extra)
