"""A model bundle as one ONNX graph, and that graph scored like the bundle.

The graph is the ColumnTransformer (skl2onnx) feeding the LightGBM booster (onnxmltools), merged
with onnx.compose into one file, so a served model is one artifact with one sha256 and a request
is one onnxruntime call. It ends at LightGBM's raw score (log-odds), the input the bundle's
calibration map was fitted on; the map itself stays the bundle's skops file, applied in numpy as
Bundle.score applies it: skl2onnx has no converter for the isotonic map, and one path for both
maps keeps the ONNX and native probabilities comparable.

Inputs: one [N, 1] tensor per schema column, in schema order: float32 for a numeric column (NaN
for missing), a string for a categorical one. The encoder gives a missing and an unseen category
the same code, so a missing category is fed as MISSING, a string no training category is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.errors import UserInputError

from tabular_ladder.bundle import Bundle

MISSING = "__missing__"
OUTPUT = "raw_score"
OPSET = 15  # onnxruntime >= 1.10 runs it; the highest both converters' ops are unchanged at
ML_OPSET = 2  # ai.onnx.ml: LabelEncoder with float values needs 2; TreeEnsembleClassifier is 1
BOOSTER_PREFIX = "lgbm_"  # keeps the booster graph's tensor names apart from the encoder's


def _encoder(bundle: Bundle):
    """The ColumnTransformer's categorical encoder, if it has one."""
    for name, transformer, _ in bundle.prep.transformers_:
        if name == "cat" and transformer != "drop":
            return transformer
    return None


def check_exportable(bundle: Bundle, source: str) -> None:
    """The sentinel trick holds only when missing and unseen categories share one code."""
    encoder = _encoder(bundle)
    if encoder is None:
        return
    unknown, missing = encoder.unknown_value, encoder.encoded_missing_value
    both_nan = all(isinstance(v, float) and np.isnan(v) for v in (unknown, missing))
    if not (both_nan or unknown == missing):
        raise UserInputError(
            f"{source}: the encoder codes missing ({missing}) and unseen ({unknown}) categories "
            "differently; the ONNX export supports the ordinal encoder train writes"
        )
    if any(MISSING in list(levels) for levels in encoder.categories_):
        raise UserInputError(f"{source}: a category named {MISSING!r} collides with the "
                             "ONNX graph's missing-value marker")  # fmt: skip


def _input_types(bundle: Bundle) -> list:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    return [
        (c["name"], FloatTensorType([None, 1]) if c["kind"] == "numeric" else StringTensorType([None, 1]))
        for c in bundle.meta["schema"]
    ]  # fmt: skip


def _booster_raw_score(bundle: Bundle):
    """The booster as ONNX with no sigmoid on its output: for a binary model onnxruntime then
    gives [-score, score], score being LightGBM's raw log-odds."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = bundle.booster.num_feature()
    model = convert_lightgbm(bundle.booster, initial_types=[("features", FloatTensorType([None, n]))],
                             target_opset=OPSET, zipmap=False)  # fmt: skip
    (tree,) = [node for node in model.graph.node if node.op_type.startswith("TreeEnsemble")]
    (post,) = [a for a in tree.attribute if a.name == "post_transform"]
    post.s = b"NONE"
    return model


def _same_opsets(model, ir_version: int) -> None:
    """merge_models needs one IR version and one opset per domain. The booster graph's ops
    (TreeEnsembleClassifier, Identity, Cast, Mul) mean the same at OPSET and ML_OPSET as at the
    lower versions onnxmltools declares."""
    model.ir_version = ir_version
    for entry in model.opset_import:
        entry.version = {"": OPSET, "ai.onnx.ml": ML_OPSET}.get(entry.domain, entry.version)


def to_onnx(bundle: Bundle, source: str = "--model"):
    """The bundle's preprocessing and booster as one ModelProto: schema inputs -> raw_score [N]."""
    import onnx
    from onnx import compose, helper
    from skl2onnx import convert_sklearn

    check_exportable(bundle, source)
    prep = convert_sklearn(bundle.prep, initial_types=_input_types(bundle),
                           target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})  # fmt: skip
    booster = compose.add_prefix(_booster_raw_score(bundle), BOOSTER_PREFIX)
    _same_opsets(prep, max(prep.ir_version, booster.ir_version))
    _same_opsets(booster, prep.ir_version)
    scores = BOOSTER_PREFIX + "probabilities"
    merged = compose.merge_models(prep, booster, io_map=[(prep.graph.output[0].name,
                                  BOOSTER_PREFIX + "features")], outputs=[scores])  # fmt: skip
    # column 1 of [-score, score] as a flat [N] output
    merged.graph.initializer.append(
        helper.make_tensor("score_column", onnx.TensorProto.INT64, [], [1])
    )
    merged.graph.node.append(helper.make_node("Gather", [scores, "score_column"], [OUTPUT], axis=1))
    del merged.graph.output[:]
    merged.graph.output.append(
        helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, [None])
    )
    onnx.checker.check_model(merged, full_check=True)
    return merged


def feeds(bundle: Bundle, prepared: pd.DataFrame, input_names: list[str]) -> dict[str, np.ndarray]:
    """The graph's inputs for frames from Bundle.check/prepare (typed, schema order). One numpy
    conversion per kind of column, not per column: per-column pandas calls cost more than the
    graph itself on a one-row request."""
    schema = bundle.meta["schema"]
    numeric = [c["name"] for c in schema if c["kind"] == "numeric"]
    categorical = [c["name"] for c in schema if c["kind"] != "numeric"]
    numbers = prepared[numeric].to_numpy(np.float32)
    strings = prepared[categorical].to_numpy(object, copy=True)
    strings[pd.isna(strings)] = MISSING
    strings = strings.astype(str)
    columns = {name: numbers[:, [i]] for i, name in enumerate(numeric)}
    columns |= {name: strings[:, [i]] for i, name in enumerate(categorical)}
    return {onnx: columns[c["name"]] for c, onnx in zip(schema, input_names, strict=True)}


class OnnxScorer:
    """Calibrated probabilities from the ONNX graph and the bundle's calibration map."""

    def __init__(self, path: str | Path, bundle: Bundle, threads: int | None = None):
        from mlcraft.compress import session

        self.bundle = bundle
        self.session = session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def raw(self, prepared: pd.DataFrame) -> np.ndarray:
        inputs = feeds(self.bundle, prepared, self.input_names)
        return self.session.run([OUTPUT], inputs)[0].astype(np.float64)

    def score(self, prepared: pd.DataFrame) -> np.ndarray:
        return np.clip(self.bundle.calibrator.predict(self.raw(prepared)), 0.0, 1.0)

    def predict_proba(self, frame: pd.DataFrame, source: str = "input") -> np.ndarray:
        return self.score(self.bundle.check(frame, source))
