"""Kaggle's submission.csv: the top 25 ids per wrong answer, space-separated, best first,
checked as Kaggle checks it before a byte is written.

    submission = build_submission(ranking)     # QuestionId_Answer, MisconceptionId ("3 17 ...")
    validate_submission(submission, test_long["QuestionId_Answer"], mapping["MisconceptionId"],
                        where="submission from rankings/test_x.parquet")    # or DataError
"""

from __future__ import annotations

import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K as K
from eedi.errors import DataError


def build_submission(ranking: pd.DataFrame) -> pd.DataFrame:
    """The ranking's top 25 per row, joined as Kaggle wants them."""
    top = ranking[ranking["rank"] <= K].sort_values(["QuestionId_Answer", "rank"])
    return (top.groupby("QuestionId_Answer", sort=True)["MisconceptionId"]
            .agg(lambda ids: " ".join(str(int(i)) for i in ids))
            .reset_index())


def validate_submission(submission: pd.DataFrame, expected_rows, known_ids, where) -> None:
    """Raise a DataError naming the first row that Kaggle would reject or score wrongly:
    every expected row exactly once, no other row, 25 distinct known ids per row."""
    if list(submission.columns) != ["QuestionId_Answer", "MisconceptionId"]:
        raise DataError(where, None, None, f"header must be QuestionId_Answer,MisconceptionId, "
                                           f"not {','.join(submission.columns)}")
    expected = set(expected_rows)
    got = submission["QuestionId_Answer"]
    dup = got[got.duplicated()]
    if len(dup):
        raise DataError(where, "QuestionId_Answer", None, f"{dup.iloc[0]} appears twice")
    missing = sorted(expected - set(got))
    if missing:
        raise DataError(where, "QuestionId_Answer", None,
                        f"{len(missing)} wrong-answer rows of test.csv are missing, "
                        f"e.g. {missing[0]}")
    extra = sorted(set(got) - expected)
    if extra:
        raise DataError(where, "QuestionId_Answer", None,
                        f"{extra[0]} is not a wrong answer of test.csv")
    known = set(int(i) for i in known_ids)
    for i, (qa, ids) in enumerate(zip(got, submission["MisconceptionId"]), start=1):
        values = [int(x) for x in str(ids).split()]
        if len(values) != K or len(set(values)) != K:
            raise DataError(where, "MisconceptionId", i,
                            f"{qa} has {len(values)} ids ({len(set(values))} distinct), "
                            f"needs {K} distinct")
        unknown = [v for v in values if v not in known]
        if unknown:
            raise DataError(where, "MisconceptionId", i,
                            f"{qa} lists {unknown[0]}, not in misconception_mapping.csv")
