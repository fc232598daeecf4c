"""eedi.synth.question_format: what the writer is shown parses back to itself; a text missing a
field is unparseable (naming it); validation names why a parsed question cannot train; the
train.csv row carries the misconception on the wrong answer only and reads back as Kaggle's."""

import pandas as pd
import pytest

from conftest import TRAIN
from eedi.kaggle_csv import TRAIN_COLUMNS, read_questions_csv
from eedi.synth.question_format import (FIRST_QUESTION_ID, Unparseable, parse, render, train_row,
                                        validate)

GOOD = """Subject: Fractions
Construct: Add fractions with different denominators
Question: \\( \\frac{1}{2}+\\frac{1}{3}= \\)
A: \\( \\frac{5}{6} \\)
B: \\( \\frac{2}{5} \\)
C: \\( \\frac{1}{5} \\)
D: \\( \\frac{2}{6} \\)
Correct: A
Wrong: B"""


def test_a_rendered_real_question_parses_back_to_its_fields():
    row = TRAIN.iloc[0]
    question = parse(render(row, "B"))
    assert question["Question"] == row["QuestionText"] and question["D"] == row["AnswerDText"]
    assert (question["Correct"], question["Wrong"]) == ("A", "B") and validate(question) is None


def test_text_after_the_question_is_ignored_and_a_missing_field_is_named():
    question = parse(GOOD + "\n\nSubject: another one\nQuestion: ignored")
    assert question["Subject"] == "Fractions" and question["Wrong"] == "B"
    with pytest.raises(Unparseable, match="no C: line"):
        parse(GOOD.replace("C: \\( \\frac{1}{5} \\)\n", ""))
    with pytest.raises(Unparseable, match="no Subject"):
        parse("I cannot help with that.")


@pytest.mark.parametrize("change, reason", [
    (("Correct: A", "Correct: E"), "Correct/Wrong not one of A-D"),
    (("Wrong: B", "Wrong: A"), "the wrong answer is the correct one"),
    (("C: \\( \\frac{1}{5} \\)", "C: \\( \\frac{2}{5} \\)"), "two answers are the same"),
    (("Construct: Add fractions with different denominators", "Construct: "), "empty Construct"),
])
def test_validation_names_why_a_question_cannot_train(change, reason):
    assert validate(parse(GOOD.replace(*change))) == reason


def test_the_train_row_reads_back_as_kaggles_train_csv(tmp_path):
    row = train_row(parse(GOOD), FIRST_QUESTION_ID + 3, misconception_id=4)
    assert list(row) == TRAIN_COLUMNS
    assert [row[f"Misconception{x}Id"] for x in "ABCD"] == [None, 4, None, None]
    path = tmp_path / "synth.csv"
    frame = pd.DataFrame([row])
    for x in "ABCD":
        frame[f"Misconception{x}Id"] = frame[f"Misconception{x}Id"].astype("Int64")
    frame.to_csv(path, index=False)
    back = read_questions_csv(path, labelled=True, known_ids=range(6))
    assert back["QuestionId"].tolist() == [FIRST_QUESTION_ID + 3]
    assert back["MisconceptionBId"].tolist() == [4] and back["MisconceptionAId"].isna().all()
