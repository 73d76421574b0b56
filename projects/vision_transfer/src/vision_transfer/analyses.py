"""Analyses of the fine-tuned model: calibration, slices, failure gallery with Grad-CAM,
and the channels_last x bf16 profiling grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from mlcraft import calibration as cal
from mlcraft.plots import plt, save_figure
from mlcraft.profiling import measure_throughput
from mlcraft.reporting import slice_table
from torch import nn

from .augment import Normalizer
from .evaluate import softmax


def calibration(
    val_logits, val_y, test_logits, test_y, positive: int | None, classes: list[str], png: Path
) -> dict:
    """ECE (15 equal-width bins) before/after temperature scaling: on P(positive) for a binary
    task, on the top label's probability (its confidence vs its accuracy) for k > 2 classes."""
    temperature = cal.fit_temperature(val_logits, val_y)
    before = softmax(test_logits)
    after = softmax(test_logits, temperature)
    pick = (lambda p: p[:, positive]) if positive is not None else (lambda p: p)
    measured = f"P({classes[positive]})" if positive is not None else "top-label confidence"
    out = {"temperature": temperature, "probability": measured}
    for tag, prob in (("before", before), ("after", after)):
        report = cal.calibration_report(test_y, pick(prob))
        out.update({f"{k}_{tag}": v for k, v in report.items()})
    cal.reliability_diagram(
        {
            "fine-tuned": (test_y, pick(before)),
            f"temperature T={temperature:.2f}": (test_y, pick(after)),
        },
        png,
        title=f"Test reliability ({measured})",
    )
    return out


def expert_agreement(meta: pd.DataFrame, prob: np.ndarray, threshold: float) -> pd.DataFrame:
    """Mean predicted P(defective) per expert defect probability (0, 1/3, 2/3, 1), and the share
    flagged at the run's decision threshold (the same one the slices and predict use)."""
    frame = pd.DataFrame({"expert": meta["defect_probability"].round(3).to_numpy(), "p": prob})
    rows = []
    for value, group in frame.groupby("expert"):
        q = np.quantile(group["p"], [0.25, 0.5, 0.75])
        rows.append(
            {
                "expert_probability": float(value),
                "n": len(group),
                "mean_predicted": float(group["p"].mean()),
                "q25": q[0],
                "median": q[1],
                "q75": q[2],
                "share_flagged": float((group["p"] >= threshold).mean()),
                "threshold": threshold,
            }
        )
    return pd.DataFrame(rows)


