"""Fault drills, run by tests/test_faults.py and by the reference run (results/faults.csv).

Each drill runs the real CLI in a subprocess (mlcraft.faults.drill) with runs/, MLflow and Optuna in
a scratch folder, and checks what a user would see: the exit code, one line on stderr naming the
problem, nothing left behind outside complete run folders, and the published results/ and README
untouched. Only the two kill drills train (configs/smoke.yaml, generated images); every other
drill fails in pre-flight, before any folder is made.
"""

from __future__ import annotations

from pathlib import Path

from mlcraft.faults import Fault, writes

SMOKE = ["train", "--config", "configs/smoke.yaml"]
# 6 one-epoch trials: the kill (after the first) lands while trials are left, however fast.
SEARCH = ["search", "--config", "configs/smoke.yaml", "--set", "search.n_trials=6",
          "finetune.epochs=1"]  # fmt: skip


def _png(size: int = 16) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (size, size), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def _one_class(scratch: Path) -> None:
    """An image folder with a single class (3 images) and an empty second class folder."""
    for i in range(3):
        writes(f"one/cells/{i}.png", _png())(scratch)
    (scratch / "one" / "other").mkdir(parents=True)


def _corrupt_images(scratch: Path) -> None:
    """Two classes whose every .png is garbage: found by pre-flight's load, not by training."""
    for name in ("plain", "cracked"):
        for i in range(3):
            writes(f"corrupt/{name}/{i}.png", b"\x89PNG\r\n\x1a\n not really a png")(scratch)


def _fake_model_run(scratch: Path) -> None:
    """A run folder that says 'complete' and holds model files (for predict's argument checks)."""
    writes("model-run/run.json", b'{"status": "complete", "verb": "train"}')(scratch)
    meta = b'{"arch": "tf_efficientnet_lite0", "classes": ["a", "b"], "image_size": 32, '
    meta += b'"channels": 1, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}'
    writes("model-run/model/model.json", meta)(scratch)
    writes("model-run/model/model.safetensors", b"not used: the drill fails before loading")(
        scratch
    )


def _partial_run(scratch: Path) -> None:
    """A killed run's staging folder (run.json says 'running') and one image to predict."""
    writes("run.partial/run.json", b'{"status": "running"}')(scratch)
    writes("x.png", _png())(scratch)


def _predict(*argv: str) -> list[str]:
    return ["predict", "--model", "{scratch}/model-run", *argv]


FAULTS = [
    # SIGKILL once training is under way (split.csv is written just before the first rung), then
    # the same smoke train: it exits 0 and reaps the killed run's .partial folder.
    Fault("kill mid-train", SMOKE, kill_when="vision_transfer/*.partial/results/split.csv",
          then=SMOKE),
    # SIGKILL after the first of six trials (the trial table appears), then the same search: the
    # killed worker's trial is failed and retried, the partial folder reaped.
    Fault("kill mid-search", SEARCH, kill_when="vision_transfer/*.partial/results/search_trials.csv",
          then=SEARCH),
    Fault("read-only run dir", [*SMOKE, "--run-dir", "{mount}/run"], mount="read_only",
          message="not writable"),
    Fault("full disk", [*SMOKE, "--run-dir", "{mount}/run"], mount="full", message="MB free"),
    Fault("run dir under a file", [*SMOKE, "--run-dir", "{scratch}/afile/run"],
          setup=writes("afile", b"x"), message="is a file"),
    Fault("old output key", [*SMOKE, "--set", "output.results_dir=results"],
          message="unknown config key 'output'"),
    Fault("bad config key", [*SMOKE, "--set", "finetune.epohcs=3"],
          message="unknown config key 'finetune.epohcs'"),
    Fault("bad value", [*SMOKE, "--set", "data.image_size=4"], message="data.image_size"),
    Fault("unknown model name", [*SMOKE, "--set", "model.name=efficientnet_b99",
                                 "model.source=hub"], message="not a timm architecture"),
    Fault("carrier for another model", [*SMOKE, "--set", "model.name=resnet18"],
          message="model.source=carrier carries"),
    Fault("missing checkpoint", [*SMOKE, "--set", "model.pretrained_file={scratch}/nope.pth"],
          message="no such file"),
    Fault("folder as checkpoint", [*SMOKE, "--set", "model.pretrained_file={scratch}"],
          message="is a folder"),
    Fault("empty checkpoint", [*SMOKE, "--set", "model.pretrained_file={scratch}/empty.pth"],
          setup=writes("empty.pth", b""), message="empty"),
    Fault("missing image folder", [*SMOKE, "--set", "data.kind=folder",
                                   "data.path={scratch}/nope"], message="no such folder"),
    Fault("one-class image folder", [*SMOKE, "--set", "data.kind=folder",
                                     "data.path={scratch}/one"],
          setup=_one_class, message="cells: 3, other: 0"),
    Fault("corrupt images only", [*SMOKE, "--set", "data.kind=folder",
                                  "data.path={scratch}/corrupt"],
          setup=_corrupt_images, message="no readable images"),
    Fault("Fashion-MNIST files missing", [*SMOKE, "--set", "data.kind=fashion_mnist",
                                          "data.source=debian", "data.path={scratch}"],
          message="Fashion-MNIST files missing"),
    Fault("non-UTF-8 config", ["train", "--config", "{scratch}/latin1.yaml"],
          setup=writes("latin1.yaml", "seed: 0 # caf\xe9\n".encode("latin-1")), message="UTF-8"),
    Fault("empty config", ["train", "--config", "{scratch}/empty.yaml"],
          setup=writes("empty.yaml", b"# nothing\n"), message="sets no keys"),
    Fault("missing config", ["train", "--config", "configs/nope.yaml"], message="not found"),
    Fault("evaluate without a complete run", ["evaluate", "--config", "configs/smoke.yaml",
                                              "--model", "{scratch}"],
          message="not a complete run folder"),
    Fault("predict on a missing input", _predict("--input", "{scratch}/nope",
                                                 "--output", "{scratch}/p.csv"),
          setup=_fake_model_run, message="no such file or folder"),
    Fault("predict on a folder without images", _predict("--input", "{scratch}/model-run",
                                                         "--output", "{scratch}/p.csv"),
          setup=_fake_model_run, message="no image files"),
    Fault("predict --output is a folder", _predict("--input", "{scratch}/x.png",
                                                   "--output", "{scratch}"),
          setup=_fake_model_run, message="is a folder"),
    Fault("predict with a partial run", ["predict", "--model", "{scratch}/run.partial", "--input",
                                         "{scratch}/x.png", "--output", "{scratch}/p.csv"],
          setup=_partial_run,
          message="not a complete run folder"),
]  # fmt: skip
