"""Data contract for the carrier data, and clear errors for bad own data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlcraft.errors import UserInputError
from text_classifier.config import DataConfig
from text_classifier.data import encode_labels, load_dataset, load_reviews


@pytest.fixture(scope="module")
def reviews():
    return load_dataset(DataConfig(), seed=0)


def test_reviews_contract(reviews):
    assert reviews.rows_in_file == 23486
    assert reviews.dropped_empty == 844  # rows with neither a title nor a review
    assert len(reviews.frame) == 23486 - 844
    assert reviews.classes == ["0", "1"]
    assert (reviews.frame["text"].str.strip() != "").all()
    assert {"Rating", "Age", "Department Name"} <= set(reviews.frame.columns)
    share = reviews.frame["label"].mean()
    assert 0.80 < share < 0.84  # ~82% recommended


def test_reviews_row_id_is_the_file_row(reviews):
    """row_id names the parquet row, not the position after the 844 empty rows were dropped."""
    raw, _ = load_reviews()
    for part in (reviews.frame, *reviews.splits.values()):
        assert (raw["text"].to_numpy()[part["row_id"]] == part["text"].to_numpy()).all()
    assert reviews.frame["row_id"].iloc[-1] == len(raw) - 1  # the file's last row is non-empty


def test_split_is_fixed_stratified_and_disjoint(reviews):
    splits = reviews.splits
    sizes = {k: len(v) for k, v in splits.items()}
    assert sum(sizes.values()) == len(reviews.frame)
    assert abs(sizes["test"] / len(reviews.frame) - 0.15) < 0.01
    shares = [splits[k]["label"].mean() for k in ("train", "val", "test")]
    assert max(shares) - min(shares) < 0.005

    # a partition: every used row lands in exactly one split
    def key(frame):
        return sorted(
            frame["text"] + "|" + frame["Clothing ID"].astype(str) + "|" + frame["Age"].astype(str)
        )

    assert key(pd.concat(splits.values())) == key(reviews.frame)
    again = load_dataset(DataConfig(), seed=0).splits["test"]
    assert again["text"].tolist() == splits["test"]["text"].tolist()


def _write(tmp_path, frame, name="own.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return str(path)


def _own(n=30, labels=("pos", "neg", "mixed")):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"body": [f"review number {i}" for i in range(n)], "y": rng.choice(labels, n)}
    )


def test_own_multiclass_csv_and_jsonl(tmp_path):
    frame = _own()
    for name in ("own.csv", "own.jsonl"):
        data = load_dataset(
            DataConfig(path=_write(tmp_path, frame, name), text_column="body", label_column="y")
        )
        assert data.classes == ["mixed", "neg", "pos"]
        assert sum(len(s) for s in data.splits.values()) == 30


@pytest.mark.parametrize("name", ["own.csv", "own.jsonl"])
def test_row_id_is_the_data_row_of_the_file_with_an_empty_text_before_it(tmp_path, name):
    """An empty text in the middle is dropped; the rows after it keep their own file row."""
    frame = _own(labels=("pos", "neg"))
    frame.loc[4, "body"] = ""
    path = _write(tmp_path, frame, name)
    data = load_dataset(DataConfig(path=path, text_column="body", label_column="y"))
    assert data.dropped_empty == 1 and 4 not in set(data.frame["row_id"])
    assert sorted(pd.concat(data.splits.values())["row_id"]) == [i for i in range(30) if i != 4]
    for part in data.splits.values():
        for row_id, text in zip(part["row_id"], part["text"], strict=True):
            assert text == f"review number {row_id}" == frame.loc[row_id, "body"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns="body"), "data.text_column=body: no such column"),
        (lambda f: f.drop(columns="y"), "data.label_column=y: no such column"),
        (lambda f: f.assign(body=""), "data.text_column=body: every text in .* is empty"),
        (lambda f: f.assign(y="pos"), r"data.label_column=y: one class only \(pos: 30\)"),
        (lambda f: f.iloc[:0], "no data rows"),
        (lambda f: f.assign(y=["a", "b"] * 14 + ["c", "c"]), r"class 'c' has 2 rows \(a: 14"),
    ],
)
def test_own_data_errors(tmp_path, change, message):
    path = _write(tmp_path, change(_own()))
    with pytest.raises(UserInputError, match=message):
        load_dataset(DataConfig(path=path, text_column="body", label_column="y"))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("nope.csv", None, "data.path=.*nope.csv: no such file"),
        ("x.txt", b"a", "must be a .csv or .jsonl file"),
        ("empty.csv", b"", "the file is empty"),
        ("latin1.csv", "body,y\ncaf\xe9,a\n".encode("latin-1"), "not UTF-8"),
        ("latin1.jsonl", '{"body": "caf\xe9"}\n'.encode("latin-1"), "not UTF-8"),
        ("broken.jsonl", b'{"body": "a", "y": \n', "not readable JSON lines"),
        ("ragged.csv", b"body,y\na,b\nc,d,e,f\n", "not a readable CSV"),
    ],
)
def test_unreadable_files_are_one_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(UserInputError, match=message) as info:
        load_dataset(DataConfig(path=str(tmp_path / name), text_column="body", label_column="y"))
    assert "\n" not in str(info.value)


def test_folder_given_as_data_file(tmp_path):
    with pytest.raises(UserInputError, match="is a folder"):
        load_dataset(DataConfig(path=str(tmp_path)))


def test_unknown_label_is_an_error():
    with pytest.raises(UserInputError, match="unknown label"):
        encode_labels(pd.Series(["pos", "meh"]), classes=["neg", "pos"])
