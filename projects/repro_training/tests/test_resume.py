"""Resume: a SIGKILLed run, resumed, ends with exactly the uninterrupted run's state (weights,
optimizer, recorded history); and the comparison is strict enough to catch a resume that forgets
any one piece of state."""

import json
import os

import pytest
import torch
from conftest import tiny_config
from mlcraft.errors import UserInputError
from repro_training import checkpoint as ckpt
from repro_training.suite import kill_and_resume
from repro_training.train import final_state_digest, fit, recorded_history


def _history(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["history"]


def assert_same_state_dict(a, b, where="optimizer"):
    """Every tensor bitwise equal (dtype, shape, bytes); everything else equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where}: tensors differ"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state_dict(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state_dict(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(reference_run, tmp_path):
    # step_sleep_s slows steps (not the numbers) so the kill lands mid-run, not after the end.
    killed = kill_and_resume(tiny_config(step_sleep_s=0.05), 0, tmp_path / "killed")
    assert killed["returncode"] == -9  # really SIGKILLed
    assert not killed["finished_before_kill"]
    assert killed["checkpoint_step_in_epoch"] > 0  # the checkpoint it resumed from is mid-epoch
    # 1. weights
    assert killed["weights_sha256"] == reference_run.weights_sha256
    # 2. optimizer state_dict, every tensor bitwise (the last checkpoint is written at the end)
    resumed = ckpt.load(tmp_path / "killed" / "checkpoints" / "last.pt")
    uninterrupted = ckpt.load(reference_run.run_dir / "checkpoints" / "last.pt")
    assert_same_state_dict(resumed["optimizer"], uninterrupted["optimizer"])
    assert resumed["optimizer"]["state"], "no momentum buffers compared"
    # 3. the recorded history: per-epoch loss, lr and accuracy, the killed epoch included
    assert recorded_history(killed["history"]) == recorded_history(reference_run.history)
    assert recorded_history(_history(tmp_path / "killed")) == recorded_history(
        _history(reference_run.run_dir)
    )
    assert len(killed["history"]) == 2
    # and the rest of the final state (scheduler, scaler, RNGs, history) through its digest
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
    same_history = recorded_history(resumed.history) == recorded_history(reference_run.history)
    if skipped == "none":
        assert same_weights and same_state and same_history
    else:
        assert not same_state
        # scaling by powers of two is exact in fp32: only the scaler's state differs; a lost
        # history changes the record, not the training
        if skipped not in ("scaler", "history"):
            assert not same_weights
        if skipped == "history":
            assert same_weights and not same_history
            # epoch 0's row averages only the steps after the resume
            assert resumed.history[0]["train_loss"] != reference_run.history[0]["train_loss"]


def test_a_resumed_epoch_records_its_steps_before_the_checkpoint(reference_run, tmp_path):
    """The issue's case: the killed epoch's train_loss averages ALL its steps, not only the ones
    after the resume (1.536 against 1.822 before the fix)."""
    run_dir = tmp_path / "run"
    fit(tiny_config(), 0, run_dir, stop_after_step=7)
    state = ckpt.load(run_dir / "checkpoints" / "last.pt")
    assert state["running"]["steps"] == 7 and state["running"]["loss_sum"] > 0
    resumed = fit(tiny_config(), 0, run_dir, resume=True)
    assert resumed.history[0]["train_loss"] == reference_run.history[0]["train_loss"]


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
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "sampler", "history",
            "running"} <= set(state)  # fmt: skip
    assert set(state["rng"]) == {"python_rng", "numpy_rng", "torch_rng"}
    assert state["scaler"]["scale"] != 2.0**8  # the scaler's state really moved during the run
    assert json.loads((reference_run.run_dir / "metrics.json").read_text())["global_step"] == 64
