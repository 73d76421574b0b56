"""`python -m text_classifier bench --config configs/default.yaml [--steps N] [--warmup N]`: the
fine-tune's own training step (finetune.fit under Lightning: length-bucketed batches with dynamic
padding, AdamW, gradient clipping) and inference (models.predict_logits) timed on whatever
hardware runs it, through mlcraft.bench, after untimed warm-up: the fit runs --warmup steps more
than it times (the timing callback skips them), and inference is timed on a second pass over the
test texts (every bucket's shape warmed by the first).

Writes results/bench/bench.csv|.md (a train row and an inference row) and bench.json (the config,
code, hardware). `publish --run-dir <bench run>` makes it results/bench/.
"""

from __future__ import annotations

import copy
import time

import pandas as pd
import torch
from mlcraft import bench
from mlcraft.accel import device_batch, use_bf16
from mlcraft.config import config_to_dict
from mlcraft.lightning_callbacks import StepTimerCallback
from mlcraft.seeding import seed_everything
from mlcraft.tracking import environment_fingerprint

from text_classifier.config import Config
from text_classifier.finetune import fit
from text_classifier.models import (
    choose_max_length,
    load_classifier,
    load_tokenizer,
    make_loader,
    predict_logits,
    resolve_model,
    tokenize,
    use_threads,
)

FLOP_BATCHES = 4  # FLOPs per example: the mean over this many training batches (lengths vary)


def run_bench(cfg: Config, run, args) -> None:
    fingerprint = environment_fingerprint()  # the code as it was when the bench started
    seed_everything(cfg.seed)
    use_threads(cfg.torch_threads)
    data = args.checked
    ft = cfg.finetune
    source = resolve_model(cfg.model.name_or_path)
    tokenizer = load_tokenizer(source)
    pad = tokenizer.pad_token_id
    train, val, test = (data.splits[name] for name in ("train", "val", "test"))
    max_len = choose_max_length(
        tokenizer, train["text"].tolist(), cfg.model.max_length_percentile,
        cfg.model.max_length_cap, cfg.model.max_length,
    )["max_length"]  # fmt: skip
    where = bench.device()
    batch_size = device_batch(where, ft.batch_size, ft.gpu_batch_size, ft.lr_scaling).batch_size
    bf16 = use_bf16(ft.bf16, where)
    precision = "bf16 autocast" if bf16 else "fp32"
    warmup = args.warmup  # bucketed batches vary in length: no one epoch covers every shape
    rows_needed = min(len(train), (warmup + args.steps) * batch_size)
    train_ids = tokenize(tokenizer, train["text"].head(rows_needed).tolist(), max_len)
    train_y = train["label"].head(rows_needed).to_numpy()
    val_ids = tokenize(tokenizer, val["text"].head(ft.eval_batch_size).tolist(), max_len)
    val_y = val["label"].head(ft.eval_batch_size).to_numpy()
    test_ids = tokenize(tokenizer, test["text"].tolist(), max_len)
    model = load_classifier(source, data.n_classes)
    flops = bench.TRAIN_FLOPS_PER_FORWARD * _forward_flops(
        model, train_ids, train_y, pad, batch_size, cfg.seed, ft.bucket
    )
    ceiling = bench.matmul_rate(where, "bfloat16" if bf16 else "float32")
    timing = StepTimerCallback(skip_first=warmup)
    steps_cfg = ft.model_copy(update={"epochs": 1, "max_steps": warmup + args.steps,
                                      "patience": 10**6, "val_checks_per_epoch": 1})  # fmt: skip
    print(f"bench: train, {args.steps} steps of {batch_size} (max length {max_len}) after "
          f"{warmup} untimed on {where}")  # fmt: skip
    bench.reset_peak_memory(where)
    fit(model, train_ids, train_y, val_ids, val_y, pad, steps_cfg, cfg.seed, [timing])
    timer = timing.timer.summary()
    rows = [bench.phase_row(
        "train", examples=int(timer["samples"]),
        seconds=timer["data_seconds"] + timer["compute_seconds"],
        data_seconds=timer["data_seconds"], flops_per_example=flops, ceiling=ceiling,
        memory_mib=bench.peak_memory_mib(where), batch_size=batch_size, precision=precision,
        max_length=max_len, bucketed=ft.bucket,
    )]  # fmt: skip
    print(f"bench: inference over {len(test_ids):,} test texts on {where}")  # fp32, as predict
    model = model.to(where)
    predict_logits(model, test_ids, pad, ft.eval_batch_size)  # warm-up: every bucket's shape
    bench.reset_peak_memory(where)
    started = _now(where)
    predict_logits(model, test_ids, pad, ft.eval_batch_size)
    seconds = _now(where) - started
    infer_flops = bench.count_flops(
        lambda: predict_logits(model, test_ids[:256], pad, ft.eval_batch_size)
    ) / min(256, len(test_ids))  # fmt: skip
    rows.append(bench.phase_row(
        "inference", examples=len(test_ids), seconds=seconds, data_seconds=None,
        flops_per_example=infer_flops, ceiling=ceiling, memory_mib=bench.peak_memory_mib(where),
        batch_size=ft.eval_batch_size, precision="fp32", max_length=max_len, bucketed=True,
    ))  # fmt: skip
    bench.write_bench(
        run, pd.DataFrame(rows), config_to_dict(cfg), fingerprint, device=where, steps=args.steps,
        warmup_steps=warmup, inference_warmup=bench.INFERENCE_WARMUP,
        what=f"{model_label(cfg.model.name_or_path)} at max length {max_len}, {args.steps} "
        "fine-tune steps, "
        f"inference over the {len(test_ids):,} test texts.",
    )  # fmt: skip


def model_label(name_or_path: str) -> str:
    return "all-MiniLM-L6-v2 (the offline carrier)" if name_or_path == "carrier" else name_or_path


def _now(where: str) -> float:
    bench.sync(where)
    return time.perf_counter()


def _forward_flops(model, ids, labels, pad, batch_size, seed, bucket) -> float:
    """Forward FLOPs per example over the first batches of the training loader (lengths vary
    from batch to batch), on a copy of the model."""
    model = copy.deepcopy(model).eval()
    loader = make_loader(ids, labels, pad, batch_size, seed, bucket, True)
    total, examples = 0, 0
    for index, batch in enumerate(loader):
        if index == FLOP_BATCHES:
            break

        @torch.no_grad()
        def forward(batch=batch):
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

        total += bench.count_flops(forward)
        examples += len(batch["labels"])
    return total / examples
