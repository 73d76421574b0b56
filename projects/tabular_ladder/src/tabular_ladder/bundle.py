"""The deployable model: preprocessing (skops), LightGBM booster (text), calibration map (skops),
and meta.json with the input schema, data hash, code version and the cost-tuned threshold.

Loading first checks every file against the bundle's manifest (sha256), then loads the skops
files with an exact allow-list: the full names of the only types this writer produces beyond
skops' own defaults. Nothing is trusted by prefix: a shared bundle naming `builtins.eval` or
`numpy.ravel` (a prefix-trusted Pipeline of them runs code) is refused before it is loaded.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from mlcraft.predictions import OK
from mlcraft.tracking import environment_fingerprint
from mlcraft.trusted import load_skops, verify_manifest, write_manifest
from sklearn.calibration import CalibratedClassifierCV

from tabular_ladder.data import as_category_strings
from tabular_ladder.preflight import BUNDLE_FILES

# What save_bundle writes beyond skops' default-trusted types: the sigmoid calibrator (the
# isotonic one and the ColumnTransformer preprocessing are trusted by skops itself).
TRUSTED_TYPES = frozenset({"sklearn.calibration._SigmoidCalibration"})
FILES = BUNDLE_FILES


def save_bundle(
    folder: Path,
    calibrated: CalibratedClassifierCV,
    X_example: pd.DataFrame,
    threshold: float,
    data_sha256: str,
    extra: dict[str, Any],
) -> Path:
    """Write the bundle of a calibrate_prefit(LightGBM pipeline) model; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = calibrated.estimator.estimator  # CalibratedClassifierCV(FrozenEstimator(pipeline))
    calibrator = calibrated.calibrated_classifiers_[0].calibrators[0]
    fingerprint = environment_fingerprint()
    source = Path(__file__).resolve().parent
    schema = [
        {"name": c, "kind": "numeric" if pd.api.types.is_numeric_dtype(X_example[c]) else
         "categorical"} for c in X_example.columns
    ]  # fmt: skip
    meta = {
        "format": "tabular_ladder.bundle/1",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "schema": schema,
        "threshold": float(threshold),
        "calibration": calibrated.method,
        "calibrator_input": "lightgbm raw score (log-odds)",
        "data_sha256": data_sha256,
        "code_version": {
            "package": md.version("tabular-ladder"),
            # from the source folder, not the cwd: the code that built the model
            "git_sha": _git(source, "rev-parse", "HEAD"),
            "git_dirty": bool(_git(source, "status", "--porcelain", "--untracked-files=no")),
        },
        "packages": fingerprint["packages"],
        **extra,
    }
    atomic_write_bytes(folder / "prep.skops", sio.dumps(pipeline.named_steps["prep"]))
    atomic_write_text(
        folder / "model.txt", pipeline.named_steps["model"].booster_.model_to_string()
    )
    atomic_write_bytes(folder / "calibrator.skops", sio.dumps(calibrator))
    atomic_write_json(folder / "meta.json", meta)
    write_manifest(folder, list(FILES))  # last: a bundle without its manifest is incomplete
    return folder


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@dataclass
class Bundle:
    prep: Any
    booster: lgb.Booster
    calibrator: Any
    meta: dict[str, Any]

    @property
    def columns(self) -> list[str]:
        return [c["name"] for c in self.meta["schema"]]

    def prepare(
        self, frame: pd.DataFrame, source: str = "input"
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """The schema's columns in training order, typed, and a status per row: OK, or why the
        row cannot be scored. A required column absent from the file is an error naming it."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise UserInputError(f"{source}: missing column(s) {missing} required by the model")
        out = frame[self.columns].copy()
        status = np.full(len(out), OK, dtype=object)
        for column in self.meta["schema"]:
            name = column["name"]
            if column["kind"] == "numeric":
                converted = pd.to_numeric(out[name], errors="coerce")
                bad = (converted.isna() & out[name].notna()).to_numpy()
                status[bad & (status == OK)] = f"column '{name}' not numeric"
                out[name] = converted.astype(float)
            else:
                out[name] = as_category_strings(out[name])
        empty = out.isna().all(axis=1).to_numpy() & (status == OK)
        status[empty] = "every model column missing"
        return out, status

    def check(self, frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
        """prepare() for a frame that must be scorable as a whole (evaluate): any bad row is an
        error naming its column."""
        out, status = self.prepare(frame, source)
        bad = status != OK
        if bad.any():
            raise UserInputError(f"{source}: {int(bad.sum())} row(s) not scorable, e.g. "
                                 f"row {int(np.flatnonzero(bad)[0])}: {status[bad][0]}")  # fmt: skip
        return out

    def score(self, prepared: pd.DataFrame) -> np.ndarray:
        # CalibratedClassifierCV fitted its map on decision_function, i.e. LightGBM's raw
        # log-odds score, so the map is applied to the raw score here too.
        raw = self.booster.predict(self.prep.transform(prepared), raw_score=True)
        return np.clip(self.calibrator.predict(raw), 0.0, 1.0)

    def predict_proba(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        return self.score(self.check(frame, source))


def load_bundle(folder: str | Path) -> Bundle:
    folder = Path(folder)
    if (folder / "model").is_dir() and not (folder / "meta.json").exists():
        folder = folder / "model"  # accept the run folder as well as its model/ subfolder
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise UserInputError(f"{folder} is not a complete model bundle (missing {missing})")
    verify_manifest(folder)  # every file as written, before any of them is parsed
    meta = json.loads((folder / "meta.json").read_text())
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    return Bundle(
        load_skops(folder / "prep.skops", TRUSTED_TYPES),
        booster,
        load_skops(folder / "calibrator.skops", TRUSTED_TYPES),
        meta,
    )
