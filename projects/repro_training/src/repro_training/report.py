"""The README's generated blocks, rendered from a results folder (never typed by hand).

`blocks(results)` serves both `python -m repro_training report` (README from the published
results/) and each train run's REPORT.md. A run with some checks off lacks their tables: those
blocks are left out, not filled with a placeholder; a table or key that the run should have
written and did not is still an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft import gputests
from mlcraft.bench import published_block as bench_block
from mlcraft.elpv import published_caption
from mlcraft.reporting import format_value, markdown_table
from mlcraft.stats import verdict

from repro_training.figures import CHANCE_BALANCED_ACCURACY, draw_headline, placement
from repro_training.metrics import DDP_TOLERANCE, seed_ci
from repro_training.timing import compared, one_timing

# The model card's metrics: the model's scores (its CIs beside them, when the run has them).
# Other models' scores are in the ladder, reproducibility checks and timings in their own
# blocks; summary.json's headline has all.
METRIC_KEYS = [
    "test_accuracy", "seed0_accuracy", "balanced_accuracy", "minority_recall",
    "majority_baseline_accuracy", "ddp_minus_single_accuracy",
]  # fmt: skip
VERDICT_REASONS = {
    "met": "the whole CI clears the target",
    "missed": "the whole CI falls short of the target",
    "inconclusive": "the CI spans the target",
}
FAULT_COLUMNS = ["fault", "exit_code", "message", "files_left", "results_unchanged"]


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, 3) for v in value) + "]"
    return format_value(value, 3)


def _ci(values) -> str:
    lo, hi = values
    return f"[{format_value(lo, 3)}, {format_value(hi, 3)}]"


def judged(label: str, value: float, ci, target: float, target_text: str,
           higher_is_better: bool = True) -> str:  # fmt: skip
    """'<label> 0.791 [0.760, 0.820] vs target >= 0.688 (<target_text>): met (why)', the verdict
    from mlcraft.stats.verdict on the CI."""
    result = verdict(ci[0], ci[1], target, higher_is_better)
    sign = ">=" if higher_is_better else "<="
    return (
        f"{label} {format_value(value, 3)} {_ci(ci)} vs target {sign} {format_value(target, 3)} "
        f"({target_text}): **{result}** ({VERDICT_REASONS[result]})"
    )


def _table(results: Path, name: str, digits: int = 3) -> str | None:
    """The table as markdown, or None when this run did not write it (a check that was off)."""
    path = results / f"{name}.csv"
    if not path.is_file():
        return None
    return markdown_table(pd.read_csv(path), digits=digits)


def _seed_value(values) -> str:
    """Mean and Student-t 95% CI over seeds, or 'identical on all N seeds' where they agree to
    the digits shown (a zero-width interval is no interval)."""
    mean, lo, hi = seed_ci(values)
    if len(values) < 2:
        return f"{format_value(mean, 3)} (one seed)"
    if format_value(min(values), 3) == format_value(max(values), 3):
        return f"{format_value(mean, 3)} (identical on all {len(values)} seeds)"
    return f"{format_value(mean, 3)} {_ci([lo, hi])}"


def _seed_metrics(results: Path) -> dict[str, str]:
    """Every per-seed score of seeds.csv (accuracy, balanced accuracy, the minority class's
    recall) as '<mean> [<Student-t 95% CI>]' over seeds; empty without the table."""
    path = results / "seeds.csv"
    if not path.is_file():
        return {}
    seeds = pd.read_csv(path)
    columns = [c for c in seeds.columns if c in ("test_accuracy", "balanced_accuracy")
               or c.endswith("_recall")]  # fmt: skip
    return {c: _seed_value(seeds[c].tolist()) for c in columns}


def _metric_rows(h: dict, results: Path) -> list[dict]:
    """One row per metric, its 95% CI beside it ('0.791 [0.760, 0.820]'); the seeds' spread of
    every per-seed score from seeds.csv ('seeds_' rows, Student-t over seeds)."""
    over_seeds = _seed_metrics(results)
    rows = []
    for key in METRIC_KEYS:
        if key not in h:
            continue
        if key == "test_accuracy" and key in over_seeds:
            rows.append({"metric": key, "value": over_seeds[key]})
            rows += [{"metric": f"seeds_{name}", "value": value}
                     for name, value in over_seeds.items() if name != key]  # fmt: skip
            continue
        value = _fmt(h[key])
        if f"{key}_ci95" in h:
            value += f" {_ci(h[f'{key}_ci95'])}"
        rows.append({"metric": key, "value": value})
    return rows


def blocks(results: Path) -> dict[str, str]:
    results = Path(results)
    s = json.loads((results / "summary.json").read_text())
    h = s["headline"]
    hw = s["hardware"]
    out = {
        "summary": _summary(s, results),
        "metrics": markdown_table(_metric_rows(h, results)),
        "reproduce": (
            f"Run: {hw['cpu_count']} CPU cores ({hw['cpu_model']}), torch {s['packages'].get('torch')}, git "
            f"`{(s['git_sha'] or 'unknown')[:10]}`{' (dirty)' if s['git_dirty'] else ''}, "
            f"uv.lock sha256 `{(s['uv_lock_sha256'] or '')[:12]}`, started {s['started_utc']}."
            + _reproduce_text(s, results)
        ),
    }
    if (results / "evaluation.csv").is_file():  # an evaluate run: one model scored, no ladder
        return out
    ladder = _table(results, "ladder")
    if ladder is None:
        raise FileNotFoundError(f"{results / 'ladder.csv'}: every train run writes the ladder")
    mlp = s.get("numpy_mlp")
    if mlp:
        ladder += (
            f"\n\nGradient check against torch autograd (float64): max |difference| "
            f"{mlp['max_abs_grad_diff']:.1e}, loss difference {mlp['loss_diff']:.1e}."
        )
    out["ladder"] = ladder
    for name in ("seeds", "slices"):
        table = _table(results, name)
        if table is not None:
            out[name] = table
    if (results / "hardware.csv").is_file():
        out["hardware"] = _constant_columns_apart(pd.read_csv(results / "hardware.csv"), digits=1)
        cost = _determinism_cost(results)
        out["hardware"] += f"\n\n{cost}" if cost else ""
    if "slices" in out:
        note = _slices_text(pd.read_csv(results / "slices.csv"))
        out["slices"] += f"\n\n{note}" if note else ""
    determinism = _determinism(s, results)
    if determinism:
        out["determinism"] = determinism
    resume = _resume(s, results)
    if resume:
        out["resume"] = resume
    ddp = s.get("ddp")
    if ddp:
        out["ddp"] = markdown_table([
            {"run": "single process, seed 0", "devices": 1, "global_batch": ddp["global_batch"],
             "per_device_batch": ddp["global_batch"],
             "test_accuracy": s["seeds_test_accuracy"][0],
             "train_seconds": ddp["single_process_seed0_train_seconds"]},
            {"run": "DDP (gloo), seed 0", "devices": ddp["devices"],
             "global_batch": ddp["global_batch"], "per_device_batch": ddp["per_device_batch"],
             "test_accuracy": h["ddp_test_accuracy"], "train_seconds": ddp["train_seconds"]},
        ]) + "\n\n" + _ddp_text(s)  # fmt: skip
    prof = s.get("profile")
    if prof:
        ops = pd.read_csv(results / "profile_top_ops.csv").head(5)
        took = f" took {format_value(prof['step_seconds'], 2)} s" if "step_seconds" in prof else ""
        out["profile"] = (
            f"{prof['steps']} training steps{took}: data wait "
            f"{format_value(prof['data_seconds'], 2)} s, "
            f"compute {format_value(prof['compute_seconds'], 2)} s, data-wait fraction "
            f"{format_value(prof['data_wait_fraction'], 3)} -> bottleneck: **{prof['bottleneck']}**"
            f" ({format_value(prof['samples_per_s'], 0)} samples/s).\n\n"
            + markdown_table(ops, digits=1)
        )
    if (results / "faults.csv").is_file():
        faults = pd.read_csv(results / "faults.csv")
        out["faults"] = markdown_table(faults[FAULT_COLUMNS])
    bench = bench_block(results)  # published from a bench run; no throughput target here
    if bench:
        out["bench"] = bench
    for name, block in (("budgets", _budgets(results)), ("gpu", _gpu(results))):
        if block:
            out[name] = block
    return out


def _constant_columns_apart(table: pd.DataFrame, digits: int) -> str:
    """The table without its constant columns, which become one line under it."""
    if len(table) < 2:
        return markdown_table(table, digits=digits)
    constant = [c for c in table.columns if table[c].nunique(dropna=False) == 1]
    text = markdown_table(table.drop(columns=constant), digits=digits)
    if constant:
        text += (
            "\n\nEvery row: "
            + ", ".join(f"{c} {format_value(table[c].iloc[0], digits)}" for c in constant)
            + "."
        )
    return text


def _reproduce_text(s: dict, results: Path) -> str:
    """What repeats bitwise, what does not, and what "within noise" means, each from what the run
    (and results/gpu/, when published) measured; what was not measured says so."""
    lines = [line for line in (_bitwise_line(s, results), _not_bitwise_line(s, results))
             if line]  # fmt: skip
    spread = _spread_text(results)
    if spread:
        lines.append(f"- **Within noise**: {spread}")
    gpu = _gpu_against_cpu(s, results)
    if gpu:
        lines.append(f"- **GPU vs CPU**: {gpu}")
    return "\n\n" + "\n".join(lines) if lines else ""


def _gpu_summary(results: Path) -> dict | None:
    path = results / "gpu" / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _modes(results: Path) -> dict[str, bool]:
    """determinism_modes.csv: mode -> weights identical when trained twice."""
    path = results / "determinism_modes.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path)
    return dict(zip(table["mode"], table["weights_identical"].astype(bool), strict=True))


def _device(s: dict) -> str:
    gpu = s["hardware"].get("gpu")
    return f"1 x {gpu['model']}" if gpu else f"{s['hardware']['cpu_count']} CPU cores"


def _bitwise_line(s: dict, results: Path) -> str:
    h, parts = s["headline"], []
    table = results / "determinism.csv"
    if "bitwise_identical" in h and table.is_file():
        same = pd.read_csv(table).iloc[0]["threads"].split(" vs ")[0]
        parts.append(f"same seed twice, this CPU model, {same} torch threads "
                     f"**{_fmt(h['bitwise_identical'])}**")  # fmt: skip
    if "resume_identical" in h:
        parts.append(f"SIGKILL and resume **{_fmt(h['resume_identical'])}**")
    gpu = _gpu_summary(results)
    if gpu and _modes(results / "gpu").get("deterministic") is not None:
        parts.append(f"{_device(gpu)}, deterministic kernels, twice "
                     f"**{_fmt(_modes(results / 'gpu')['deterministic'])}**")  # fmt: skip
    return ("- **Bitwise** (same torch build, `uv.lock`): " + "; ".join(parts) + "."
            if parts else "")  # fmt: skip


def _not_bitwise_line(s: dict, results: Path) -> str:
    """Each comparison the runs measured whose weights differ, then what no run measured."""
    parts = []
    table = results / "determinism.csv"
    if table.is_file():
        for row in pd.read_csv(table).itertuples():
            if "different torch threads" in row.comparison and not row.weights_identical:
                parts.append(f"{row.threads} torch threads")
    ddp = s.get("ddp", {})
    if ddp.get("weights_identical_to_single_process") is False:
        parts.append("DDP vs one process")
    gpu = _gpu_summary(results)
    if gpu and _modes(results / "gpu").get("default") is False:
        parts.append(f"{_device(gpu)}, default kernels, twice")
    if gpu and _gpu_digest_differs(results) is True:
        parts.append(f"{_device(gpu)} vs this CPU (seed 0, same recipe)")
    line = "- **Not bitwise**: " + "; ".join(parts) + "." if parts else ""
    return line + " Another CPU model: not measured."


def _same_recipe(a: dict, b: dict) -> bool:
    """Same data, model and training settings, the device (and what it picks) aside."""

    def recipe(s: dict) -> dict:
        cfg = s["config"]
        train = {k: v for k, v in cfg["train"].items() if k not in ("accelerator", "threads")}
        return {"data": cfg["data"], "model": cfg["model"], "train": train}

    return recipe(a) == recipe(b)


def _gpu_digest_differs(results: Path) -> bool | None:
    """Whether the GPU run's seed 0 weights differ from the CPU reference's (None: not comparable
    or not measured)."""
    gpu = _gpu_summary(results)
    paths = [results / "seeds.csv", results / "gpu" / "seeds.csv"]
    if gpu is None or not all(p.is_file() for p in paths):
        return None
    if not _same_recipe(json.loads((results / "summary.json").read_text()), gpu):
        return None
    tables = [pd.read_csv(p) for p in paths]
    if any("weights_sha256" not in table for table in tables):
        return None
    digests = [table.set_index("seed")["weights_sha256"].get(0) for table in tables]
    return None if None in digests else digests[0] != digests[1]


def _spread_text(results: Path) -> str:
    """The seed-to-seed spread that defines "within noise", when the run measured one."""
    if not (results / "seeds.csv").is_file():
        return ""
    seeds = pd.read_csv(results / "seeds.csv")
    if len(seeds) < 2:
        return "one training seed only: this run measures no seed-to-seed spread."
    scores = ", ".join(f"{name.replace('_', ' ')} {value}"
                       for name, value in _seed_metrics(results).items())  # fmt: skip
    text = (f"inside the seeds' spread ({len(seeds)} seeds, one split, Student-t 95% CIs: "
            f"{scores}) and the first seed's bootstrap CIs.")  # fmt: skip
    pairs = [seeds.loc[i, f"differs_from_seed_{seeds.loc[j, 'seed']}"]
             for i in range(len(seeds)) for j in range(i + 1, len(seeds))
             if f"differs_from_seed_{seeds.loc[j, 'seed']}" in seeds]  # fmt: skip
    if pairs:
        text += (f" Pairwise, the seeds predict {min(pairs):.1%} to {max(pairs):.1%} of the test "
                 "images differently: equal accuracy is not the same model.")  # fmt: skip
    return text


def _gpu_against_cpu(s: dict, results: Path) -> str:
    """The GPU run's balanced accuracy against the CPU reference's test-set CI and the seeds'
    spread: within noise or not, computed (there is no paired comparison across the runs)."""
    gpu = _gpu_summary(results)
    if gpu is None or "balanced_accuracy" not in gpu["headline"]:
        return ""
    value = gpu["headline"]["balanced_accuracy"]
    ref = s["headline"]
    checks = [("this run's test-set CI", ref.get("balanced_accuracy_ci95"))]
    seeds = pd.read_csv(results / "seeds.csv") if (results / "seeds.csv").is_file() else None
    if seeds is not None and len(seeds) > 1 and "balanced_accuracy" in seeds:
        _, lo, hi = seed_ci(seeds["balanced_accuracy"])
        checks.append(("the seeds' CI", [lo, hi]))
    inside = [name for name, ci in checks if ci and ci[0] <= value <= ci[1]]
    outside = [name for name, ci in checks if ci and not ci[0] <= value <= ci[1]]
    words = ("inside " + " and ".join(inside) + ": within noise" if not outside
             else "outside " + " and ".join(outside) + ": not within noise")  # fmt: skip
    return (f"balanced accuracy {format_value(value, 3)} "
            f"{_ci(gpu['headline']['balanced_accuracy_ci95'])} on {_device(gpu)}, "
            f"{format_value(ref['balanced_accuracy'], 3)} {_ci(ref['balanced_accuracy_ci95'])} "
            f"here: {words}.")  # fmt: skip


def _resume(s: dict, results: Path) -> str:
    text = ""
    kill = s.get("resume_kill")
    if kill:
        text = (
            f"Real SIGKILL (exit code {kill['returncode']}) after the checkpoint at global step "
            f"{kill['checkpoint_global_step']} (epoch {kill['checkpoint_epoch']}, step "
            f"{kill['checkpoint_step_in_epoch']} of the epoch); "
        )
        if "history_identical" in kill:
            text += (
                "the resumed run against the uninterrupted one: weights identical "
                f"**{_fmt(kill['weights_identical'])}**, final state (optimizer, scheduler, scaler, "
                f"RNGs) identical **{_fmt(kill['final_state_identical'])}**, recorded "
                f"per-epoch history identical **{_fmt(kill['history_identical'])}**.\n\n"
            )
        else:  # a run from before the history was checkpointed
            text += (
                "resumed run's weights identical to the uninterrupted run: "
                f"**{_fmt(s['headline'].get('resume_identical'))}**.\n\n"
            )
    var = s.get("resume_variants")
    if var:
        table = _table(results, "resume_variants")
        if table is None:
            raise FileNotFoundError(f"{results / 'resume_variants.csv'}: summary names it")
        text += (
            f"On {var['data']} ({var['steps_per_epoch']} steps per epoch), stopped at step "
            f"{var['stop_step']} and resumed with one piece of state deliberately not restored:"
            "\n\n" + table
        )
    return text


def _hardware_line(s: dict) -> str:
    hw = s["hardware"]
    gpu = hw.get("gpu")
    device = f"GPU {gpu['model']}" if gpu else "no GPU"
    line = (
        f"Hardware: {hw['cpu_count']} CPU cores ({hw['cpu_model']}), {device}. Wall time "
        f"{format_value(s['wall_seconds'], 0)} s for the whole run"
    )
    if "faults_seconds" in s:
        line += (
            f" (the fault drills took {format_value(s['faults_seconds'], 0)} s more, not counted)"
        )
    return line + "."


def redraw_headline(s: dict, results: Path) -> list[dict] | None:
    """headline.png is a drawing of summary.json and nothing else, so the report redraws it
    (repro_training.figures): a fix to the drawing reaches the published figure without a
    retrain, and the caption describes what was drawn. Same summary, same bytes. Returns the
    references drawn, or None for a run without the first seed's CIs (no such figure)."""
    h = s["headline"]
    if "seed0_accuracy_ci95" not in h:
        return None
    return draw_headline(h, s.get("minority_class", "minority"), s["config"]["data"]["name"],
                         s.get("hero_reference"), results / "headline.png")  # fmt: skip


