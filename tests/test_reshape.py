"""scripts/reshape.py's CLI (eedi.kaggle_csv's checks and eedi.long_table's wide -> long, end
to end): the long tables of a hand-made dataset, and every bad input giving one clear error
(file, column, row), a non-zero exit and no output at all."""

import os

import pandas as pd
import pytest

import reshape
from conftest import MAPPING, TEST, TRAIN, write_dataset


def run_reshape(run_cli, data_dir, out_dir):
    return run_cli(reshape.main, ["--data-dir", data_dir, "--out-dir", out_dir])


def test_reshape_writes_one_row_per_wrong_answer(kaggle_dir, tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_reshape(run_cli, kaggle_dir, out)
    assert result.exit_code == 0, result.output

    train = pd.read_parquet(out / "train_long.parquet")
    assert len(train) == 3 * len(TRAIN)  # 4 questions, 3 wrong answers each
    assert list(train["QuestionId_Answer"][:3]) == ["10_B", "10_C", "10_D"]  # 10's correct is A
    row = train.set_index("QuestionId_Answer").loc["11_A"]
    assert (row["AnswerText"], row["CorrectAnswerText"], row["MisconceptionId"]) == ("20", "14", 1)
    assert row["ConstructName"] == "Use the order of operations"
    # empty cells stay rows, with a missing label
    assert pd.isna(train.set_index("QuestionId_Answer").loc["10_C", "MisconceptionId"])
    assert str(train["MisconceptionId"].dtype) == "Int64"

    test = pd.read_parquet(out / "test_long.parquet")
    assert sorted(test["QuestionId_Answer"]) == ["20_A", "20_B", "20_D", "21_B", "21_C", "21_D"]
    assert test["MisconceptionId"].isna().all()

    mis = pd.read_parquet(out / "misconceptions.parquet").set_index("MisconceptionId")
    # train labels: 0, 5, 1, 1, 2, 3, 3 -> counts by hand
    assert mis["train_count"].to_dict() == {0: 1, 1: 2, 2: 1, 3: 2, 4: 0, 5: 1}
    assert mis["seen_in_train"].to_dict() == {0: True, 1: True, 2: True, 3: True, 4: False, 5: True}


def test_float_formatted_ids_are_accepted(tmp_path, run_cli):
    """pandas writes "3.0" for an id column with gaps; that is still the id 3."""
    train = TRAIN.copy()
    train["MisconceptionAId"] = train["MisconceptionAId"].replace({"3": "3.0"})
    data = write_dataset(tmp_path / "d", train=train)
    assert run_reshape(run_cli, data, tmp_path / "run").exit_code == 0
    long = pd.read_parquet(tmp_path / "run" / "train_long.parquet").set_index("QuestionId_Answer")
    assert long.loc["13_A", "MisconceptionId"] == 3


def _with(frame, row, column, value):
    frame = frame.copy()
    frame[column] = frame[column].astype(object)  # pandas 3 refuses 'q10' in an int column
    frame.loc[row, column] = value
    return frame


BAD_INPUTS = {
    # name: (dataset overrides, expected fragments of the one error message)
    "train missing column": (dict(train=TRAIN.drop(columns=["ConstructName"])),
                             ["train.csv", "column ConstructName", "missing column"]),
    "test missing column": (dict(test=TEST.drop(columns=["AnswerDText"])),
                            ["test.csv", "column AnswerDText", "missing column"]),
    "mapping missing column": (dict(mapping=MAPPING.drop(columns=["MisconceptionName"])),
                               ["misconception_mapping.csv", "column MisconceptionName"]),
    "bad CorrectAnswer": (dict(train=_with(TRAIN, 2, "CorrectAnswer", "E")),
                          ["train.csv", "column CorrectAnswer", "row 3", "'E'"]),
    "lower-case CorrectAnswer in test": (dict(test=_with(TEST, 1, "CorrectAnswer", "b")),
                                         ["test.csv", "column CorrectAnswer", "row 2"]),
    "non-integer misconception id": (dict(train=_with(TRAIN, 1, "MisconceptionBId", "one")),
                                     ["train.csv", "column MisconceptionBId", "row 2",
                                      "not an integer"]),
    "fractional misconception id": (dict(train=_with(TRAIN, 0, "MisconceptionDId", "5.5")),
                                    ["train.csv", "column MisconceptionDId", "row 1"]),
    "unknown misconception id": (dict(train=_with(TRAIN, 3, "MisconceptionAId", "999")),
                                 ["train.csv", "column MisconceptionAId", "row 4", "999",
                                  "not in the mapping"]),
    "duplicate QuestionId in train": (dict(train=_with(TRAIN, 3, "QuestionId", 11)),
                                      ["train.csv", "column QuestionId", "row 4", "duplicate",
                                       "first at row 2"]),
    "duplicate QuestionId in test": (dict(test=_with(TEST, 1, "QuestionId", 20)),
                                     ["test.csv", "column QuestionId", "row 2", "duplicate"]),
    "non-integer QuestionId": (dict(train=_with(TRAIN, 0, "QuestionId", "q10")),
                               ["train.csv", "column QuestionId", "row 1"]),
    "empty test": (dict(test=TEST.iloc[:0]), ["test.csv", "no questions"]),
    "duplicate mapping id": (dict(mapping=_with(MAPPING, 5, "MisconceptionId", 0)),
                             ["misconception_mapping.csv", "column MisconceptionId", "row 6"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_clear_error_and_writes_nothing(case, tmp_path, run_cli):
    overrides, fragments = BAD_INPUTS[case]
    data = write_dataset(tmp_path / "data", **overrides)
    out = tmp_path / "run"
    result = run_reshape(run_cli, data, out)
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith("Error: ") and message.count("\n") == 0, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_file_is_named(tmp_path, run_cli):
    data = write_dataset(tmp_path / "data")
    (data / "test.csv").unlink()
    result = run_reshape(run_cli, data, tmp_path / "run")
    assert result.exit_code == 1
    assert "test.csv: file not found" in result.output
    assert not (tmp_path / "run").exists()


def test_empty_file_is_named(tmp_path, run_cli):
    data = write_dataset(tmp_path / "data")
    (data / "misconception_mapping.csv").write_text("")
    result = run_reshape(run_cli, data, tmp_path / "run")
    assert result.exit_code == 1
    assert "misconception_mapping.csv: file is empty" in result.output


def test_failed_run_keeps_previous_outputs_intact(kaggle_dir, tmp_path, run_cli):
    """A bad re-run must not leave a mix of old and new files (validation comes first)."""
    out = tmp_path / "run"
    assert run_reshape(run_cli, kaggle_dir, out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    write_dataset(kaggle_dir, test=_with(TEST, 0, "CorrectAnswer", "Z"))
    assert run_reshape(run_cli, kaggle_dir, out).exit_code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_same_data_copied_again_keeps_the_outputs_mtime(kaggle_dir, tmp_path, run_cli):
    """A fresh copy of the same CSVs (new mtimes: a re-download, a re-attached dataset) must not
    look like new data to Make: unchanged outputs keep their file and mtime, so nothing after
    reshape re-runs. Changed data still replaces what it changes."""
    out = tmp_path / "run"
    assert run_reshape(run_cli, kaggle_dir, out).exit_code == 0
    names = ["train_long.parquet", "test_long.parquet", "misconceptions.parquet"]
    for name in names:
        os.utime(out / name, ns=(1_000_000_000, 1_000_000_000))  # long ago
    write_dataset(kaggle_dir)  # the same content, written anew
    assert run_reshape(run_cli, kaggle_dir, out).exit_code == 0
    assert {n: (out / n).stat().st_mtime_ns for n in names} == dict.fromkeys(names, 1_000_000_000)

    write_dataset(kaggle_dir, test=_with(TEST, 0, "AnswerAText", "99"))
    assert run_reshape(run_cli, kaggle_dir, out).exit_code == 0
    changed = {n for n in names if (out / n).stat().st_mtime_ns != 1_000_000_000}
    assert changed == {"test_long.parquet"}
    assert "99" in set(pd.read_parquet(out / "test_long.parquet")["AnswerText"])
