"""Full fine-tuning with Lightning: AdamW, warmup + linear decay, clipping, early stopping on val."""

from __future__ import annotations

import copy
import time

import lightning.pytorch as pl
import numpy as np
import torch
from mlcraft.accel import device_batch, use_bf16
from mlcraft.quiet import quiet_lightning
from transformers import get_linear_schedule_with_warmup

from text_classifier.config import FinetuneConfig
from text_classifier.models import make_loader


class Classifier(pl.LightningModule):
    def __init__(self, model, cfg: FinetuneConfig, total_steps: int, n_val: int):
        super().__init__()
        self.model = model
        self.cfg = cfg
        self.total_steps = total_steps
        self.n_val = n_val
        self.val_logits = np.zeros((n_val, model.config.num_labels), dtype=np.float32)
        self.val_labels = np.zeros(n_val, dtype=np.int64)
        self.train_losses: list[float] = []

    def forward(self, batch):
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    def training_step(self, batch, batch_idx):
        loss = self.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss
        self.train_losses.append(float(loss.detach()))
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["labels"]))
        return loss

    def validation_step(self, batch, batch_idx):
        logits = self(batch).logits.float()
        idx = batch["index"].cpu().numpy()
        self.val_logits[idx] = logits.cpu().numpy()
        self.val_labels[idx] = batch["labels"].cpu().numpy()

    def on_validation_epoch_end(self):
        logits = torch.from_numpy(self.val_logits)
        labels = torch.from_numpy(self.val_labels)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        acc = (logits.argmax(1) == labels).float().mean()
        self.log_dict({"val_loss": loss, "val_accuracy": acc}, prog_bar=True)

    def configure_optimizers(self):
        # No weight decay on biases and LayerNorm weights (the usual BERT recipe).
        decay, no_decay = [], []
        for param in self.model.parameters():
            (no_decay if param.ndim < 2 else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": self.cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.cfg.lr)
        warmup = int(self.cfg.warmup_fraction * self.total_steps)
        schedule = get_linear_schedule_with_warmup(optimizer, warmup, self.total_steps)
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


class KeepBest(pl.Callback):
    """Keep the best-val-loss weights and that epoch's val logits in memory (no pickle files)."""

    def __init__(self):
        self.best = float("inf")
        self.state = None
        self.val_logits = None
        self.history: list[dict] = []

    def on_validation_end(self, trainer, module):
        # after the module logged val_loss (callbacks' epoch-end hooks run before the module's)
        if trainer.sanity_checking:
            return
        loss = float(trainer.callback_metrics["val_loss"])
        acc = float(trainer.callback_metrics["val_accuracy"])
        self.history.append(
            {
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,  # optimizer steps taken before this check
                "val_loss": loss,
                "val_accuracy": acc,
            }
        )
        if loss < self.best:
            self.best = loss
            self.state = copy.deepcopy(module.model.state_dict())
            self.val_logits = module.val_logits.copy()


def fit(
    model,
    train_ids,
    train_labels,
    val_ids,
    val_labels,
    pad_id: int,
    cfg: FinetuneConfig,
    seed: int,
    extra_callbacks=(),
) -> dict:
    """Train in place; restore the best epoch; return its val logits, history and timing.

    On a CUDA device: cfg.gpu_batch_size with the scaled learning rate, and bf16 where the config
    asks; on a CPU exactly the configured batch, learning rate and fp32."""
    device = "cuda" if torch.cuda.is_available() else "cpu"  # what accelerator="auto" picks
    batch = device_batch(device, cfg.batch_size, cfg.gpu_batch_size, cfg.lr_scaling)
    cfg = cfg.model_copy(update={"batch_size": batch.batch_size, "lr": cfg.lr * batch.lr_scale})
    quiet_lightning()
    pl.seed_everything(seed, workers=True, verbose=False)
    train_loader = make_loader(
        train_ids, train_labels, pad_id, cfg.batch_size, seed, bucket=cfg.bucket, shuffle=True
    )
    val_loader = make_loader(
        val_ids, val_labels, pad_id, cfg.eval_batch_size, seed, bucket=True, shuffle=False
    )
    steps_per_epoch = len(train_loader)
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps > 0:
        total = min(total, cfg.max_steps)
    module = Classifier(model, cfg, total_steps=max(total, 1), n_val=len(val_ids))
    keep = KeepBest()
    callbacks = [
        keep,
        pl.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, mode="min"),
        *extra_callbacks,
    ]
    trainer = pl.Trainer(
        max_epochs=cfg.epochs,
        val_check_interval=1.0 / cfg.val_checks_per_epoch,
        max_steps=cfg.max_steps,
        # With a step cap below one epoch, end the epoch there so validation still runs.
        limit_train_batches=cfg.max_steps if 0 < cfg.max_steps < steps_per_epoch else 1.0,
        gradient_clip_val=cfg.grad_clip,
        callbacks=callbacks,
        accelerator="auto",
        devices=1,
        precision="bf16-mixed" if use_bf16(cfg.bf16, device) else "32-true",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        enable_progress_bar=True,
    )
    model.train()  # from_pretrained returns eval mode; Lightning keeps a module's mode as given
    started = time.perf_counter()
    trainer.fit(module, train_loader, val_loader)
    seconds = time.perf_counter() - started
    if keep.state is not None:
        model.load_state_dict(keep.state)
    return {
        "train_seconds": seconds,
        "steps": trainer.global_step,
        # where it trained: Lightning hands the module back on the CPU after fit
        "device": trainer.strategy.root_device.type,
        "epochs_run": trainer.current_epoch,
        "train_examples": len(train_ids),
        "history": keep.history,
        "best_val_loss": keep.best,
        "val_logits": keep.val_logits,
        "train_losses": module.train_losses,
    }


def time_one_pass(
    model, ids, labels, pad_id, batch_size, seed, bucket, fixed_length=None
) -> list[float]:
    """Seconds per batch of one training pass (forward, backward, AdamW step) over ids.

    bucket=False with fixed_length = the classic "pad everything to max_length" baseline.
    """
    loader = make_loader(ids, labels, pad_id, batch_size, seed, bucket, True, fixed_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()
    seconds = []
    for batch in loader:
        started = time.perf_counter()
        loss = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - started)
    return seconds
