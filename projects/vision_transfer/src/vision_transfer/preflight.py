"""Pre-flight: every check a user's input can fail, before any folder is made or anything trained.

Order: the run folder can be written (and the disk has room), the model weights are there, the
data is there (with per-class image counts), then the data is loaded and split, so a one-class set,
an unreadable image folder or a split without both classes fails in seconds. The loaded data set
and split are handed to the verb (args.checked), so nothing is loaded twice. Cheap checks come
first and import nothing heavy (no torch, timm or scikit-learn).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcraft.errors import UserInputError
from mlcraft.inputs import existing_file
from mlcraft.runs import check_free_disk, check_writable_dir, complete_run, runs_root

from .config import Config, DataConfig, ModelConfig
from .sources import CARRIERS, class_folders, image_files

PROJECT = "vision_transfer"
# What a train run writes: model.safetensors (~14 MB for EfficientNet-Lite0), plots and tables.
EXPECTED_BYTES = 60_000_000


@dataclass
class Checked:
    """What the checks loaded, for the verb to reuse."""

    dataset: Any  # data.ImageSet
    split: dict[str, Any]  # name -> sorted indices
    model_meta: dict[str, Any] | None = None  # evaluate: the --model run's model.json
    audit: list[Any] | None = None  # mlcraft.audit findings (None: not audited)


def expected_bytes(verb: str) -> int:
    return EXPECTED_BYTES if verb == "train" else EXPECTED_BYTES // 10


def check(cfg: Config, args: argparse.Namespace) -> Checked:
    check_run_dir(args.run_dir, expected_bytes(args.verb))
    if args.verb == "train" and cfg.finetune.augment == "auto" and not cfg.ablation.enabled:
        raise UserInputError(
            "finetune.augment=auto: chosen by the ablation, but ablation.enabled=false; "
            "enable the ablation or name a policy (none, geometric, photometric, aggressive)"
        )
    meta = None
    if args.verb == "evaluate":
        meta = check_model_run(args.model)
    else:
        check_model(cfg.model)
        for name in cfg.recipe.backbones:  # the recipe search's backbones, before any training
            try:
                check_model(cfg.model.model_copy(update={"name": name}))
            except UserInputError as exc:
                raise UserInputError(f"recipe.backbones: {exc}") from None
    if args.verb == "search":
        check_storage(cfg.search.storage)
    check_data(cfg.data)
    data_cfg = cfg.data
    if meta is not None:  # score at the size the model was trained at
        data_cfg = data_cfg.model_copy(update={"image_size": int(meta["image_size"])})
    from . import data

    dataset = data.load(data_cfg, cfg.seed)
    split = data.split(dataset, data_cfg, cfg.seed)
    if meta is not None and list(meta["classes"]) != list(dataset.classes):
        raise UserInputError(
            f"--model={args.model}: trained on classes {meta['classes']}, "
            f"the configured data has {dataset.classes}"
        )
    findings = None
    if args.verb == "train":
        from .audit import audit

        findings = audit(cfg.data.audit, dataset, split)  # data.audit=error stops here
    return Checked(dataset, split, meta, findings)


def check_run_dir(run_dir: str | None, need_bytes: int) -> None:
    """The run folder is new, its parent writable, with room for the run (as open_run checks
    again later, but before the data is loaded)."""
    if run_dir:
        target, key = Path(run_dir).absolute(), "--run-dir"
        if target.exists() or target.with_name(target.name + ".partial").exists():
            raise UserInputError(
                f"--run-dir={target}: already exists (a run never overwrites another)"
            )
    else:
        target, key = runs_root(PROJECT), "runs folder"
    # Both look at the nearest folder that exists above the target; the message names the target.
    check_writable_dir(target, key)
    check_free_disk(target, need_bytes, key)


def check_model(cfg: ModelConfig) -> None:
    """The pretrained weights the config names are on this machine, for an architecture timm has."""
    if cfg.pretrained and cfg.pretrained_file:
        existing_file(cfg.pretrained_file, "model.pretrained_file")
    elif cfg.pretrained and cfg.source == "carrier":
        if cfg.name not in CARRIERS:
            raise UserInputError(
                f"model.name={cfg.name}: model.source=carrier carries {sorted(CARRIERS)} "
                "weights only; set model.source=hub (online) or model.pretrained_file=<checkpoint>"
            )
        from mlcraft.carriers import locate

        locate(CARRIERS[cfg.name])  # installed, and the sha256 matches
    if cfg.name not in CARRIERS:
        import timm

        if not timm.is_model(cfg.name):
            close = timm.list_models(f"*{cfg.name.split('.')[0][:12]}*")[:5]
            hint = f" (similar: {', '.join(close)})" if close else ""
            raise UserInputError(f"model.name={cfg.name}: not a timm architecture{hint}")


def check_storage(url: str | None) -> None:
    """A file-backed Optuna storage can be created where the config says."""
    from mlcraft.search import default_storage_url

    url = url or default_storage_url()
    for prefix in ("sqlite:///", "journal:"):
        if url.startswith(prefix):
            path = Path(url.removeprefix(prefix))
            if path.is_dir():
                raise UserInputError(f"search.storage={url}: {path} is a folder, not a file")
            check_writable_dir(path.parent, "search.storage")


def check_data(cfg: DataConfig) -> None:
    if cfg.kind == "elpv":
        from mlcraft import elpv
        from mlcraft.carriers import locate

        locate(elpv.LABELS)  # the elpv-dataset carrier is installed and its labels pinned
    elif cfg.kind == "folder":
        folder_counts(cfg.path)
    elif cfg.kind == "fashion_mnist":
        check_fashion_mnist(cfg)


def folder_counts(path: str | None) -> dict[str, int]:
    """Image files per class sub-folder; an error unless >= 2 classes, each with images."""
    if not path:
        raise UserInputError(
            "data.kind=folder needs data.path=<root with one sub-folder per class>"
        )
    root = Path(path)
    if not root.exists():
        raise UserInputError(f"data.path={root}: no such folder")
    if not root.is_dir():
        raise UserInputError(f"data.path={root}: is a file; give the folder holding class folders")
    counts = {name: len(image_files(root / name)) for name in class_folders(root)}
    shown = ", ".join(f"{name}: {n}" for name, n in counts.items()) or "none"
    with_images = [name for name, n in counts.items() if n]
    if len(with_images) < 2:
        raise UserInputError(
            f"data.path={root}: needs at least 2 class sub-folders with images, "
            f"found {len(with_images)} (image files per class folder: {shown})"
        )
    empty = [name for name, n in counts.items() if not n]
    if empty:
        raise UserInputError(
            f"data.path={root}: class folder(s) without images {empty} "
            f"(image files per class folder: {shown}); remove them or add images"
        )
    print(f"data.path={root}: {len(counts)} classes ({shown} image files)")
    return counts


def check_fashion_mnist(cfg: DataConfig) -> None:
    from . import data

    folder = Path(cfg.path) if cfg.path else data.FASHION_DEBIAN_DIR
    if cfg.source == "torchvision":
        return  # downloaded at load time (needs the internet)
    missing = [stem for stem, found in data.fashion_files(folder).items() if found is None]
    if missing and (cfg.source == "debian" or cfg.path):
        raise UserInputError(
            f"data.path={folder}: Fashion-MNIST files missing ({', '.join(missing)}); "
            f"{data.FASHION_HOW_TO}"
        )
    if missing:
        print(f"Fashion-MNIST not in {folder}: trying torchvision's download (needs the internet)")


def check_model_run(path: str | Path, key: str = "--model") -> dict[str, Any]:
    """A complete train run folder holding model/model.json and model/model.safetensors, both
    unchanged since training (model/manifest.json); returns model.json."""
    from mlcraft.trusted import verify_manifest

    run = complete_run(path, key, ("model/model.json", "model/model.safetensors"))
    verify_manifest(run / "model")  # a changed or swapped byte is refused before anything is read
    meta_path = run / "model" / "model.json"
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise UserInputError(f"{key}={run}: model/model.json is not valid JSON ({exc})") from None
    missing = [k for k in ("arch", "classes", "image_size", "mean", "std") if k not in meta]
    if missing:
        raise UserInputError(f"{key}={run}: model/model.json lacks {missing}")
    return meta