def _summary(s: dict, results: Path) -> str:
    """The first screen: the answer with its CIs and verdicts, the figure, hardware and time."""
    lines = _answer_lines(s)
    drawn = redraw_headline(s, results)
    figure = "headline.png" if (results / "headline.png").is_file() else "curves.png"
    band = s.get("hero_reference")  # a published result the figure draws, with its band
    caption = published_caption(band) if band else "No published number is drawn on the figure."
    if drawn:
        caption += " " + placement(drawn)
    lines += ["", f"![the model's test scores with their CIs](results/{figure})", "", caption,
              "", _hardware_line(s)]  # fmt: skip
    return "\n".join(lines)


def _budgets(results: Path) -> str | None:
    """The reference beside the configs/gpu.yaml run (results/gpu/), each with its hardware and
    wall time; None until a GPU run is published."""
    gpu_path = results / "gpu" / "summary.json"
    if not gpu_path.is_file():
        return None
    rows = []
    for name, path in (("reference", results / "summary.json"),
                       ("[gpu.yaml](docs/operator.md#on-a-gpu)", gpu_path)):  # fmt: skip
        s = json.loads(path.read_text())
        h, hw = s["headline"], s["hardware"]
        rows.append({
            "run": name,
            "hardware": f"1 x {hw['gpu']['model']}" if hw.get("gpu") else f"{hw['cpu_count']} CPU cores",
            "bitwise twice": _fmt(h.get("bitwise_identical")),
            "resumed identical": _fmt(h.get("resume_identical")),
            "balanced accuracy": f"{format_value(h['balanced_accuracy'], 3)} {_ci(h['balanced_accuracy_ci95'])}",
            "wall s": format_value(s["wall_seconds"], 0),
        })  # fmt: skip
    return markdown_table(pd.DataFrame(rows))


