"""CLI: python -m project_template train|report|publish --config X.yaml [--set k=v ...]."""

from __future__ import annotations

from pathlib import Path

from mlcraft import cli

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _preflight(cfg, args):
    from project_template.data import read

    return read(cfg.data)  # column, class and file checks before any folder is made


def _train(cfg, run, args):
    from project_template.train import train

    return train(cfg, run, args.checked)


PROJECT = cli.Project(
    name="project_template",
    project_dir=PROJECT_DIR,
    load_config=cli.lazy("project_template.config:load"),
    train=_train,
    blocks=cli.lazy("project_template.report:blocks"),
    preflight=_preflight,
    expected_bytes=5_000_000,
)


main, console = cli.entry_points(PROJECT)


if __name__ == "__main__":
    console()
