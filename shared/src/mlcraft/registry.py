"""Shipping a new model without breaking things: the MLflow Model Registry with two aliases.

- `register(run_dir, ...)` adds a complete run's model/ as a new version of `<project>` and points
  the alias `challenger` at it (the first version ever registered becomes `champion` too).
- `gate(...)` compares challenger with champion on the same gate rows: the paired-bootstrap CI of
  (challenger - champion) must exclude a loss larger than `tolerance`, and no slice with at least
  `min_slice_rows` rows may drop by more than `slice_tolerance`.
- `promote(...)` moves `champion` only when the gate passed; otherwise it refuses, naming the
  failing check. The version it replaced is kept as `previous`, so `rollback` is one call.
- `serve --model models:/<name>@<alias>` follows an alias (`parse_model_uri`, `version_of`), so a
  promote or a rollback is live without a redeploy (mlcraft.serve).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.errors import UserInputError
from mlcraft.stats import paired_bootstrap_diff

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")


def _client(tracking_uri: str | None):
    import os

    from mlflow import MlflowClient

    # a CLI verb: an unreachable tracking server is one error in seconds, not minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")

    from mlcraft.tracking import default_tracking_uri

    return MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())


def _version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None  # no such model or alias yet
        raise UserInputError(f"registry: {exc.message.splitlines()[0]}") from None


def register(run_dir: str | Path, name: str, tracking_uri: str | None = None,
             tags: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """A new version of `name` whose source is the run's model/ folder, aliased challenger."""
    from mlflow.exceptions import MlflowException

    run_dir = Path(run_dir).absolute()
    client = _client(tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise UserInputError(f"registry: {exc.message.splitlines()[0]}") from None
        client.create_registered_model(name, description=f"{name}: runs registered by mlcraft")
    for known in client.search_model_versions(f"name='{name}'"):
        if known.tags.get("run_dir") == str(run_dir):
            raise UserInputError(f"registry: {run_dir} is already {name} version {known.version}")
    version = client.create_model_version(
        name, source=(run_dir / "model").as_uri(), tags={"run_dir": str(run_dir), **(tags or {})}
    )
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    if _version(client, name, CHAMPION) is None:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    return {"name": name, "version": int(version.version), "run_dir": str(run_dir)}


def parse_model_uri(text: str) -> tuple[str, str] | None:
    """models:/<name>@<alias> -> (name, alias); None for anything else (a run folder). Another
    models:/ form (a version number, no alias) is refused, not taken for a folder."""
    if not text.startswith("models:/"):
        return None
    match = MODEL_URI.fullmatch(text)
    if match is None:
        raise UserInputError(f"--model={text}: write models:/<model>@<alias>, e.g. @{CHAMPION}")
    return match["name"], match["alias"]


def run_dir_of(name: str, alias: str, tracking_uri: str | None = None) -> Path:
    return version_of(name, alias, tracking_uri)[1]


def version_of(name: str, alias: str, tracking_uri: str | None = None) -> tuple[int, Path]:
    """(version number, run folder) that `alias` names now: what serve follows."""
    version = _version(_client(tracking_uri), name, alias)
    if version is None:
        raise UserInputError(
            f"registry: model '{name}' has no '{alias}' version; `register --model RUN` first"
        )
    run_dir = Path(version.tags["run_dir"])
    if not run_dir.is_dir():
        raise UserInputError(
            f"registry: {name} {alias} (version {version.version}) points at {run_dir}, which no "
            "longer exists; register and promote another run, or roll back"
        )
    return int(version.version), run_dir


@dataclass
class GateResult:
    diff: dict[str, float]  # challenger - champion: diff, lo, hi
    slices: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def gate(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    slices: pd.DataFrame,
    tolerance: float,
    slice_tolerance: float,
    min_slice_rows: int = 200,
    n_boot: int = 1000,
    seed: int = 0,
) -> GateResult:
    """Both models' scores on the same gate rows; `slices` holds one column per slicing feature."""
    diff = paired_bootstrap_diff(metric, y, challenger, champion, n_boot=n_boot, seed=seed)
    failures = []
    if diff["lo"] < -tolerance:
        failures.append(
            f"overall: challenger - champion = {diff['diff']:+.4f} [{diff['lo']:+.4f}, "
            f"{diff['hi']:+.4f}], the CI does not exclude a loss over {tolerance}"
        )
    rows = []
    for column in slices.columns:
        for value, index in slices.groupby(column, observed=True).indices.items():
            if len(index) < min_slice_rows or len(np.unique(y[index])) < 2:
                continue
            drop = metric(y[index], champion[index]) - metric(y[index], challenger[index])
            rows.append({"slice": f"{column}={value}", "rows": len(index), "drop": drop,
                         "failed": drop > slice_tolerance})  # fmt: skip
    table = pd.DataFrame(rows, columns=["slice", "rows", "drop", "failed"])
    for row in table[table["failed"]].itertuples():
        failures.append(f"slice {row.slice} ({row.rows} rows) drops by {row.drop:.4f}")
    return GateResult(diff, table, failures)


def promote(name: str, result: GateResult, tracking_uri: str | None = None) -> dict[str, Any]:
    """champion := challenger if the gate passed; the replaced champion becomes `previous`."""
    if not result.passed:
        raise UserInputError(f"promote refused: {result.failures[0]}"
                             + (f" (and {len(result.failures) - 1} more)"
                                if len(result.failures) > 1 else ""))  # fmt: skip
    client = _client(tracking_uri)
    challenger, champion = _version(client, name, CHALLENGER), _version(client, name, CHAMPION)
    if challenger is None:
        raise UserInputError(f"registry: model '{name}' has no challenger; register a run first")
    if champion is not None and champion.version != challenger.version:
        client.set_registered_model_alias(name, PREVIOUS, champion.version)
    client.set_registered_model_alias(name, CHAMPION, challenger.version)
    return {"name": name, "champion": int(challenger.version)}


def rollback(name: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """champion := previous (one step back); refuses when there is no previous champion."""
    client = _client(tracking_uri)
    previous = _version(client, name, PREVIOUS)
    if previous is None:
        raise UserInputError(f"rollback: model '{name}' has no previous champion")
    current = _version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, previous.version)
    client.delete_registered_model_alias(name, PREVIOUS)
    return {"name": name, "champion": int(previous.version),
            "rolled_back_from": int(current.version) if current else None}  # fmt: skip
