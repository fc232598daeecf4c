"""Kaggle's wide CSVs, validated on read: the first problem raises one DataError naming the
file, the column and the row.

    mapping = read_mapping_csv("misconception_mapping.csv")  # MisconceptionId int64, MisconceptionName
    train = read_questions_csv("train.csv", labelled=True, known_ids=mapping["MisconceptionId"])
    test = read_questions_csv("test.csv", labelled=False)
    # one row per question: QuestionId, ConstructId, SubjectId (int64), CorrectAnswer (A-D),
    # the texts, and for train Misconception{A,B,C,D}Id (Int64, <NA> where empty)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from eedi.errors import DataError

LETTERS = ("A", "B", "C", "D")
TRAIN_COLUMNS = [
    "QuestionId", "ConstructId", "ConstructName", "SubjectId", "SubjectName",
    "CorrectAnswer", "QuestionText",
    *[f"Answer{x}Text" for x in LETTERS],
    *[f"Misconception{x}Id" for x in LETTERS],
]
TEST_COLUMNS = TRAIN_COLUMNS[: -len(LETTERS)]
MAPPING_COLUMNS = ["MisconceptionId", "MisconceptionName"]


def _read_csv(path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """Read a Kaggle CSV as strings (we parse ids ourselves, to name the bad row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, None, None, "file is empty (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(path, None, None, f"not a readable CSV ({e})") from None
    for column in columns:
        if column not in df.columns:
            raise DataError(path, column, None,
                            f"missing column (expected Kaggle's columns: {', '.join(columns)})")
    return df[columns]


def _parse_int_column(df: pd.DataFrame, column: str, path, *, allow_empty: bool) -> pd.Series:
    """Strings -> nullable Int64. Accepts "12" and "12.0" (pandas round-trips ids through
    float when a column has gaps); anything else names its row."""
    text = df[column].str.strip()
    empty = text == ""
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = (~empty & (numbers.isna() | (numbers % 1 != 0))) | (empty & (not allow_empty))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        what = "is empty" if empty.iloc[i] else f"{df[column].iloc[i]!r} is not an integer id"
        raise DataError(path, column, i + 1, what)
    return numbers.astype("Int64")


def _check_unique(values: pd.Series, column: str, path) -> None:
    dup = values.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((values == values.iloc[i]).to_numpy())[0])
        raise DataError(path, column, i + 1,
                        f"duplicate {column} {values.iloc[i]} (first at row {first + 1})")


def read_mapping_csv(path) -> pd.DataFrame:
    """misconception_mapping.csv -> DataFrame[MisconceptionId: int64, MisconceptionName: str]."""
    df = _read_csv(path, MAPPING_COLUMNS)
    if df.empty:
        raise DataError(path, None, None, "no misconceptions (file has a header only)")
    df["MisconceptionId"] = _parse_int_column(df, "MisconceptionId", path, allow_empty=False)
    df["MisconceptionId"] = df["MisconceptionId"].astype("int64")
    _check_unique(df["MisconceptionId"], "MisconceptionId", path)
    return df


def read_questions_csv(path, *, labelled: bool, known_ids=None) -> pd.DataFrame:
    """train.csv (labelled=True) or test.csv -> the wide DataFrame, validated.

    Checks: Kaggle's columns present; at least one row; QuestionId, ConstructId, SubjectId
    integers; QuestionId unique; CorrectAnswer one of A-D; misconception ids (train) empty or
    integers found in `known_ids`. The first problem raises a `DataError`.
    """
    df = _read_csv(path, TRAIN_COLUMNS if labelled else TEST_COLUMNS)
    if df.empty:
        raise DataError(path, None, None, "no questions (file has a header only)")
    for column in ("QuestionId", "ConstructId", "SubjectId"):
        df[column] = _parse_int_column(df, column, path, allow_empty=False).astype("int64")
    _check_unique(df["QuestionId"], "QuestionId", path)
    df["CorrectAnswer"] = df["CorrectAnswer"].str.strip()
    bad = ~df["CorrectAnswer"].isin(LETTERS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(path, "CorrectAnswer", i + 1,
                        f"{df['CorrectAnswer'].iloc[i]!r} is not one of {', '.join(LETTERS)}")
    if labelled:
        known = None if known_ids is None else set(int(x) for x in known_ids)
        for x in LETTERS:
            column = f"Misconception{x}Id"
            ids = _parse_int_column(df, column, path, allow_empty=True)
            if known is not None:
                unknown = ids.notna() & ~ids.isin(known)
                if unknown.any():
                    i = int(np.flatnonzero(unknown.to_numpy())[0])
                    raise DataError(path, column, i + 1,
                                    f"misconception id {ids.iloc[i]} is not in the mapping")
            df[column] = ids
    return df
