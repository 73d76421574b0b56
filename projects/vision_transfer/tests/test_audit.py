"""The data audit: identical images across splits and unreadable files, named and counted;
data.audit=error stops before any run folder is made."""

from __future__ import annotations

import shutil

import pandas as pd
from conftest import PROJECT
from mlcraft.cli import run_cli
from vision_transfer import data
from vision_transfer.__main__ import main
from vision_transfer.audit import audit, audit_block, write_audit
from vision_transfer.config import DataConfig

FOLDER = str(PROJECT / "configs" / "folder_example.yaml")


def messy_folder(tmp_path):
    """A generated ImageFolder where every image is there twice and one file is corrupt."""
    root = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=10, size=32)
    for path in list(root.rglob("*.png")):
        shutil.copy(path, path.with_name("copy-" + path.name))
    (root / "plain" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def test_duplicates_across_splits_and_unreadable_files_are_findings(tmp_path):
    cfg = DataConfig(kind="folder", path=str(messy_folder(tmp_path)), image_size=32)
    loaded = data.load(cfg)
    findings = audit("warn", loaded, data.split(loaded, cfg))
    kinds = [f.kind for f in findings]
    assert "overlap" in kinds and "unreadable" in kinds
    unreadable = next(f for f in findings if f.kind == "unreadable")
    assert "1 image file(s)" in unreadable.detail and "broken.png: " in unreadable.detail
    write_audit(tmp_path, findings)
    assert len(pd.read_csv(tmp_path / "audit.csv")) == len(findings)
    assert audit_block(tmp_path).startswith(f"> **Data audit: {len(findings)} finding(s).**")
    assert audit("off", loaded, data.split(loaded, cfg)) == []


def test_clean_data_has_no_findings(tmp_path):
    cfg = DataConfig(kind="synthetic", synthetic_per_class=12, image_size=32)
    loaded = data.load(cfg)
    assert audit("error", loaded, data.split(loaded, cfg)) == []


def test_audit_error_stops_before_training(tmp_path, capsys, scratch_runs):
    root = messy_folder(tmp_path)
    argv = ["train", "--config", FOLDER, "--set", f"data.path={root}", "--set", "data.audit=error"]
    assert run_cli(main, argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "data.audit=error" in lines[0], lines
    assert not scratch_runs.exists()  # stopped in pre-flight: no run folder
