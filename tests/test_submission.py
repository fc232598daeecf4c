"""eedi.submission: `validate_submission` accepts a valid submission and rejects duplicate
rows, a wrong header, repeated ids and the wrong number of ids, saying what is wrong."""

import pandas as pd
import pytest

from conftest import N_IDS
from conftest import WRONG_ANSWERS
from eedi.errors import DataError
from eedi.submission import validate_submission


def valid_submission() -> pd.DataFrame:
    return pd.DataFrame({"QuestionId_Answer": WRONG_ANSWERS,
                         "MisconceptionId": [" ".join(map(str, range(25)))] * 6})


def validate(submission):
    validate_submission(submission, WRONG_ANSWERS, range(N_IDS), where="sub.csv")


def test_validate_accepts_a_valid_submission():
    validate(valid_submission())  # raises nothing


def test_validate_rejects_duplicate_row():
    sub = valid_submission()
    sub = pd.concat([sub, sub.iloc[[2]]], ignore_index=True)
    with pytest.raises(DataError, match="20_D appears twice"):
        validate(sub)


def test_validate_rejects_wrong_header():
    sub = valid_submission().rename(columns={"MisconceptionId": "MisconceptionIds"})
    with pytest.raises(DataError, match="header"):
        validate(sub)


def test_validate_rejects_repeated_id_in_a_row():
    sub = valid_submission()
    sub.loc[4, "MisconceptionId"] = " ".join(map(str, list(range(24)) + [5]))  # 25 ids, 24 distinct
    with pytest.raises(DataError) as e:
        validate(sub)
    assert "21_C" in str(e.value) and "24 distinct" in str(e.value) and "row 5" in str(e.value)


def test_validate_message_for_too_many_ids_says_what_is_wrong():
    sub = valid_submission()
    sub.loc[0, "MisconceptionId"] = " ".join(map(str, list(range(25)) + [0]))  # 26 ids, 25 distinct
    with pytest.raises(DataError) as e:
        validate(sub)
    assert "has 26 ids (25 distinct), needs 25 distinct" in str(e.value)
