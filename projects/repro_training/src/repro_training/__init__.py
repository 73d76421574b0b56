"""Reproducibility as a feature: bitwise-deterministic, resumable, containerized training."""
