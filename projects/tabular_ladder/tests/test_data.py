"""Data contract: the pinned Adult carrier, its canonical split, and clear errors on bad CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlcraft.errors import UserInputError
from tabular_ladder import data as data_module
from tabular_ladder.config import DataConfig
from tabular_ladder.data import load, slice_columns


@pytest.fixture(scope="module")
def adult():
    return load(DataConfig())


def test_adult_canonical_split(adult):
    assert len(adult.X_train) == 32561 and len(adult.X_test) == 16281
    assert adult.X_train.shape[1] == 14 and "income" not in adult.X_train
    # Known class balance of adult.data / adult.test (7,841 and 3,846 positives).
    assert int(adult.y_train.sum()) == 7841 and int(adult.y_test.sum()) == 3846
    assert set(adult.numeric) == {"age", "fnlwgt", "educational-num", "capital-gain",
                                  "capital-loss", "hours-per-week"}  # fmt: skip


def test_adult_missing_marker_becomes_nan(adult):
    for frame in (adult.X_train, adult.X_test):
        assert not (frame[adult.categorical] == "?").any().any()
    assert adult.X_train["workclass"].isna().sum() == 1836
    assert adult.X_train["native-country"].isna().sum() == 583


def test_adult_sha_mismatch_is_a_clear_error(monkeypatch):
    wrong = data_module.CarrierFile(*data_module.ADULT.__dict__.values())
    object.__setattr__(wrong, "sha256", "0" * 64)
    object.__setattr__(wrong, "relpath", data_module.ADULT.relpath + "")
    monkeypatch.setattr(data_module, "ADULT", wrong)
    monkeypatch.setattr("mlcraft.carriers._VERIFIED", {})
    with pytest.raises(UserInputError, match="sha256 mismatch"):
        load(DataConfig())


def test_slices_derived(adult):
    frame = slice_columns(adult.X_test, ["gender", "age_band", "us_native"])
    assert set(frame["us_native"]) == {"US", "non-US", "unknown"}
    assert frame["age_band"].value_counts().sum() == len(adult.X_test)
    with pytest.raises(UserInputError, match="'nope'"):
        slice_columns(adult.X_test, ["nope"])


def _csv(tmp_path, frame, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "x": x, "colour": rng.choice(["red", "blue"], n), "when": pd.date_range("2020", periods=n),
        "y": (x + rng.normal(size=n) > 0).astype(int),
    })  # fmt: skip


def test_csv_ok_and_temporal_split(tmp_path):
    path = _csv(tmp_path, _frame())
    data = load(DataConfig(source="csv", path=path, target="y", time_column="when"))
    assert len(data.X_train) == 150 and len(data.X_test) == 50
    assert "when" not in data.X_train and data.categorical == ["colour"]
    data = load(DataConfig(source="csv", path=path, target="colour", positive_label="red",
                           drop=["y", "when"]))  # fmt: skip
    assert set(np.unique(data.y_train)) == {0, 1} and data.numeric == ["x"]


@pytest.mark.parametrize(
    "change, overrides, message",
    [
        (None, {"target": "missing_col"}, "data.target=missing_col: not in data"),
        (None, {"drop": ["ghost"]}, r"data.drop=\['ghost'\]: column\(s\) \['ghost'\] not in data"),
        (None, {"drop": ["y"]}, "would drop the target column 'y'"),
        (None, {"time_column": "ghost"}, "data.time_column=ghost: not in data"),
        (None, {"time_column": "colour"}, "data.time_column=colour: does not parse as dates"),
        (None, {"time_column": "when", "drop": ["when"]}, "is the target or dropped"),
        (
            lambda f: f.assign(when=f["when"].where(f.index > 3)),
            {"time_column": "when"},
            "data.time_column=when: the column has 4 missing values",
        ),
        (lambda f: f.assign(y=1), {}, r"data.target=y: only one class \(1: 200\)"),
        (lambda f: f.assign(y=f["colour"]), {}, "not numeric"),
        (lambda f: f.assign(y=f["y"] * 3), {}, "must be 0/1"),
        (lambda f: f.assign(y=f["y"].where(f.index > 3)), {}, "missing values"),
        (lambda f: f.assign(y=(f.index == 0).astype(int)), {}, "the rarer class has 1 row"),
        (
            None,
            {"target": "colour", "positive_label": "green"},
            r"data.positive_label='green' never occurs in data.target=colour \(values: ",
        ),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, change, overrides, message):
    frame = _frame()
    frame = change(frame) if change else frame
    config = DataConfig(source="csv", path=_csv(tmp_path, frame), **{"target": "y", **overrides})
    with pytest.raises(UserInputError, match=message):
        load(config)


def test_csv_empty_or_missing_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserInputError, match="data.path=.*: the file is empty"):
        load(DataConfig(source="csv", path=str(empty), target="y"))
    header_only = tmp_path / "header.csv"
    header_only.write_text("x,y\n")
    with pytest.raises(UserInputError, match="no data rows"):
        load(DataConfig(source="csv", path=str(header_only), target="y"))
    with pytest.raises(UserInputError, match="no such file"):
        load(DataConfig(source="csv", path=str(tmp_path / "nope.csv"), target="y"))
    with pytest.raises(UserInputError, match="is a folder"):
        load(DataConfig(source="csv", path=str(tmp_path), target="y"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("x,y\nK\xf6ln,1\n".encode("latin-1"))
    with pytest.raises(UserInputError, match="not UTF-8"):
        load(DataConfig(source="csv", path=str(latin), target="y"))


def test_numeric_time_column_orders_rows(tmp_path):
    frame = _frame().assign(year=lambda f: 2000 + f.index).sample(frac=1, random_state=0)
    data = load(DataConfig(source="csv", path=_csv(tmp_path, frame), target="y",
                           time_column="year", drop=["when"]))  # fmt: skip
    assert len(data.X_test) == 50 and "year" not in data.X_test


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"path": "my.csv"}, "data.path=my.csv is set but data.source is 'adult'"),
        ({"target": "label"}, "data.target=label: data.source 'adult' has the fixed value"),
        ({"positive_label": "yes"}, "data.positive_label=yes: data.source 'adult'"),
        ({"time_column": "age"}, "data.time_column=age: data.source 'adult' uses its canonical"),
        ({"id_column": "fnlwgt"}, "data.id_column=fnlwgt: data.source 'adult' has no id column"),
        ({"drop": ["ghost"]}, r"data.drop=\['ghost'\]: column\(s\) \['ghost'\] not in data"),
        ({"drop": ["income"]}, "would drop the target column 'income'"),
    ],
)
def test_adult_refuses_keys_it_would_ignore(overrides, message):
    with pytest.raises(UserInputError, match=message):
        load(DataConfig(**overrides))


def test_adult_accepts_its_own_target_and_drop():
    data = load(DataConfig(target="income", positive_label=">50K", drop=["fnlwgt"],
                           max_train_rows=500, max_test_rows=100))  # fmt: skip
    assert "fnlwgt" not in data.X_train and len(data.X_train) == 500


def test_missing_tokens_are_exactly_the_configured_ones(tmp_path):
    """Only empty cells and data.na_values are gaps: a level spelled "NA" stays a value, "-"
    becomes missing when listed, and the run counts the cells each token replaced."""
    frame = _frame()
    frame["region"] = np.where(np.arange(len(frame)) % 4 == 0, "NA", "EU")
    frame["x"] = frame["x"].astype(object)
    frame.loc[:2, "x"] = "-"  # 3 cells
    frame.loc[3, "region"] = None  # 1 empty cell
    path = _csv(tmp_path, frame)
    data = load(DataConfig(source="csv", path=path, target="y", na_values=["-"]))
    both = pd.concat([data.X_train, data.X_test])
    assert data.missing == {"": 1, "-": 3}
    assert "x" in data.numeric and both["x"].isna().sum() == 3
    assert (both["region"] == "NA").sum() == 50 and both["region"].isna().sum() == 1


def test_adult_reads_its_question_mark_by_default(adult):
    assert DataConfig().missing_tokens() == ["?"] and adult.missing["?"] > 0
    assert DataConfig(source="csv").missing_tokens() == []


@pytest.mark.parametrize("typed, expected", [
    ("[?, NA, yes, 1]", ["?", "NA", "yes", "1"]), ("[]", []), ("['-', \"n/a\"]", ["-", "n/a"]),
])  # fmt: skip
def test_na_values_from_set_stay_text(typed, expected):
    from tabular_ladder.config import load as load_config

    smoke = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"
    config = load_config(smoke, [f"data.na_values={typed}", "data.target=1"])
    assert config.data.na_values == expected and config.data.target == "1"


def test_time_split_rows_sharing_a_time_across_the_cut_are_audited(tmp_path):
    """data.time_column reaches the audit: a test row at the last training row's time is flagged
    (an error finding: data.audit=error stops there); distinct times pass."""
    from tabular_ladder.audit import audit
    from tabular_ladder.config import TrainConfig

    frame = _frame().assign(when=pd.date_range("2020", periods=100).repeat(2))  # each day twice
    # test_fraction 0.255: the cut falls between the two rows of one day
    data = DataConfig(source="csv", path=_csv(tmp_path, frame), target="y", time_column="when",
                      test_fraction=0.255)  # fmt: skip
    config = TrainConfig(data=data)
    (late,) = [f for f in audit(config, load(data)) if f.column == "when"]
    assert late.detail.startswith("1 test rows are not later than the last training row (2020-")
    assert late.detail.endswith("; 1 of them at that same time)")
    with pytest.raises(UserInputError, match="data.audit=error: column 'when': 1 test rows"):
        audit(config.model_copy(update={"data": data.model_copy(update={"audit": "error"})}),
              load(data))  # fmt: skip
    distinct = DataConfig(source="csv", path=_csv(tmp_path, _frame(), "d2.csv"), target="y",
                          time_column="when", test_fraction=0.255)  # fmt: skip
    assert not [f for f in audit(TrainConfig(data=distinct), load(distinct)) if f.column == "when"]