def _gpu(results: Path) -> str | None:
    """docs/operator.md's GPU section: the gpu.yaml run's answer, its determinism modes, the bench
    and the CUDA tests, each from what was published."""
    folder = results / "gpu"
    parts = []
    if (folder / "summary.json").is_file():
        s = json.loads((folder / "summary.json").read_text())
        redraw_headline(s, folder)  # its figure, drawn as the reference's is
        parts += ["\n".join(_answer_lines(s)), _hardware_line(s), _determinism(s, folder)]
    parts += gputests.gpu_blocks(results).values()  # its bench on CUDA, the CUDA tests' record
    return "\n\n".join(parts) or None


def _answer_lines(s: dict) -> list[str]:
    """The answer's bullets: bitwise twice, resumed after SIGKILL, the model with its CIs."""
    h = s["headline"]
    lines = []
    if "bitwise_identical" in h:
        lines.append(f"- Same seed and thread count, trained twice: weights bitwise identical "
                     f"**{_fmt(h['bitwise_identical'])}**.")  # fmt: skip
    if "resume_identical" in h:
        lines.append(f"- Killed with SIGKILL mid-epoch and resumed: identical to the "
                     f"uninterrupted run **{_fmt(h['resume_identical'])}**.")  # fmt: skip
    if "seed0_accuracy_ci95" in h:
        minority = s.get("minority_class", "minority")
        lines += [
            "- The model (first seed) on the test images, 95% bootstrap CIs: "
            + judged(
                "accuracy",
                h["seed0_accuracy"],
                h["seed0_accuracy_ci95"],
                h["majority_baseline_accuracy"],
                "the majority-class baseline",
            )  # fmt: skip
            + "; "
            + judged(
                "balanced accuracy",
                h["balanced_accuracy"],
                h["balanced_accuracy_ci95"],
                CHANCE_BALANCED_ACCURACY,
                "chance",
            )
            + f"; recall of the {minority} class {format_value(h['minority_recall'], 3)} "
            f"{_ci(h['minority_recall_ci95'])} (the share of {minority} images it finds).",
        ]
    elif "test_accuracy_ci95" in h:
        lines.append(f"- Test accuracy {format_value(h['test_accuracy'], 3)} "
                     f"{_ci(h['test_accuracy_ci95'])} (mean and Student-t 95% CI over seeds).")  # fmt: skip
    return lines


