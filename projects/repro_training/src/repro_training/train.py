"""One training run: an explicit loop on Lightning Fabric, checkpointed so it can be killed anywhere.

Why Fabric and not the Trainer: the Trainer hides the loop state that a bitwise resume needs (its
data-loader position, the RNGs it does not save); Fabric gives Lightning's strategies (DDP over
gloo/NCCL, devices, nodes) while every piece of state stays visible in this file.

run_dir/
  config.yaml          resolved config (rerun with `run --config run_dir/config.yaml`)
  manifest.json        git sha + dirty, uv.lock sha256, data sha256, config, seed, threads, hardware,
                       and at the end the weights' sha256 and test accuracy
  checkpoints/last.pt  the full resumable state, rewritten atomically every N steps and each epoch:
                       weights, optimizer, scheduler, scaler, RNGs, sampler position, and the
                       recorded history with the running sums of the epoch under way
  weights.pt           the final state dict (torch.load(weights_only=True))
  metrics.json         per-epoch history and final metrics
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from lightning.fabric import Fabric
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json, atomic_write_text, sha256_file
from mlcraft.quiet import quiet_lightning
from mlcraft.runs import PARTIAL
from mlcraft.seeding import CUBLAS_WORKSPACE, seed_everything, set_deterministic, tensor_digest
from mlcraft.tracking import TrackedRun, environment_fingerprint

from repro_training import checkpoint as ckpt
from repro_training import data as data_mod
from repro_training.config import Config, to_dict
from repro_training.evaluate import PINNED_FILES
from repro_training.models import ResNet

PROJECT = "repro_training"
# At import, not in train(): ddp_spawn workers import this module (to unpickle _worker) and
# Lightning's import resets its loggers to INFO, so the DDP start-up banner would come back there.
quiet_lightning()
# torch's default thread count in this process, restored for runs that do not pin one (a run that
# pins threads must not leak its setting into the next run in the same process).
DEFAULT_THREADS = torch.get_num_threads()


@dataclass
class RunResult:
    run_dir: Path
    seed: int
    completed: bool
    global_step: int
    weights_sha256: str | None = None
    test_accuracy: float | None = None
    history: list | None = None
    threads: int | None = None


def effective_lr(cfg: Config) -> float:
    """Learning rate scaled to the global batch (Goyal et al. 2017's linear rule by default)."""
    ratio = cfg.train.batch_size / cfg.train.base_batch_size
    scale = {"linear": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[cfg.train.lr_scaling]
    return cfg.train.base_lr * scale


def recorded_history(history: list[dict]) -> list[dict]:
    """The history without wall-clock times: what must be equal between two runs of one recipe
    (an uninterrupted run and a killed-and-resumed one included)."""
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]


def build_model(cfg: Config, num_classes: int) -> ResNet:
    m = cfg.model
    return ResNet(1, num_classes, tuple(m.widths), m.dropout, m.grad_checkpointing, m.stem_stride)


def _schedule(total_steps: int, warmup_fraction: float):
    warmup = max(1, int(total_steps * warmup_fraction))

    def factor(step: int) -> float:  # linear warmup, then cosine to zero
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

    return factor


def _autocast(precision: str, device_type: str = "cpu"):
    """bf16 autocast on the device the model lives on (CPU or CUDA)."""
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def optimization(cfg: Config, net: torch.nn.Module, total_steps: int, device_type: str):
    """SGD with Nesterov momentum, warmup then cosine, and the gradient scaler (a small
    init_scale and growth_interval, so its state actually moves during a run)."""
    optimizer = torch.optim.SGD(
        net.parameters(),
        lr=effective_lr(cfg),
        momentum=cfg.train.momentum,
        weight_decay=cfg.train.weight_decay,
        nesterov=cfg.train.momentum > 0,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(total_steps, cfg.train.warmup_fraction)
    )
    scaler = torch.amp.GradScaler(
        device_type, enabled=cfg.train.grad_scaler, init_scale=2.0**8, growth_interval=5
    )
    return optimizer, scheduler, scaler


def train_step(model, x, y, optimization_state, precision: str, device_type: str, backward):
    """One optimizer step on the batch (x, y); `backward` is Fabric's (or loss.backward)."""
    optimizer, scheduler, scaler = optimization_state
    with _autocast(precision, device_type):
        loss = torch.nn.functional.cross_entropy(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    backward(scaler.scale(loss))
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    return loss


def model_device(net: torch.nn.Module) -> torch.device:
    """Where the model's weights live: every input goes there, whatever the accelerator."""
    return next(net.parameters()).device


@torch.no_grad()
def predict_images(net: torch.nn.Module, images: np.ndarray, mean_std: tuple[float, float],
                   precision: str = "fp32", batch: int = 512) -> np.ndarray:  # fmt: skip
    """Class probabilities of uint8 images (n, h, w), normalised with the training mean/std."""
    net.eval()
    device = model_device(net)
    out = []
    for start in range(0, len(images), batch):
        x = data_mod.to_tensor(images[start : start + batch], *mean_std).to(device)
        with _autocast(precision, device.type):
            out.append(torch.softmax(net(x).float(), dim=1).cpu())
    return torch.cat(out).numpy()


def predict_proba(net: torch.nn.Module, split, precision: str = "fp32", batch: int = 512):
    """The test split's class probabilities."""
    return predict_images(net, split.x_test, split.mean_std, precision, batch)


def write_config(cfg: Config, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def fit(
    cfg: Config,
    seed: int,
    run_dir: str | Path,
    resume: bool = False,
    stop_after_step: int | None = None,
    skip_restore: frozenset[str] = frozenset(),
    tracker: TrackedRun | None = None,
) -> RunResult:
    """Train one seed into run_dir (resuming from its last checkpoint if asked)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    unknown = set(skip_restore) - set(ckpt.STATE_KEYS)
    if unknown:
        raise UserInputError(f"unknown state(s) to skip: {sorted(unknown)}")
    if resume and not (run_dir / "checkpoints" / "last.pt").is_file():
        raise UserInputError(f"nothing to resume: {run_dir / 'checkpoints' / 'last.pt'} is missing")
    split = data_mod.load(cfg.data)  # load (and hash) before any process is spawned
    write_config(cfg, run_dir / "config.yaml")
    if cfg.train.deterministic:  # cuBLAS reads it once, when CUDA starts: before Fabric does
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if not resume:
        _write_manifest(cfg, seed, run_dir, split, status="running")

    fabric = Fabric(
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices,
        num_nodes=cfg.train.num_nodes,
        strategy=cfg.train.strategy if cfg.train.devices * cfg.train.num_nodes > 1 else "auto",
        precision="32-true",  # autocast is applied explicitly below, so fp32/bf16 is one switch
    )
    own_tracker = None
    if tracker is None and cfg.tracking:
        own_tracker = tracker = TrackedRun(PROJECT, to_dict(cfg), seed, run_name=run_dir.name)
        own_tracker.__enter__()
    try:
        result = fabric.launch(_worker, cfg, seed, run_dir, resume, stop_after_step, skip_restore)
        if result.completed:
            _write_manifest(cfg, seed, run_dir, split, status="finished", result=result)
        if tracker is not None:
            for name, info in split.files.items():
                tracker.data_files[name] = info
            prefix = "" if own_tracker else f"{run_dir.name}/"
            for row in result.history or []:
                tracker.log_metrics(
                    {f"{prefix}{k}": v for k, v in row.items() if k != "epoch"}, step=row["epoch"]
                )
            tracker.log_artifact(run_dir / "manifest.json", artifact_path=run_dir.name)
    except BaseException as exc:
        if own_tracker is not None:
            own_tracker.__exit__(type(exc), exc, exc.__traceback__)
        raise
    if own_tracker is not None:
        own_tracker.__exit__(None, None, None)
    return result


def _worker(
    fabric: Fabric,
    cfg: Config,
    seed: int,
    run_dir: Path,
    resume: bool,
    stop_after_step: int | None,
    skip_restore: frozenset[str],
) -> RunResult:
    rank, world = fabric.global_rank, fabric.world_size
    if cfg.train.threads is not None:
        torch.set_num_threads(cfg.train.threads)
    elif world > 1:  # ranks on one machine share its cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // fabric.strategy.num_processes))
    else:
        torch.set_num_threads(DEFAULT_THREADS)
    # Seeding before building the model makes the initial weights a function of the seed; each rank
    # gets its own augmentation stream (seed + rank) but the same initial weights (DDP broadcasts).
    seed_everything(seed + rank)
    set_deterministic(cfg.train.deterministic)
    torch.manual_seed(seed)
    split = data_mod.load(cfg.data)
    net = build_model(cfg, len(split.classes))
    torch.manual_seed(seed + rank)
    sampler = data_mod.EpochSampler(len(split.y_train), cfg.train.batch_size, seed, rank, world)
    total_steps = cfg.train.epochs * sampler.steps_per_epoch
    model = fabric.setup_module(net)  # moves the weights to the device (CPU or CUDA)
    device = fabric.device
    optimizer, scheduler, scaler = optimization(cfg, net, total_steps, device.type)

    epoch, step_in_epoch, global_step, history = 0, 0, 0, []
    # The epoch under way: running loss sum and step count, and the seconds trained so far. They
    # are checkpointed with the history, so a resumed epoch records exactly what an uninterrupted
    # one does (not just the steps after the resume).
    running = {"loss_sum": 0.0, "steps": 0, "seconds": 0.0}
    last = run_dir / "checkpoints" / "last.pt"
    if resume:
        state = ckpt.load(last)
        net.load_state_dict(state["model"])
        if "optimizer" not in skip_restore:
            optimizer.load_state_dict(state["optimizer"])
        if "scheduler" not in skip_restore:
            scheduler.load_state_dict(state["scheduler"])
        if "scaler" not in skip_restore:
            scaler.load_state_dict(state["scaler"])
        ckpt.restore_rng(state["rng"], skip_restore)
        epoch, global_step = state["sampler"]["epoch"], state["global_step"]
        step_in_epoch = 0 if "sampler" in skip_restore else state["sampler"]["step"]
        if "history" not in skip_restore:
            history = [dict(row) for row in state["history"]]
            if step_in_epoch:
                running = dict(state["running"])

    def save_checkpoint(next_epoch: int, next_step: int) -> None:
        if rank != 0:
            return
        ckpt.save(last, {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": ckpt.capture_rng(),
            "sampler": {"epoch": next_epoch, "step": next_step},
            "global_step": global_step,
            "history": history,
            "running": running,
        })  # fmt: skip

    def final_state() -> dict[str, Any]:
        return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": ckpt.capture_rng(),
                "history": recorded_history(history)}  # fmt: skip

    every = cfg.train.checkpoint_every_steps
    while epoch < cfg.train.epochs:
        model.train()
        started, seconds_before = time.perf_counter(), running["seconds"]
        for step, idx in sampler.batches(epoch, step_in_epoch):
            x, y = data_mod.make_batch(split, idx, train=True, augment_on=cfg.train.augment)
            x, y = fabric.to_device((x, y))  # batches are built on the CPU
            loss = train_step(model, x, y, (optimizer, scheduler, scaler), cfg.train.precision,
                              device.type, fabric.backward)  # fmt: skip
            global_step += 1
            running["loss_sum"] += loss.item()
            running["steps"] += 1
            running["seconds"] = seconds_before + time.perf_counter() - started
            mid_epoch = step + 1 < sampler.steps_per_epoch
            if mid_epoch and (global_step % every == 0 or global_step == stop_after_step):
                save_checkpoint(epoch, step + 1)
            if stop_after_step is not None and global_step >= stop_after_step and mid_epoch:
                return _partial(run_dir, seed, global_step, final_state())
            if cfg.train.step_sleep_s:
                time.sleep(cfg.train.step_sleep_s)
        steps = running["steps"]
        row = {"epoch": epoch,
               "train_loss": running["loss_sum"] / steps if steps else float("nan"),
               "epoch_seconds": seconds_before + time.perf_counter() - started,
               "lr": scheduler.get_last_lr()[0]}  # fmt: skip
        if rank == 0:
            probs = predict_proba(net, split, cfg.train.precision)
            row["test_accuracy"] = float((probs.argmax(1) == split.y_test).mean())
            print(f"[{run_dir.name}] epoch {epoch}: " + ", ".join(
                f"{k}={v:.4g}" for k, v in row.items() if k != "epoch"), file=sys.stderr)  # fmt: skip
        history.append(row)
        epoch, step_in_epoch = epoch + 1, 0
        running = {"loss_sum": 0.0, "steps": 0, "seconds": 0.0}
        save_checkpoint(epoch, 0)
        if stop_after_step is not None and global_step >= stop_after_step:
            return _partial(run_dir, seed, global_step, final_state())

    weights = net.state_dict()
    if world > 1:  # each rank records its parameters: DDP keeps them identical (a test checks);
        # BatchNorm running stats are per rank (broadcast from rank 0 only at each forward).
        params = {k: v for k, v in net.named_parameters()}
        atomic_write_text(run_dir / f"rank{rank}.params_sha256", tensor_digest(params))
    if rank != 0:
        return RunResult(run_dir, seed, True, global_step)
    ckpt.save(run_dir / "weights.pt", weights)
    probs = predict_proba(net, split, cfg.train.precision)
    np.save(run_dir / "test_probs.npy", probs)
    result = RunResult(
        run_dir, seed, True, global_step,
        weights_sha256=tensor_digest(weights),
        test_accuracy=float((probs.argmax(1) == split.y_test).mean()),
        history=history,
        threads=torch.get_num_threads(),
    )  # fmt: skip
    atomic_write_json(run_dir / "metrics.json", {
        "seed": seed, "global_step": global_step, "weights_sha256": result.weights_sha256,
        "test_accuracy": result.test_accuracy, "history": history, "world_size": world,
        "threads": result.threads, "final_state_sha256": ckpt.nested_digest(final_state()),
    })  # fmt: skip
    return result


def _partial(run_dir: Path, seed: int, global_step: int, state: dict) -> RunResult:
    atomic_write_json(run_dir / "stopped.json", {"global_step": global_step})
    return RunResult(run_dir, seed, False, global_step)


def _portable(arg: str, run_dir: Path) -> str:
    """A command-line path inside the run folder or inside a train run's staging folder,
    relative to the run folder: staging folders (`<run-id>.partial`) are renamed when they
    complete, and the manifest must still read true then."""
    if "/" not in arg:
        return arg
    path = Path(arg).absolute()
    here = run_dir.absolute()
    if here in (path, *path.parents) or any(p.endswith(PARTIAL) for p in path.parts):
        return os.path.relpath(path, here)
    return arg


def _write_manifest(cfg, seed, run_dir, split, status, result: RunResult | None = None) -> None:
    argv = list(sys.argv)
    if argv and argv[0].endswith("__main__.py"):  # python -m repro_training ...
        argv[0:1] = ["-m", PROJECT]
    command = [Path(sys.executable).name, *(_portable(a, run_dir) for a in argv)]
    manifest = {
        "project": PROJECT,
        "status": status,
        "seed": seed,
        "config": to_dict(cfg),
        "data_digest": split.digest,
        # What predict needs without the training data: input shape, normalisation, class names.
        "input": {
            "image_shape": list(split.x_train.shape[1:]),
            "mean_std": list(split.mean_std),
            "classes": list(split.classes),
        },  # fmt: skip
        "threads": cfg.train.threads or torch.get_num_threads(),
        "deterministic": cfg.train.deterministic,
        "command": " ".join(command),
        "environment": environment_fingerprint(split.files),
    }
    if result is not None:
        manifest.update(weights_sha256=result.weights_sha256, test_accuracy=result.test_accuracy,
                        global_step=result.global_step, threads=result.threads)  # fmt: skip
        # Every model file pinned by sha256 (mlcraft.trusted): predict and evaluate check them
        # before anything is loaded.
        manifest["sha256"] = {name: sha256_file(run_dir / name) for name in PINNED_FILES}
    atomic_write_json(run_dir / "manifest.json", manifest)


def final_state_digest(run_dir: str | Path) -> str:
    """Digest of optimizer+scheduler+scaler+RNG at the end of a run (read back from metrics.json)."""
    import json

    return json.loads((Path(run_dir) / "metrics.json").read_text())["final_state_sha256"]
