"""mlcraft.gputests: the CUDA tests' record read from what pytest printed, written with the GPU
that ran them, kept across a gpu run's publish, and never written without a GPU."""

import json

import pytest
from mlcraft import gputests
from mlcraft.publish import publish_full

PASSED = """..                                                                       [100%]
-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html
2 passed, 115 deselected, 15 warnings in 119.22s (0:01:59)
"""
FAILED_RS_ONLY = """.F                                                                       [100%]
=================================== FAILURES ===================================
__________ test_fit_on_cuda_takes_the_gpu_batch __________

>       assert next(model.parameters()).device.type == "cuda"
E       AssertionError: assert 'cpu' == 'cuda'
1 failed, 1 passed, 134 deselected, 5 warnings in 49.42s
"""
SKIPPED = """ss                                                                       [100%]
=========================== short test summary info ============================
SKIPPED [1] tests/test_gpu.py:21: needs a CUDA GPU
FAILED tests/test_gpu.py::test_b - AssertionError
1 failed, 1 skipped, 130 deselected in 1.02s
"""
FINGERPRINT = {"git_sha": "b4e2d9a3970eb3", "git_dirty": False, "python": "3.12.3",
               "hardware": {"cpu_count": 16, "gpu": {"model": "NVIDIA H200", "count": 1,
                                                     "driver": "580.159.04", "cuda": "13.0"}}}  # fmt: skip


def test_the_summary_line_counts_and_failures_are_read_from_pytest_output():
    ok = gputests.summarize(PASSED)
    assert ok["passed"] and ok["counts"]["passed"] == 2 and ok["failed"] == []
    assert ok["summary"] == "2 passed, 115 deselected, 15 warnings in 119.22s (0:01:59)"
    bad = gputests.summarize(FAILED_RS_ONLY)
    assert not bad["passed"] and bad["failed"] == ["test_fit_on_cuda_takes_the_gpu_batch"]
    mixed = gputests.summarize(SKIPPED)
    assert not mixed["passed"] and mixed["failed"] == ["tests/test_gpu.py::test_b - AssertionError"]
    assert mixed["skipped"] == ["[1] tests/test_gpu.py:21: needs a CUDA GPU"]
    assert not gputests.summarize("collected 0 items\n")["passed"]  # no summary: not a pass


def test_the_record_names_the_gpu_and_survives_the_next_gpu_publish(tmp_path):
    project = tmp_path / "project"
    out = gputests.write(project / "results", FAILED_RS_ONLY, FINGERPRINT, "demo")
    block = gputests.published_block(project / "results")
    assert block.startswith("`pytest -m gpu` on 1 x NVIDIA H200 (driver 580.159.04, CUDA 13.0)")
    assert "did not pass: 1 failed, 1 passed" in block
    assert "- failed: `test_fit_on_cuda_takes_the_gpu_batch`" in block
    assert (out / "tests_gpu.log").read_text() == FAILED_RS_ONLY
    # a gpu train run published later replaces results/gpu/ but keeps the record
    run = tmp_path / "gpu-run"
    (run / "results").mkdir(parents=True)
    (run / "results" / "summary.json").write_text(json.dumps({"config": {"gpu": 1}}))
    (run / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    publish_full(run, project, {"gpu": 1}, budget="gpu")
    assert json.loads((out / "tests_gpu.json").read_text())["gpu"]["model"] == "NVIDIA H200"


def test_no_record_without_a_gpu(tmp_path):
    cpu_only = {**FINGERPRINT, "hardware": {"cpu_count": 2, "gpu": None}}
    with pytest.raises(ValueError, match="no GPU"):
        gputests.write(tmp_path / "results", PASSED, cpu_only, "demo")
    assert not (tmp_path / "results").exists()
    assert gputests.published_block(tmp_path / "results") is None


def test_run_echoes_pytest_and_writes_nothing_without_cuda(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is present: run writes the record there")
    (tmp_path / "tests").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs CUDA\n")
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_on_gpu():\n    pytest.skip('needs a CUDA GPU')\n"
    )
    assert gputests.run(tmp_path) == 0
    assert "1 skipped" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()


def test_gpu_blocks_hold_only_what_was_published(tmp_path):
    assert gputests.gpu_blocks(tmp_path / "results") == {}
    gputests.write(tmp_path / "results", PASSED, FINGERPRINT, "demo")
    assert list(gputests.gpu_blocks(tmp_path / "results")) == ["gpu_tests"]


def test_record_refuses_a_missing_log_or_a_cpu_fingerprint_in_one_line(tmp_path, capsys):
    fingerprint = tmp_path / "bench.json"
    fingerprint.write_text(json.dumps(FINGERPRINT))
    args = ["record", "--project-dir", str(tmp_path), "--fingerprint-from", str(fingerprint)]
    assert gputests.main([*args, "--log", str(tmp_path / "missing.log")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    log = tmp_path / "pytest.log"
    log.write_text(PASSED)
    fingerprint.write_text(json.dumps({**FINGERPRINT, "hardware": {"gpu": None}}))
    assert gputests.main([*args, "--log", str(log)]) == 2
    assert "names no GPU" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
