"""The profile's data/compute split: the data range covers only the fetch of a batch."""

import json

from conftest import tiny_config
from repro_training.hardware import profile_training


def test_data_plus_compute_never_exceeds_the_step_time(tmp_path):
    summary = profile_training(tiny_config(), tmp_path, steps=6)
    assert summary["steps"] == 6
    assert summary["data_seconds"] + summary["compute_seconds"] <= summary["step_seconds"] * 1.001
    # The trace's ranges agree: a "data" range left open across a generator's yield would
    # contain the whole compute range, and the two would sum to more than the steps took.
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    spans = {}
    for event in events:
        name = event.get("name", "")
        if name.startswith(("data: ", "compute: ")):
            spans.setdefault(name.split(":")[0], []).append(event)
    assert len(spans["data"]) == len(spans["compute"]) == 6
    data_us, compute_us = (sum(e["dur"] for e in spans[k]) for k in ("data", "compute"))
    assert data_us + compute_us <= summary["step_seconds"] * 1e6 * 1.01
    data_spans, compute_spans = (
        sorted(spans[k], key=lambda e: e["ts"]) for k in ("data", "compute")
    )
    for data, compute in zip(data_spans, compute_spans, strict=True):
        assert data["ts"] + data["dur"] <= compute["ts"]  # the fetch ends before compute starts
