"""The one training loop: AdamW with a lower backbone LR, linear warmup then cosine decay,
early stopping on validation loss (the best epoch's weights are restored), step timing."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from mlcraft.accel import device_batch
from mlcraft.profiling import StepTimer
from torch import nn

from .augment import Normalizer, resident, train_batches
from .config import FineTuneConfig
from .evaluate import predict_logits
from .models import head_parameter_names, set_trainable


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    timer: dict[str, float] = field(default_factory=dict)

    @property
    def train_images_per_s(self) -> float:
        return float(self.timer.get("samples_per_s", 0.0))


def class_weights(labels: np.ndarray, k: int) -> torch.Tensor:
    counts = np.bincount(labels, minlength=k).astype(float)
    return torch.tensor(len(labels) / (k * np.maximum(counts, 1)), dtype=torch.float32)


def fit(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    ft: FineTuneConfig,
    norm: Normalizer,
    seed: int,
    last_stages: int | None = None,
    epochs: int | None = None,
    lr_backbone: float | None = None,
    autocast: bool = False,
    size: int | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    max_steps: int | None = None,
    targets: np.ndarray | None = None,
    warmup_steps: int = 0,
) -> FitResult:
    """Train `model` in place on images[train_idx]; returns history and timing.

    last_stages=None trains everything; k trains the head plus the last k stages. targets: soft
    training targets (N, classes) in place of the labels (validation loss stays on the labels).
    warmup_steps: the timer leaves the first this many steps out (a bench's untimed warm-up; they
    train like any other, and max_steps counts them).
    On a CUDA device the batch is ft.gpu_batch_size with the learning rates scaled to it.
    """
    epochs = epochs or ft.epochs
    device = norm.device
    batch = device_batch(device, ft.batch_size, ft.gpu_batch_size, ft.lr_scaling)
    model.to(device)
    if norm.channels_last:
        model.to(memory_format=torch.channels_last)
    set_trainable(model, last_stages)
    head = head_parameter_names(model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    lr_body = lr_backbone or ft.lr_backbone
    groups = [
        {"params": [p for n, p in named if n in head], "lr": ft.lr_head * batch.lr_scale},
        {"params": [p for n, p in named if n not in head], "lr": lr_body * batch.lr_scale},
    ]
    groups = [g for g in groups if g["params"]]
    optimizer = torch.optim.AdamW(groups, weight_decay=ft.weight_decay)
    step_model = torch.compile(model) if ft.compile else model  # shares model's parameters
    steps_per_epoch = max(math.ceil(len(train_idx) / batch.batch_size), 1)
    total = steps_per_epoch * epochs
    warmup = int(ft.warmup_epochs * steps_per_epoch)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    k = int(labels.max()) + 1
    weight = class_weights(labels[train_idx], k).to(device) if ft.class_weights else None
    gen = torch.Generator().manual_seed(seed)
    timer = StepTimer(skip_first=warmup_steps)
    result = FitResult()
    best_loss, best_state, stale = math.inf, None, 0
    train_images = resident(images[train_idx], device)
    train_labels = resident((labels if targets is None else targets)[train_idx], device)
    val_labels = torch.as_tensor(labels[val_idx])
    started = time.perf_counter()
    steps = 0
    for epoch in range(epochs):
        model.train()
        losses = []
        batches = train_batches(
            train_images,
            train_labels,
            batch.batch_size,
            norm,
            ft.augment,
            ft.augment_strength,
            gen,
            size,
        )
        if max_steps:  # stop the batches, not the loop, so the timer also counts the last step
            batches = itertools.islice(batches, max(max_steps - steps, 0))
        for x, y in timer.wrap(batches):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
                logits = step_model(x)
            loss = F.cross_entropy(
                logits.float(), y, weight=weight, label_smoothing=ft.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            steps += 1
        val_images = images[val_idx]
        if size and size != images.shape[-1]:
            val_images = _resize(val_images, size)
        val_logits, _ = predict_logits(model, val_images, norm, autocast=autocast)
        val_loss = float(F.cross_entropy(torch.as_tensor(val_logits), val_labels))
        val_acc = float(np.mean(val_logits.argmax(1) == labels[val_idx]))
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "seconds": time.perf_counter() - started,
        }
        result.history.append(row)
        if on_epoch:
            on_epoch(epoch + 1, row)
        print(
            f"  epoch {epoch + 1}/{epochs} train_loss {row['train_loss']:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({row['seconds']:.0f}s)",
            flush=True,
        )
        if val_loss < best_loss - 1e-4:
            best_loss, stale, result.best_epoch = val_loss, 0, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= ft.patience:
                print(f"  early stop: no val-loss gain for {ft.patience} epochs")
                break
        if max_steps and steps >= max_steps:
            break
    result.train_seconds = time.perf_counter() - started
    result.timer = timer.summary()
    if best_state is not None:
        model.load_state_dict(best_state)
    for param in model.parameters():
        param.requires_grad_(True)
    model.eval()
    return result


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    x = torch.from_numpy(images).float()
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()
