from conftest import tiny_config
from mlcraft.files import sha256_file
from repro_training.train import fit


def test_same_seed_gives_bitwise_identical_weights_and_metrics(reference_run, tmp_path):
    again = fit(tiny_config(), 0, tmp_path / "again")
    assert again.weights_sha256 == reference_run.weights_sha256
    assert sha256_file(again.run_dir / "weights.pt") == sha256_file(
        reference_run.run_dir / "weights.pt"
    )
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in h]  # noqa: E731
    assert strip(again.history) == strip(reference_run.history)


def test_another_seed_gives_other_weights(reference_run, tmp_path):
    other = fit(tiny_config(), 1, tmp_path / "other")
    assert other.weights_sha256 != reference_run.weights_sha256


def test_smoke_training_learns(reference_run):
    history = reference_run.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert reference_run.test_accuracy > 0.8  # chance is 0.10 on digits
