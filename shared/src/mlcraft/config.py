"""Typed configs: YAML files validated by pydantic models, with `--set key=value` overrides.

An unknown key or a bad value raises UserInputError naming the key, so a typo in a config never
silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlcraft.errors import UserInputError

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise UserInputError(f"--set {dotted}: '{key}' is not a section")
        node = child
    node[keys[-1]] = value


NULLS = ("", "null", "~", "Null", "NULL")


def _field_type(model: type[BaseModel] | None, dotted: str) -> Any:
    """The annotation of a dotted config key in the model, or None when it is not a field."""
    annotation: Any = model
    for key in dotted.split("."):
        fields = getattr(annotation, "model_fields", None)
        if not fields or key not in fields:
            return None
        annotation = fields[key].annotation
        for arg in get_args(annotation):  # `Section | None`: walk into the section
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                annotation = arg
    return annotation


def _text_kind(annotation: Any) -> str | None:
    """ "text" for str / str | None, "texts" for list[str] (| None), else None."""
    options = [a for a in (get_args(annotation) if get_origin(annotation) in (Union, UnionType)
                           else (annotation,)) if a is not type(None)]  # fmt: skip
    if options == [str]:
        return "text"
    if len(options) == 1 and get_origin(options[0]) is list and get_args(options[0]) == (str,):
        return "texts"
    return None


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text


def _parse_value(raw: str, kind: str | None) -> Any:
    """YAML, except for text fields: `yes`, `1`, `?` stay the text typed (YAML would read a
    boolean, a number, a mapping key); `null` (or nothing) is still no value."""
    if raw in NULLS:
        return None
    if kind == "text":
        return _unquote(raw)
    if kind == "texts" and raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip()
        return [_unquote(item) for item in inner.split(",")] if inner else []
    return yaml.safe_load(raw)


def parse_overrides(
    overrides: list[str] | None, model: type[BaseModel] | None = None
) -> list[tuple[str, Any]]:
    parsed = []
    for item in overrides or []:
        if "=" not in item:
            raise UserInputError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            parsed.append((key, _parse_value(raw, _text_kind(_field_type(model, key)))))
        except yaml.YAMLError:
            raise UserInputError(f"--set {key}: {raw!r} is not a valid value") from None
    return parsed


def load_config(path: str | Path, model: type[T], overrides: list[str] | None = None) -> T:
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"--config={path}: is a folder, not a YAML file")
    if not path.is_file():
        raise UserInputError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"--config={path}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserInputError(f"config {path} is not valid YAML: {exc}") from None
    if raw is None:
        # Every key has a default, so an empty file would silently run the reference budget.
        raise UserInputError(
            f"--config={path}: the file sets no keys; start from configs/default.yaml"
        )
    if not isinstance(raw, dict):
        raise UserInputError(f"config {path} must be a mapping at the top level")
    for key, value in parse_overrides(overrides, model):
        _set_dotted(raw, key, value)
    return validate_config(raw, model, source=str(path))


def validate_config(raw: dict[str, Any], model: type[T], source: str = "config") -> T:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        if first["type"] == "extra_forbidden":
            raise UserInputError(f"{source}: unknown config key '{key}'") from None
        raise UserInputError(f"{source}: bad value for '{key}': {first['msg']}") from None


def config_to_dict(config: BaseModel) -> dict[str, Any]:
    return config.model_dump(mode="json")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; used to log nested configs as MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
