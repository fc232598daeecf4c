"""eedi.kaggle_csv directly: Kaggle's columns are checked and the first bad cell is named by
file, column and row (reshape.py's CLI tests in test_reshape.py run the same checks end to end)."""

import pandas as pd
import pytest

from conftest import MAPPING, TRAIN
from eedi.errors import DataError
from eedi.kaggle_csv import TEST_COLUMNS, read_mapping_csv, read_questions_csv


def test_valid_files_parse_to_typed_columns(kaggle_dir):
    train = read_questions_csv(kaggle_dir / "train.csv", labelled=True, known_ids=MAPPING["MisconceptionId"])
    assert train["QuestionId"].dtype == "int64" and str(train["MisconceptionBId"].dtype) == "Int64"
    assert train["MisconceptionAId"].isna().sum() == 1  # question 10 leaves A (its correct answer) empty
    test = read_questions_csv(kaggle_dir / "test.csv", labelled=False)
    assert list(test.columns) == TEST_COLUMNS
    assert read_mapping_csv(kaggle_dir / "misconception_mapping.csv")["MisconceptionId"].tolist() == list(range(6))


@pytest.mark.parametrize("column, value, message", [
    ("CorrectAnswer", "E", "column CorrectAnswer, row 2: 'E' is not one of A, B, C, D"),
    ("QuestionId", "x", "column QuestionId, row 2: 'x' is not an integer id"),
    ("QuestionId", "10", "column QuestionId, row 2: duplicate QuestionId 10 (first at row 1)"),
    ("MisconceptionBId", "77", "column MisconceptionBId, row 2: misconception id 77 is not in the mapping"),
])
def test_the_first_bad_cell_is_named(tmp_path, column, value, message):
    bad = TRAIN.astype(str)
    bad.loc[1, column] = value
    bad.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError) as error:
        read_questions_csv(tmp_path / "train.csv", labelled=True, known_ids=MAPPING["MisconceptionId"])
    assert str(error.value.message) == f"{tmp_path / 'train.csv'}, {message}"


def test_a_missing_column_or_file_is_named(tmp_path):
    TRAIN.drop(columns=["SubjectName"]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataError, match="column SubjectName: missing column"):
        read_questions_csv(tmp_path / "train.csv", labelled=True)
    with pytest.raises(DataError, match="file not found"):
        read_mapping_csv(tmp_path / "nope.csv")
    pd.DataFrame({"MisconceptionId": [], "MisconceptionName": []}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(DataError, match="no misconceptions"):
        read_mapping_csv(tmp_path / "m.csv")
