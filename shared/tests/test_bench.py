"""mlcraft.bench: FLOPs counted by op, MFU from what was timed, the published block, and a bench
part published beside (or inside) a budget's results without being lost by the next publish."""

import json
import math

import pandas as pd
import pytest
from mlcraft import bench
from mlcraft.errors import UserInputError
from mlcraft.publish import publish_full, publish_part

FINGERPRINT = {"git_sha": "abcdef0123456789", "git_dirty": False, "python": "3.11",
               "hardware": {"cpu_model": "Toy CPU", "cpu_count": 2, "gpu": None}}  # fmt: skip


def test_flops_are_counted_by_op_and_the_matmul_ceiling_is_measured():
    torch = pytest.importorskip("torch")
    layer = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(8, 64)
    assert bench.count_flops(lambda: layer(x)) == 2 * 8 * 64 * 32  # one (8x64)@(64x32) matmul
    assert bench.TRAIN_FLOPS_PER_FORWARD == 3  # forward + backward (input and weight grads)
    assert bench.matmul_rate("cpu", "float32", seconds=0.05) > 1e6


def test_a_row_is_computed_from_what_was_timed():
    row = bench.phase_row("train", examples=200, seconds=4.0, data_seconds=1.0,
                          flops_per_example=2e9, ceiling=1e12, memory_mib=512.0, batch_size=32,
                          precision="fp32", augment="none")  # fmt: skip
    assert row["examples_per_s"] == 50 and row["data_wait_fraction"] == 0.25
    assert row["achieved_tflops"] == pytest.approx(0.1) and row["mfu"] == pytest.approx(0.1)
    inference = bench.phase_row("inference", examples=10, seconds=1.0, data_seconds=None,
                                flops_per_example=1e9, ceiling=1e12, memory_mib=1.0,
                                batch_size=8, precision="fp32")  # fmt: skip
    assert math.isnan(inference["data_wait_fraction"])  # not separable: n/a, never a made-up 0


class _Run:
    def __init__(self, path):
        self.results = path / "results"


def test_the_warm_up_covers_every_batch_shape_the_timed_steps_see():
    # 54 steps an epoch, the last partial: 5 + 30 timed steps never reach it, 5 + 60 do
    assert bench.warmup_steps(5, 30, 54, partial_last=True) == 5
    assert bench.warmup_steps(5, 60, 54, partial_last=True) == 54
    # 7 steps an epoch (a GPU batch): a full epoch, whose last batch is the partial one
    assert bench.warmup_steps(5, 30, 7, partial_last=True) == 7
    assert bench.warmup_steps(5, 30, 7, partial_last=False) == 5  # every batch full
    assert bench.warmup_steps(9, 30, 7, partial_last=True) == 9  # already past one
    assert bench.warmup_steps(0, 3, 1, partial_last=True) == 1  # every batch the partial one


def _bench_run(tmp_path, config: dict, **meta):
    folder = tmp_path / "bench-run"
    row = bench.phase_row("train", examples=64, seconds=2.0, data_seconds=0.5,
                          flops_per_example=1e9, ceiling=4e11, memory_mib=900.0, batch_size=32,
                          precision="fp32")  # fmt: skip
    infer = bench.phase_row("inference", examples=64, seconds=1.0, data_seconds=None,
                            flops_per_example=3e8, ceiling=4e11, memory_mib=900.0,
                            batch_size=64, precision="fp32")  # fmt: skip
    bench.write_bench(_Run(folder), pd.DataFrame([row, infer]), config, FINGERPRINT,
                      device=meta.pop("device", "cpu"), what="a toy model.", **meta)  # fmt: skip
    (folder / "run.json").write_text(json.dumps({"status": "complete", "verb": "bench"}))
    return folder


def test_the_published_block_names_the_hardware_and_the_target(tmp_path):
    run = _bench_run(tmp_path, {"data": "reference"})
    assert bench.published_block(tmp_path / "nothing-here") is None
    block = bench.published_block(
        run / "results", lambda meta, table: f"target on {meta['device']}"
    )
    assert "2 cores (Toy CPU) (cpu), git `abcdef0123`: a toy model." in block
    assert "| train | 32 | fp32 | 32.0 | 25.0% |" in block and "| n/a |" in block
    with_own = pd.read_csv(run / "results" / "bench" / "bench.csv").assign(augment="crop")
    with_own.to_csv(run / "results" / "bench" / "bench.csv", index=False)
    assert "| train | crop | 32 | fp32 |" in bench.published_block(run / "results")
    assert block.endswith("target on cpu")