def _slices_text(table: pd.DataFrame) -> str:
    """Whether the groups' accuracy intervals overlap (when they do, the run cannot tell the
    groups apart)."""
    if len(table) < 2 or "accuracy_lo" not in table:
        return ""
    if table["accuracy_lo"].max() <= table["accuracy_hi"].min():
        return "The groups' accuracy intervals overlap: this run cannot tell them apart."
    return "At least two groups' accuracy intervals do not overlap: those groups differ."


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _determinism(s: dict, results: Path) -> str:
    """The determinism table, how long each compared run trained, and default vs deterministic
    kernels when the run measured them."""
    table_path = results / "determinism.csv"
    parts = []
    if table_path.is_file():
        epochs = s["config"]["checks"]["check_epochs"]
        table = pd.read_csv(table_path)
        parts.append(markdown_table(table, digits=6))
        parts.append(f"Each compared run trains {_epochs(epochs)} "
                     f"(`checks.check_epochs: {epochs}`).")  # fmt: skip
    modes = results / "determinism_modes.csv"
    if modes.is_file() and "deterministic_time_ratio" in s["headline"]:
        ratio = s["headline"]["deterministic_time_ratio"]
        where = "; per step: the hardware table" if _deterministic_cells(results) else ""
        parts += [
            "Default against deterministic kernels, each trained twice in a fresh process:",
            markdown_table(pd.read_csv(modes), digits=3),
            one_timing("Deterministic over default kernels, training time", ratio,
                       "mean of two whole runs each") + f"{where}.",
        ]  # fmt: skip
    return "\n\n".join(parts)


