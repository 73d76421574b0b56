"""repro_training."""
