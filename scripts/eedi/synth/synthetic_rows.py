"""make synth's CSV as training rows: the long table of its questions, checked.

    extra = read_synthetic("data/runs/x/synth/smollm135m.csv", known_ids=names)
    # long rows (one per wrong answer with its misconception), QuestionId >= 10,000,000
    synthetic_ids("...csv")         # the misconceptions they teach: seen, for the unseen boost

They only ever join a model's training rows (eedi.folds.training_rows): never the folds file,
never a validation fold, never CV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eedi.errors import DataError
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.synth.question_format import FIRST_QUESTION_ID


def read_synthetic(path, known_ids=None) -> pd.DataFrame:
    """The labelled long rows of a synthetic train.csv; its QuestionIds must be synthetic ones
    (>= FIRST_QUESTION_ID), so none can collide with, or pose as, a real question."""
    wide = read_questions_csv(path, labelled=True, known_ids=known_ids)
    real = wide["QuestionId"] < FIRST_QUESTION_ID
    if real.any():
        i = int(np.flatnonzero(real.to_numpy())[0])
        raise DataError(path, "QuestionId", i + 1,
                        f"{wide['QuestionId'].iloc[i]} is below {FIRST_QUESTION_ID:,}: synthetic "
                        "questions (make synth's) are numbered from there, apart from real ones")
    return wide_to_long(wide).dropna(subset=["MisconceptionId"]).reset_index(drop=True)


def synthetic_ids(path) -> set[int]:
    """The misconception ids the synthetic questions label."""
    return set(read_synthetic(path)["MisconceptionId"].astype(int))
