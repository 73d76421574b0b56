"""A toy project behind the shared CLI, for the alias-following serve test: a run folder holds
toy.json {"noise": s}; its gate scores are the labels plus s times fixed noise (less is better),
and every answer names the run that gave it. Runs in-process (register, promote, rollback) and
as a real `python -m alias_toy serve` process."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft import cli
from mlcraft.serve import ServedModel, run_metadata

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 1000)
NOISE = RNG.normal(0, 1, 1000)
SLICES = pd.DataFrame({"group": np.where(RNG.random(1000) < 0.5, "a", "b")})


def make_run(folder: Path, noise: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    (folder / "toy.json").write_text(json.dumps({"noise": noise}))
    return folder


def _noise(run: str) -> float:
    return json.loads((Path(run) / "toy.json").read_text())["noise"]


def served(run: str) -> ServedModel:
    _noise(run)  # a run folder without its model is refused here, as a project's loader does

    def predict(rows):
        return [{"probability": row["age"] / 100, "run": Path(run).name} for row in rows]

    return ServedModel("toy", {"age": (float, ...)}, predict, run_metadata(run))


def gate_scores(run: str):
    return Y, Y + _noise(run) * NOISE, SLICES


PROJECT = cli.Project(name="toy", project_dir=Path("."), load_config=None, train=None,
                      blocks=None, serve=served, gate_scores=gate_scores)  # fmt: skip
main, console = cli.entry_points(PROJECT)

if __name__ == "__main__":
    console()