def _deterministic_cells(results: Path) -> tuple[pd.Series, pd.Series] | None:
    """The hardware table's fp32 rows without checkpointing: default and deterministic kernels,
    or None when the table lacks either."""
    path = results / "hardware.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    plain = table[(table["precision"] == "fp32") & ~table["grad_checkpointing"].astype(bool)]
    det = plain["deterministic_mode"].astype(bool)
    if det.sum() != 1 or (~det).sum() != 1:
        return None
    return plain[~det].iloc[0], plain[det].iloc[0]


def _determinism_cost(results: Path) -> str:
    """The cost of deterministic kernels per training step, the one measurement that judges it:
    the hardware table's two fp32 cells, from every timed step (hardware_steps.csv) with a CI, or
    from the table's best and median steps with no verdict (runs that kept no steps)."""
    cells = _deterministic_cells(results)
    if cells is None:
        return ""
    default, det = cells
    label = "Deterministic over default kernels (last row over first), mean step"
    steps_path = results / "hardware_steps.csv"
    if steps_path.is_file():
        steps = pd.read_csv(steps_path)
        plain = steps[(steps["precision"] == "fp32") & ~steps["grad_checkpointing"].astype(bool)]
        flag = plain["deterministic_mode"].astype(bool)
        return compared(label, plain.loc[flag, "step_ms"], plain.loc[~flag, "step_ms"],
                        "steps") + "."  # fmt: skip
    best = det["step_ms_best"] / default["step_ms_best"]
    median = det["step_ms_median"] / default["step_ms_median"]
    return (
        f"Deterministic over default kernels (last row over first): best step {best:.2f}x, "
        f"median step {median:.2f}x (one process each, its steps not kept: no verdict)."
    )


