"""Weights: the carrier is pinned and really pretrained; any checkpoint loads into any timm model."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from mlcraft.carriers import locate
from mlcraft.errors import UserInputError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from vision_transfer import data, models
from vision_transfer.augment import Normalizer
from vision_transfer.config import DataConfig, ModelConfig
from vision_transfer.ladder import pooled_features
from vision_transfer.sources import CARRIERS


@pytest.mark.parametrize(("arch", "tensors"), [("tf_efficientnet_lite0", 296),
                                               ("tf_efficientnet_lite1", 386),
                                               ("tf_efficientnet_lite2", 386)])  # fmt: skip
def test_every_carrier_is_pinned_and_loads_strictly(arch, tensors):
    path = locate(CARRIERS[arch])  # checks the sha256
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert len(state) == tensors
    model = models.build(ModelConfig(name=arch), num_classes=1000)
    for got, want in zip(model.state_dict().values(), state.values(), strict=True):
        assert torch.equal(got, want)  # every tensor, including the ImageNet head, mapped in order


def test_weights_are_really_pretrained():
    """Linear probe on 480 ELPV cells (64 px): pretrained features beat random-init ones clearly."""
    loaded = data.load(DataConfig(kind="elpv", image_size=64, max_images=480))
    norm = Normalizer([0.5] * 3, [0.5] * 3, channels_last=False)
    torch.set_grad_enabled(False)
    try:
        scores = {}
        for pretrained in (True, False):
            torch.manual_seed(0)
            model = models.build(ModelConfig(), num_classes=2, pretrained=pretrained)
            feats = pooled_features(model, loaded.images, norm)
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
            cv = StratifiedKFold(4, shuffle=True, random_state=0)
            scores[pretrained] = cross_val_score(clf, feats, loaded.labels, cv=cv).mean()
    finally:
        torch.set_grad_enabled(True)
    assert scores[True] > 0.78, scores
    assert scores[True] - scores[False] > 0.05, scores


def test_offline_checkpoint_into_timm_resnet18(tmp_path):
    torch.manual_seed(1)
    source = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": source.state_dict()}, path)  # a typical training-script wrapper
    model = models.build(ModelConfig(name="resnet18", pretrained_file=str(path)), num_classes=3)
    got, want = model.state_dict(), source.state_dict()
    assert torch.equal(got["layer4.1.conv2.weight"], want["layer4.1.conv2.weight"])
    assert torch.equal(got["bn1.running_mean"], want["bn1.running_mean"])
    assert got["fc.weight"].shape == (3, 512)  # a fresh head for our 3 classes
    # The same file into the wrong architecture is a clear error, not a silent partial load.
    with pytest.raises(UserInputError, match="resnet18.pth"):
        models.build(ModelConfig(name="resnet34", pretrained_file=str(path)), num_classes=3)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="cannot read checkpoint"):
        models.build(ModelConfig(name="resnet18", pretrained_file=str(tmp_path / "junk.pth")), 2)


def test_carrier_only_for_the_lite_family_and_unknown_names():
    with pytest.raises(UserInputError, match="carrier carries .*tf_efficientnet_lite2"):
        models.build(ModelConfig(name="resnet18"), num_classes=2)
    with pytest.raises(UserInputError, match="model.name"):
        models.build(ModelConfig(name="no_such_net", pretrained=False), num_classes=2)


def test_partial_unfreezing_trains_only_the_last_stages():
    model = models.build(ModelConfig(pretrained=False), num_classes=2)
    models.set_trainable(model, 2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "classifier.weight" in trainable and "conv_head.weight" in trainable
    assert "blocks.5.0.conv_pw.weight" in trainable
    assert "blocks.4.0.conv_pw.weight" not in trainable and "conv_stem.weight" not in trainable
    assert np.isclose(len(trainable) / len(list(model.parameters())), 50 / 164, atol=0.2)
