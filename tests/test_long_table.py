"""eedi.long_table: `misconception_names` maps ids to names. (wide_to_long and the
misconception table are checked end to end through reshape.py in test_reshape.py.)"""

import pandas as pd

from eedi.files import write_parquet
from eedi.long_table import misconception_names


def test_misconception_names_maps_ids_to_names(tmp_path):
    write_parquet(pd.DataFrame({"MisconceptionId": [3, 5], "MisconceptionName": ["x", "y"]}),
                         tmp_path / "mis.parquet")
    assert misconception_names(tmp_path / "mis.parquet") == {3: "x", 5: "y"}


def test_wide_to_long_keeps_the_wrong_answers_with_their_texts(kaggle_dir):
    from eedi.kaggle_csv import read_questions_csv
    from eedi.long_table import LONG_COLUMNS, misconception_table, query_text, wide_to_long
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    long = wide_to_long(wide)
    assert list(long.columns) == LONG_COLUMNS and len(long) == 3 * len(wide)
    row = long.set_index("QuestionId_Answer").loc["10_B"]  # question 10: A is correct
    assert row["AnswerText"] == r"\( \frac{2}{7} \)" and row["CorrectAnswerText"] == r"\( \frac{7}{12} \)"
    assert row["MisconceptionId"] == 0 and "10_A" not in set(long["QuestionId_Answer"])
    assert pd.isna(long.set_index("QuestionId_Answer").loc["10_C", "MisconceptionId"])
    assert query_text(row).splitlines() == [
        "Subject: Fractions", "Construct: Add fractions",
        r"Question: \( \frac{1}{3}+\frac{1}{4} \)", r"Correct answer: \( \frac{7}{12} \)",
        r"Wrong answer: \( \frac{2}{7} \)"]
    mapping = pd.DataFrame({"MisconceptionId": [0, 1, 9], "MisconceptionName": ["a", "b", "c"]})
    table = misconception_table(mapping, long).set_index("MisconceptionId")
    assert table["train_count"].to_dict() == {0: 1, 1: 2, 9: 0}
    assert table["seen_in_train"].to_dict() == {0: True, 1: True, 9: False}