def _ddp_text(s: dict) -> str:
    """What the two times measure (from the code that wrote them), and the wording computed from
    them; the accuracy difference judged on its paired bootstrap CI."""
    ddp, h = s["ddp"], s["headline"]
    text = (
        "`train_seconds`: rank 0's training steps only (no start-up, data loading or "
        "evaluation), same epochs and global batches. "
    )
    if len(ddp.get("epoch_seconds", [])) > 1 and len(ddp.get("single_process_epoch_seconds",
                                                             [])) > 1:  # fmt: skip
        text += compared("DDP over one process, time per epoch", ddp["epoch_seconds"],
                         ddp["single_process_epoch_seconds"], "epochs") + "."  # fmt: skip
    else:  # a run that kept only the sums
        ratio = ddp["train_seconds"] / ddp["single_process_seed0_train_seconds"]
        text += one_timing("DDP over one process, training time", ratio, "one timing each") + "."
    if "threads_per_rank" in ddp:
        text += (
            f" Torch threads: {ddp['single_process_threads']} in the single process, "
            f"{ddp['threads_per_rank']} per rank."
        )
    if "fit_seconds" in ddp:
        text += (
            f" With start-up: DDP {format_value(ddp['fit_seconds'], 1)} s, one "
            f"process {format_value(ddp['single_process_fit_seconds'], 1)} s (mean over seeds)."
        )
    if "ddp_minus_single_accuracy_ci95" in h:
        text += "\n\n" + judged(
            "DDP minus single-process accuracy (paired bootstrap over test images)",
            h["ddp_minus_single_accuracy"], h["ddp_minus_single_accuracy_ci95"],
            -DDP_TOLERANCE, f"at most {DDP_TOLERANCE:g} below one process",
        ) + "."  # fmt: skip
    return text