def slices(meta: pd.DataFrame, y: np.ndarray, prob: np.ndarray, threshold: float, n_boot: int):
    frame = meta.copy()
    frame["y"], frame["p"] = y, prob
    frame["expert_probability"] = frame["defect_probability"].round(3)

    def acc(t, p):
        return float(np.mean((p >= threshold) == t))

    def recall(t, p):
        return float(np.mean(p[t == 1] >= threshold)) if (t == 1).any() else np.nan

    metrics = {"accuracy": acc, "defective_recall": recall}
    tables = [
        slice_table(frame, by, "y", "p", metrics, n_boot=n_boot)
        for by in ("cell_type", "expert_probability")
    ]
    return pd.concat(tables, ignore_index=True)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM on the last feature map (timm forward_features), upsampled to the input; (B, H, W)."""
    model.eval()
    feats = model.forward_features(x)
    feats.retain_grad()
    logits = model.forward_head(feats)
    model.zero_grad(set_to_none=True)
    logits[:, target].sum().backward()
    weights = feats.grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * feats).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1)
    return cam.detach().cpu().numpy()


def _original(meta: pd.DataFrame, j: int) -> np.ndarray | None:
    """The full-resolution file behind test row j (gray), or None when the data has no files."""
    if "path" not in meta:
        return None
    from PIL import Image

    with Image.open(meta["path"].iloc[j]) as img:
        return np.asarray(img.convert("L"))


def failure_gallery(
    model, images, y, prob, meta, norm: Normalizer, classes, threshold, n: int, png: Path
) -> pd.DataFrame:
    """The n most confident test errors, three panels each: the original file at its own
    resolution, the model's input, and the Grad-CAM of the predicted class over that input."""
    pred = (prob >= threshold).astype(int)
    wrong = np.flatnonzero(pred != y)
    confidence = np.abs(prob - 0.5)
    order = wrong[np.argsort(-confidence[wrong])][:n]
    rows = []
    if len(order) == 0:
        return pd.DataFrame(rows)
    x = norm(norm.to_unit(images[order]))
    cams = np.stack([grad_cam(model, x[i : i + 1], int(pred[j]))[0] for i, j in enumerate(order)])
    cols = min(len(order), 6)
    nrows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(3 * nrows, cols, figsize=(2.0 * cols, 6.4 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, j in enumerate(order):
        r, c = divmod(i, cols)
        img = images[j].mean(0)
        original = _original(meta, j)
        name = meta["image"].iloc[j] if "image" in meta else str(j)
        expert = meta["defect_probability"].iloc[j] if "defect_probability" in meta else np.nan
        top, middle, bottom = axes[3 * r, c], axes[3 * r + 1, c], axes[3 * r + 2, c]
        if original is not None:
            top.imshow(original, cmap="gray")
            top.set_title(
                f"{Path(str(name)).stem}, true {classes[y[j]]}\n"
                f"original {original.shape[1]} px, expert={expert:.2f}", fontsize=7
            )  # fmt: skip
        middle.imshow(img, cmap="gray")
        middle.set_title(f"model input {img.shape[1]} px\np(def)={prob[j]:.2f}", fontsize=7)
        bottom.imshow(img, cmap="gray")
        bottom.imshow(cams[i], cmap="jet", alpha=0.4)
        bottom.set_title(f"Grad-CAM ({classes[pred[j]]})", fontsize=7)
        rows.append(
            {
                "image": name,
                "true": classes[y[j]],
                "p_defective": float(prob[j]),
                "expert_probability": float(expert),
                "cell_type": meta["cell_type"].iloc[j] if "cell_type" in meta else "",
            }
        )
    fig.suptitle("Most confident test errors: original, model input, Grad-CAM", fontsize=9)
    fig.tight_layout()
    save_figure(fig, png, dpi=100)  # the original keeps detail the model input lost
    _shrink_png(png)
    return pd.DataFrame(rows)


def _shrink_png(png: Path, colors: int = 96) -> None:
    """Palette-quantise a plot so the committed PNG stays well under 300 KB."""
    import io

    from mlcraft.files import atomic_write_bytes
    from PIL import Image

    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=colors)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(png, buffer.getvalue())


def profile_grid(
    build_model,
    images: np.ndarray,
    norm_args: dict,
    steps: int,
    device: str,
    formats: tuple[bool, ...] = (False, True),
    precisions: tuple[bool, ...] = (False, True),
) -> pd.DataFrame:
    """Training-step throughput for channels_last x bf16 autocast, on a fixed batch."""
    rows = []
    batch = images[:32]
    for channels_last in formats:
        for bf16 in precisions:
            model = build_model().to(device)
            if channels_last:
                model.to(memory_format=torch.channels_last)
            norm = Normalizer(**norm_args, channels_last=channels_last, device=device)
            x = norm(norm.to_unit(batch))
            y = torch.zeros(len(batch), dtype=torch.long, device=device)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            model.train()

            def step(model=model, x=x, y=y, opt=opt, bf16=bf16):
                with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(model(x).float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()

            timing = measure_throughput(step, items=len(batch), repeats=steps)
            rows.append(
                {
                    "channels_last": channels_last,
                    "bf16_autocast": bf16,
                    "train_images_per_s": timing["items_per_s"],
                    "step_p50_s": timing["p50_s"],
                }
            )
    return pd.DataFrame(rows)


def decide_accel(cfg, build_model, images: np.ndarray, norm_args: dict, device: str):
    """channels_last and bf16 as booleans: as configured, or (auto) the faster setting of the
    profiling grid on this device, timed before any training. Returns the config with both
    decided and the record for summary.json (the grid it decided on, if any)."""
    auto = {name: getattr(cfg, name) == "auto" for name in ("channels_last", "bf16")}
    record = {"decided_by": "config", "grid": []}
    if any(auto.values()):
        grid = profile_grid(
            build_model, images, norm_args, cfg.analysis.profiling_steps, device,
            formats=(False, True) if auto["channels_last"] else (cfg.channels_last,),
            precisions=(False, True) if auto["bf16"] else (cfg.bf16,),
        )  # fmt: skip
        best = grid.loc[grid["train_images_per_s"].idxmax()]
        cfg = cfg.model_copy(
            update={
                "channels_last": bool(best["channels_last"]),
                "bf16": bool(best["bf16_autocast"]),
            }
        )
        record = {"decided_by": "profiling grid", "grid": grid.to_dict("records")}
        print(f"accel: channels_last {cfg.channels_last}, bf16 {cfg.bf16} (fastest in the grid)")
    return cfg, {"channels_last": cfg.channels_last, "bf16": cfg.bf16, **record}


# --- the human-review band: a risk-coverage curve on validation ------------------------------
