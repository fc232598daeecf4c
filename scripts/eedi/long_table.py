"""The long table: one row per (question, wrong answer), the unit every later stage ranks; the
text a row is read as; the misconceptions table.

    long = wide_to_long(read_questions_csv("train.csv", labelled=True))
    long.iloc[0]["QuestionId_Answer"], long.iloc[0]["MisconceptionId"]   # ("12_B", 1507)
    query_text(long.iloc[0])      # "Subject: ...\\nConstruct: ...\\nQuestion: ...\\n..."
    mis = misconception_table(mapping, long)   # + train_count, seen_in_train
    names = misconception_names("misconceptions.parquet")    # {id: name}
    gold = gold_of(long)          # MisconceptionId per labelled QuestionId_Answer
"""

from __future__ import annotations

import pandas as pd

from eedi.kaggle_csv import LETTERS

LONG_COLUMNS = ["QuestionId_Answer", "QuestionId", "Answer", "ConstructId", "ConstructName",
                "SubjectId", "SubjectName", "QuestionText", "CorrectAnswer",
                "CorrectAnswerText", "AnswerText", "MisconceptionId"]


def wide_to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per (question, wrong answer); the correct answer's row is dropped.

    In:  the wide frame of `read_questions_csv` (train or test).
    Out: QuestionId_Answer ("12_B"), QuestionId, Answer ("B"), ConstructId, ConstructName,
         SubjectId, SubjectName, QuestionText, CorrectAnswer, CorrectAnswerText, AnswerText
         (the wrong answer), MisconceptionId (Int64; <NA> when the cell is empty or for test),
         ordered by QuestionId then Answer.
    """
    labelled = "MisconceptionAId" in wide.columns
    keep = ["QuestionId", "ConstructId", "ConstructName", "SubjectId", "SubjectName",
            "QuestionText", "CorrectAnswer"]
    parts = []
    for x in LETTERS:
        part = wide[keep].copy()
        part["Answer"] = x
        part["AnswerText"] = wide[f"Answer{x}Text"]
        part["MisconceptionId"] = (wide[f"Misconception{x}Id"] if labelled
                                   else pd.Series(pd.NA, index=wide.index, dtype="Int64"))
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    correct_text = wide.set_index("QuestionId").apply(
        lambda r: r[f"Answer{r['CorrectAnswer']}Text"], axis=1)
    long["CorrectAnswerText"] = long["QuestionId"].map(correct_text)
    long = long[long["Answer"] != long["CorrectAnswer"]]
    long["QuestionId_Answer"] = long["QuestionId"].astype(str) + "_" + long["Answer"]
    long = long.sort_values(["QuestionId", "Answer"], ignore_index=True)
    return long[LONG_COLUMNS]


def query_parts(row) -> tuple[str, str, str]:
    """query_text cut in three: (text before the question, the question, text after it).

    The LLM reranker's prompt truncates only the middle part when a prompt is too long, so
    the subject, construct and both answers always survive.
    """
    return (f"Subject: {row['SubjectName']}\n"
            f"Construct: {row['ConstructName']}\n"
            f"Question: ",
            str(row["QuestionText"]),
            f"\nCorrect answer: {row['CorrectAnswerText']}\n"
            f"Wrong answer: {row['AnswerText']}")


def query_text(row) -> str:
    """The text that stands for one (question, wrong answer) row, for every retriever.

    One layout, shared by training and inference, most general first:

        Subject: Adding and Subtracting Fractions
        Construct: Add fractions with different denominators
        Question: \\( \\frac{1}{3}+\\frac{1}{4} \\)
        Correct answer: \\( \\frac{7}{12} \\)
        Wrong answer: \\( \\frac{2}{7} \\)

    `row` is anything indexable by the long table's column names (a Series, a dict).
    """
    return "".join(query_parts(row))


def misconception_table(mapping: pd.DataFrame, train_long: pd.DataFrame) -> pd.DataFrame:
    """The mapping + train_count (labelled train rows with this id) + seen_in_train."""
    counts = train_long["MisconceptionId"].value_counts()
    out = mapping.copy()
    out["train_count"] = out["MisconceptionId"].map(counts).fillna(0).astype("int64")
    out["seen_in_train"] = out["train_count"] > 0
    return out


def misconception_names(path) -> dict[int, str]:
    """misconceptions.parquet -> {MisconceptionId: MisconceptionName}."""
    mis = pd.read_parquet(path)
    return dict(zip(mis["MisconceptionId"].astype(int), mis["MisconceptionName"]))


def gold_of(long: pd.DataFrame) -> pd.Series:
    """The labelled rows' gold: MisconceptionId (int64) indexed by QuestionId_Answer."""
    labelled = long[long["MisconceptionId"].notna()]
    return pd.Series(labelled["MisconceptionId"].astype("int64").to_numpy(),
                     index=labelled["QuestionId_Answer"], name="MisconceptionId")
