import pandas as pd
import pytest
from mlcraft.errors import UserInputError
from mlcraft.inputs import read_csv
from mlcraft.predictions import (
    OK,
    ignored_columns,
    one_row_per_input,
    prediction_output,
    summary,
    write_predictions,
)


def test_rows_line_up_with_inputs_and_unscored_rows_are_empty():
    scored = pd.DataFrame({"label": ["a", "b"], "p": [0.9, 0.2]})
    frame = one_row_per_input([0, 1, 2], [OK, "empty text", OK], scored)
    assert frame["row"].tolist() == [0, 1, 2]
    assert frame["label"].tolist()[0] == "a" and frame["label"].tolist()[2] == "b"
    assert pd.isna(frame["p"][1]) and frame["p"][2] == 0.2
    assert summary(frame, "out.csv") == "3 rows to out.csv: 2 scored; not scored: 1 empty text"


def test_unused_input_columns_are_named():
    assert ignored_columns(["text", "id"], ["text", "id"]) == ""
    assert ignored_columns(["text", "note", 7], ["text"]) == (
        "; ignored 2 column(s) the model does not use: note, 7"
    )
    assert ignored_columns([f"c{i}" for i in range(7)], []) == (
        "; ignored 7 column(s) the model does not use: c0, c1, c2, c3, c4, ... (7)"
    )


def test_a_count_mismatch_is_a_bug_not_a_silent_shift():
    with pytest.raises(ValueError):
        one_row_per_input([0, 1], [OK, OK], pd.DataFrame({"p": [0.5]}))


def test_output_may_not_be_the_input_or_inside_the_model_run(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    with pytest.raises(UserInputError, match="is the --input file"):
        prediction_output(source, [source])
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(UserInputError, match="inside the --model run folder"):
        prediction_output(run / "p.csv", [source], run)
    with pytest.raises(UserInputError, match="is a folder"):
        prediction_output(tmp_path, [source])
    assert prediction_output(tmp_path / "p.csv", [source], run) == tmp_path / "p.csv"


def test_write_is_atomic_and_complete(tmp_path):
    frame = one_row_per_input([0], [OK], pd.DataFrame({"p": [0.5]}))
    assert write_predictions(tmp_path / "p.csv", frame) == 1
    assert pd.read_csv(tmp_path / "p.csv").columns.tolist() == ["row", "status", "p"]


def test_a_binary_file_is_one_line(tmp_path):
    blob = tmp_path / "model.bin"
    blob.write_bytes(b"PK\x03\x04\x00\x00abc")
    with pytest.raises(UserInputError, match="binary file"):
        read_csv(blob, "--input")


def test_integer_decisions_stay_integers_in_the_file(tmp_path):
    scored = pd.DataFrame({"decision": [1, 0], "p": [0.9, 0.1], "label": ["a", "b"]})
    frame = one_row_per_input([0, 1, 2], [OK, "bad", OK], scored)
    write_predictions(tmp_path / "p.csv", frame)
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines == ["row,status,decision,p,label", "0,ok,1,0.9,a", "1,bad,,,", "2,ok,0,0.1,b"]


def test_non_utf8_is_located_in_the_whole_file_and_repeated_headers_refused(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"a,b\n" + b"1,2\n" * 5000 + "3,caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserInputError, match="line 5002"):
        read_csv(latin, "--input")
    twice = tmp_path / "twice.csv"
    twice.write_text("age,age,x\n1,2,3\n")
    with pytest.raises(UserInputError, match=r"\['age'\] appear more than once"):
        read_csv(twice, "--input")
