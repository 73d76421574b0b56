"""Pre-flight checks, in process: each bad input is one UserInputError naming the key and value."""

from __future__ import annotations

import argparse
import json

import pytest
from conftest import PROJECT, SMOKE
from mlcraft.errors import UserInputError
from mlcraft.trusted import write_manifest
from vision_transfer import data, preflight
from vision_transfer.config import DataConfig, ModelConfig, load
from vision_transfer.models import MODEL_FILES


def test_folder_counts_show_every_class(tmp_path, capsys):
    root = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=3, size=16)
    (root / "plain" / "notes.txt").write_text("not an image")
    assert preflight.folder_counts(str(root)) == {"cracked": 3, "plain": 3}
    assert "2 classes (cracked: 3, plain: 3 image files)" in capsys.readouterr().out
    (root / "empty").mkdir()
    with pytest.raises(UserInputError, match=r"without images \['empty'\].*empty: 0"):
        preflight.folder_counts(str(root))
    for name in ("empty", "cracked"):
        for path in (root / name).glob("*"):
            path.unlink()
        (root / name).rmdir()
    with pytest.raises(UserInputError, match="found 1 .*plain: 3"):
        preflight.folder_counts(str(root))
    with pytest.raises(UserInputError, match="data.path=.*: is a file"):
        preflight.folder_counts(str(root / "plain" / "notes.txt"))
    with pytest.raises(UserInputError, match="needs data.path"):
        preflight.check_data(DataConfig(kind="folder"))


def test_model_checks():
    preflight.check_model(ModelConfig())  # the carrier is installed and pinned
    preflight.check_model(ModelConfig(pretrained=False, name="resnet18"))
    with pytest.raises(UserInputError, match="model.name=resnet18: model.source=carrier"):
        preflight.check_model(ModelConfig(name="resnet18"))
    with pytest.raises(UserInputError, match="model.name=resnet_nope: not a timm architecture"):
        preflight.check_model(ModelConfig(name="resnet_nope", source="hub"))
    with pytest.raises(UserInputError, match="model.pretrained_file=.*no such file"):
        preflight.check_model(ModelConfig(pretrained_file="/nonexistent/w.pth"))


def test_model_run_checks(tmp_path):
    run = tmp_path / "train-x"
    (run / "model").mkdir(parents=True)
    with pytest.raises(UserInputError, match="not a complete run folder"):
        preflight.check_model_run(run)
    (run / "run.json").write_text(json.dumps({"status": "complete", "verb": "search"}))
    with pytest.raises(UserInputError, match="run without model/model.json"):
        preflight.check_model_run(run)
    (run / "model" / "model.safetensors").write_bytes(b"x")
    (run / "model" / "model.json").write_text("{not json")
    with pytest.raises(UserInputError, match="no manifest.json"):
        preflight.check_model_run(run)
    write_manifest(run / "model", MODEL_FILES)
    with pytest.raises(UserInputError, match="not valid JSON"):
        preflight.check_model_run(run)
    (run / "model" / "model.json").write_text('{"arch": "x"}')
    with pytest.raises(UserInputError, match="sha256 differs"):
        preflight.check_model_run(run)
    write_manifest(run / "model", MODEL_FILES)
    with pytest.raises(UserInputError, match="lacks"):
        preflight.check_model_run(run)


def test_run_dir_checks(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserInputError, match="already exists"):
        preflight.check_run_dir(str(tmp_path / "taken"), 1)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserInputError, match="is a file"):
        preflight.check_run_dir(str(tmp_path / "afile" / "run"), 1)
    with pytest.raises(UserInputError, match="MB free"):
        preflight.check_run_dir(str(tmp_path / "new"), 10**18)
    preflight.check_run_dir(str(tmp_path / "new" / "deeper"), 1)  # made later, by open_run


def test_check_returns_the_loaded_split(tmp_path, scratch_runs):
    cfg = load(SMOKE)
    args = argparse.Namespace(verb="train", run_dir=str(tmp_path / "run"), model=None)
    checked = preflight.check(cfg, args)
    assert checked.dataset.images.shape[0] == 40 and set(checked.split) == {"train", "val", "test"}
    assert not (tmp_path / "run").exists() and not scratch_runs.exists()
    one_class = load(SMOKE, ["data.test_fraction=0.01"])  # a 0-image test split cannot hold both
    with pytest.raises(UserInputError):
        preflight.check(one_class, args)


def test_project_dir_in_a_checkout_and_installed(tmp_path, monkeypatch):
    """In a checkout it is projects/vision_transfer; installed (a container's site-packages, no
    project folder around the package) it is the working directory, which holds configs/."""
    import importlib.util
    import shutil

    from vision_transfer import sources

    assert sources.project_dir() == PROJECT
    installed = tmp_path / "lib" / "python3.11" / "site-packages" / "vision_transfer"
    installed.mkdir(parents=True)
    shutil.copy(sources.__file__, installed / "sources.py")
    spec = importlib.util.spec_from_file_location("installed_sources", installed / "sources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    assert module.project_dir() == tmp_path