def test_the_published_block_says_what_the_timing_left_out(tmp_path):
    new = _bench_run(tmp_path / "new", {"data": "reference"}, device="cuda", steps=30,
                     warmup_steps=7, inference_warmup=bench.INFERENCE_WARMUP)  # fmt: skip
    first = bench.published_block(new / "results").splitlines()[0]
    assert "(cuda)" in first and first.endswith(
        "a toy model. Timed after warm-up: 30 training steps after 7 untimed ones; inference "
        "timed on a second pass over the same inputs, after an untimed first pass."
    )
    meta = json.loads((new / "results" / "bench" / "bench.json").read_text())
    assert meta["warmup_steps"] == 7 and not bench.warmup_included(meta)
    # a table published before the warm-up (no warmup_steps): timed from the first step
    legacy = _bench_run(tmp_path / "legacy", {"data": "reference"}, device="cuda", steps=30)
    first = bench.published_block(legacy / "results").splitlines()[0]
    assert first.endswith(
        "a toy model. Timing started at the first step, warm-up included: these rates are not "
        "steady state."
    )
    assert "Timed after warm-up" not in first
    assert bench.warmup_included({"steps": 30}) and bench.warmup_included({"warmup_steps": 0})


def test_a_bench_part_publishes_into_results_or_its_budget_and_survives_the_next_publish(tmp_path):
    project = tmp_path / "project"
    (project / "results").mkdir(parents=True)
    run = _bench_run(tmp_path, {"data": "reference", "size": 224})
    with pytest.raises(UserInputError, match="not a reference-config run"):
        publish_part(run, project, {"data": "reference", "size": 128})
    target = publish_part(run, project, {"data": "reference", "size": 224}, budget="gpu")
    assert target == project / "results" / "gpu" / "bench" and (target / "bench.csv").is_file()
    # the gpu budget's next train run replaces results/gpu/ but keeps its published bench
    train = tmp_path / "train-run"
    (train / "results").mkdir(parents=True)
    summary = {"config": {"data": "reference", "size": 224}, "git_dirty": False}
    (train / "results" / "summary.json").write_text(json.dumps(summary))
    (train / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    publish_full(train, project, summary["config"], budget="gpu")
    assert (project / "results" / "gpu" / "bench" / "bench.csv").is_file()
    assert (project / "results" / "gpu" / "summary.json").is_file()


def test_the_hardware_label_names_the_gpu_model_from_the_fingerprint():
    gpu = {"cpu_model": "Xeon", "cpu_count": 16, "gpu": {"model": "NVIDIA H200", "count": 1}}
    assert bench.hardware_label(gpu) == "1 x NVIDIA H200"
    assert bench.hardware_label(FINGERPRINT["hardware"]) == "2 cores (Toy CPU)"


def test_a_gpu_bench_of_the_reference_config_publishes_beside_the_gpu_runs(tmp_path):
    """`publish` of a CUDA bench on the reference config goes to results/gpu/bench/, so the CPU
    table in results/bench/ stays; a CPU bench still goes to results/bench/."""
    from types import SimpleNamespace

    from mlcraft import cli
    from pydantic import BaseModel

    class Config(BaseModel):
        data: str = "reference"

    project_dir = tmp_path / "project"
    (project_dir / "configs").mkdir(parents=True)
    (project_dir / "configs" / "default.yaml").write_text("data: reference\n")
    project = cli.Project("demo", project_dir, load_config=lambda path, overrides: Config(),
                          train=None, blocks=dict)  # fmt: skip
    cpu = _bench_run(tmp_path / "cpu", {"data": "reference"})
    gpu = _bench_run(tmp_path / "gpu", {"data": "reference"})
    meta_path = gpu / "results" / "bench" / "bench.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "device": "cuda"}))
    for run in (cpu, gpu):
        assert cli._publish(project, SimpleNamespace(run_dir=str(run), allow_dirty=False)) == 0
    assert (
        json.loads((project_dir / "results" / "bench" / "bench.json").read_text())["device"]
        == "cpu"
    )
    published = project_dir / "results" / "gpu" / "bench" / "bench.json"
    assert json.loads(published.read_text())["device"] == "cuda"
