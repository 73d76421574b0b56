"""The rungs of the baseline ladder. Each returns test/val probabilities plus its costs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from mlcraft.profiling import measure_throughput
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from .augment import Normalizer
from .evaluate import predict_views, softmax


@dataclass
class Rung:
    name: str
    val_prob: np.ndarray
    test_prob: np.ndarray
    train_seconds: float
    train_images_per_s: float | None
    infer_images_per_s: float | None
    test_logits: np.ndarray | None = None
    val_logits: np.ndarray | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)
    tta: bool = False  # test-time augmentation in val_prob/test_prob (8 dihedral views)
    val_prob_no_tta: np.ndarray | None = None  # the single-view probabilities of a TTA rung
    test_prob_no_tta: np.ndarray | None = None

    def single_view(self) -> tuple[np.ndarray, np.ndarray]:
        """(val, test) probabilities without TTA: what every rung is compared on."""
        if self.tta:
            return self.val_prob_no_tta, self.test_prob_no_tta
        return self.val_prob, self.test_prob


def majority(labels: np.ndarray, split: dict[str, np.ndarray], k: int) -> Rung:
    prior = np.bincount(labels[split["train"]], minlength=k) / len(split["train"])
    # A hair of noise-free tie-breaking: every row gets the training prior.
    return Rung(
        "majority class",
        np.tile(prior, (len(split["val"]), 1)),
        np.tile(prior, (len(split["test"]), 1)),
        0.0,
        None,
        None,
        notes="predicts the training prior",
    )


def _fit_logreg(x_train, y_train, x_val, y_val, seed: int):
    """Logistic regression with C picked on validation log-loss."""
    from sklearn.metrics import log_loss

    best = None
    for c in (0.001, 0.01, 0.1, 1.0):
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)
        )
        model.fit(x_train, y_train)
        loss = log_loss(y_val, model.predict_proba(x_val), labels=np.unique(y_train))
        if best is None or loss < best[0]:
            best = (loss, c, model)
    return best[2], best[1]


def hog_features(images: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    size = images.shape[-1]
    cell = max(size // 8, 4)
    gray = images.mean(axis=1) if images.shape[1] > 1 else images[:, 0]
    return np.stack(
        [
            hog(img, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2))
            for img in gray
        ]
    ).astype(np.float32)


def classical(images, labels, split, seed: int) -> Rung:
    started = time.perf_counter()
    feats = {name: hog_features(images[idx]) for name, idx in split.items() if name != "test"}
    model, c = _fit_logreg(
        feats["train"], labels[split["train"]], feats["val"], labels[split["val"]], seed
    )
    seconds = time.perf_counter() - started
    test_images = images[split["test"]]
    t0 = time.perf_counter()
    test_prob = model.predict_proba(hog_features(test_images))
    infer = len(test_images) / (time.perf_counter() - t0)
    return Rung(
        "HOG + logistic regression",
        model.predict_proba(feats["val"]),
        test_prob,
        seconds,
        len(split["train"]) / seconds,
        infer,
        notes=f"HOG (9 orientations, 8x8 cells) + L2 logistic regression, C={c} picked on val",
    )


@torch.no_grad()
def pooled_features(model: nn.Module, images: np.ndarray, norm: Normalizer, batch_size=128):
    """The backbone's pooled pre-logits features (N, D), one pass, no augmentation."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = norm(norm.to_unit(images[start : start + batch_size]))
        out.append(model.forward_head(model.forward_features(x), pre_logits=True).float().cpu())
    return torch.cat(out).numpy()


def linear_probe(model, images, labels, split, norm, seed: int, name: str) -> Rung:
    """Frozen features computed once for all images, then logistic regression (seconds)."""
    model.to(norm.device)
    if norm.channels_last:
        model.to(memory_format=torch.channels_last)
    started = time.perf_counter()
    feats = pooled_features(model, images, norm)
    extract_seconds = time.perf_counter() - started
    by = {k: feats[idx] for k, idx in split.items()}
    clf, c = _fit_logreg(by["train"], labels[split["train"]], by["val"], labels[split["val"]], seed)
    seconds = time.perf_counter() - started
    return Rung(
        name,
        clf.predict_proba(by["val"]),
        clf.predict_proba(by["test"]),
        # Feature extraction over train+val counts as training cost.
        extract_seconds * (len(split["train"]) + len(split["val"])) / len(images)
        + (seconds - extract_seconds),
        len(images) / extract_seconds,
        len(images) / extract_seconds,
        notes=f"logistic regression on frozen pooled features, C={c} picked on val",
        extra={"features": feats},
    )


def network_rung(
    name: str, model, images, split, norm, fit_result, tta: bool, autocast: bool, notes: str
) -> Rung:
    # The TTA pass also yields the identity view alone: TTA rungs can be compared with the rest
    # like for like at no extra cost.
    val_logits, val_single, _ = predict_views(
        model, images[split["val"]], norm, tta=tta, autocast=autocast
    )
    test_logits, test_single, _ = predict_views(
        model, images[split["test"]], norm, tta=tta, autocast=autocast
    )
    single = (
        {"val_prob_no_tta": softmax(val_single), "test_prob_no_tta": softmax(test_single)}
        if tta
        else {}
    )
    batch = norm.to_unit(images[split["test"][:64]])

    def infer():
        with torch.no_grad():
            model(norm(batch))

    infer_rate = measure_throughput(infer, items=len(batch), repeats=3)["items_per_s"]
    return Rung(
        name,
        softmax(val_logits),
        softmax(test_logits),
        fit_result.train_seconds,
        fit_result.train_images_per_s,
        infer_rate,
        test_logits=test_logits,
        val_logits=val_logits,
        notes=notes,
        extra={"fit": fit_result},
        tta=tta,
        **single,
    )
