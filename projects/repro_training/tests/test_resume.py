"""Resume: a SIGKILLed run, resumed, ends with exactly the uninterrupted run's state; and the
comparison is strict enough to catch a resume that forgets any one piece of state."""

import json
import os

import pytest
import torch
from conftest import tiny_config
from mlcraft.errors import UserInputError
from repro_training import checkpoint as ckpt
from repro_training.suite import kill_and_resume
from repro_training.train import final_state_digest, fit


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(reference_run, tmp_path):
    # step_sleep_s slows steps (not the numbers) so the kill lands mid-run, not after the end.
    killed = kill_and_resume(tiny_config(step_sleep_s=0.05), 0, tmp_path / "killed")
    assert killed["returncode"] == -9  # really SIGKILLed
    assert not killed["finished_before_kill"]
    assert killed["checkpoint_step_in_epoch"] > 0  # the checkpoint it resumed from is mid-epoch
    assert killed["weights_sha256"] == reference_run.weights_sha256
    assert killed["final_state_sha256"] == final_state_digest(reference_run.run_dir)


@pytest.mark.parametrize("skipped", ["none", *ckpt.STATE_KEYS])
def test_resume_that_forgets_any_state_is_detected(reference_run, tmp_path, skipped):
    run_dir = tmp_path / "run"
    stopped = fit(tiny_config(), 0, run_dir, stop_after_step=7)  # step 7 of 32 per epoch
    assert not stopped.completed
    skip = frozenset() if skipped == "none" else frozenset({skipped})
    resumed = fit(tiny_config(), 0, run_dir, resume=True, skip_restore=skip)
    same_weights = resumed.weights_sha256 == reference_run.weights_sha256
    same_state = final_state_digest(run_dir) == final_state_digest(reference_run.run_dir)
    if skipped == "none":
        assert same_weights and same_state
    else:
        assert not same_state
        if skipped != "scaler":  # scaling by powers of two is exact in fp32: only its state differs
            assert not same_weights


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save(path, {"step": torch.tensor(1)})

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        ckpt.save(path, {"step": torch.tensor(2)})
    assert ckpt.load(path)["step"].item() == 1  # the old checkpoint survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


class NotATensor:
    pass


def test_checkpoints_load_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"payload": NotATensor()}, path)
    with pytest.raises(UserInputError, match="cannot be loaded"):
        ckpt.load(path)
    (tmp_path / "truncated.pt").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(UserInputError):
        ckpt.load(tmp_path / "truncated.pt")


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(UserInputError, match="nothing to resume"):
        fit(tiny_config(), 0, tmp_path / "empty", resume=True)


def test_checkpoint_holds_every_state(reference_run):
    state = ckpt.load(reference_run.run_dir / "checkpoints" / "last.pt")
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "sampler"} <= set(state)
    assert set(state["rng"]) == {"python_rng", "numpy_rng", "torch_rng"}
    assert state["scaler"]["scale"] != 2.0**8  # the scaler's state really moved during the run
    assert json.loads((reference_run.run_dir / "metrics.json").read_text())["global_step"] == 64
