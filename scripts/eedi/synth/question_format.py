r"""A synthetic question as the LLM writes it, parsed, validated and turned into a train.csv row.

    text = render(example_row, wrong="B")    # the format the few-shot examples show:
    # Subject: Fractions
    # Construct: Add fractions with different denominators
    # Question: \( \frac{1}{3}+\frac{1}{4}= \)
    # A: \( \frac{7}{12} \)
    # B: \( \frac{2}{7} \)
    # C: ...
    # D: ...
    # Correct: A
    # Wrong: B
    question = parse(generated_text)        # dict of the nine fields, or raises Unparseable
    problem = validate(question)            # None, or why it is not a question (a short reason)
    row = train_row(question, question_id=10_000_000, misconception_id=1507)
    # Kaggle's train.csv columns: the misconception on the wrong answer only; ConstructId and
    # SubjectId -1 (the writer names them, ids it cannot know)

Parsing is strict on purpose: a field missing or empty, an unknown letter, the correct answer
as the wrong one, two answers the same: the question is counted and dropped, never written.
"""

from __future__ import annotations

import re

from eedi.kaggle_csv import LETTERS, TRAIN_COLUMNS

FIELDS = ("Subject", "Construct", "Question", "A", "B", "C", "D", "Correct", "Wrong")
# synthetic QuestionIds start here: far above Eedi's (< 2,000), never a real question's
FIRST_QUESTION_ID = 10_000_000
UNKNOWN_ID = -1
_LINE = re.compile(r"^\s*(Subject|Construct|Question|A|B|C|D|Correct|Wrong)\s*[:.)]\s*(.*?)\s*$")


class Unparseable(ValueError):
    """The text is not the nine-field format (the reason is the message)."""


def render(row, wrong: str) -> str:
    """A real question (a row of train.csv's wide table) in the format the writer answers in,
    `wrong` the letter of the answer that shows the misconception."""
    lines = [f"Subject: {row['SubjectName']}", f"Construct: {row['ConstructName']}",
             f"Question: {row['QuestionText']}"]
    lines += [f"{x}: {row[f'Answer{x}Text']}" for x in LETTERS]
    lines += [f"Correct: {row['CorrectAnswer']}", f"Wrong: {wrong}"]
    return "\n".join(lines)


def parse(text: str) -> dict[str, str]:
    """The first occurrence of each field, one per line ("Field: value"); the text may go on
    after "Wrong:" (a second question, chatter): it is ignored. Raises Unparseable naming the
    first missing field."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and match.group(1) not in found:
            found[match.group(1)] = match.group(2)
        if "Wrong" in found:
            break
    missing = [f for f in FIELDS if f not in found]
    if missing:
        raise Unparseable(f"no {missing[0]}: line")
    return found


def validate(question: dict[str, str]) -> str | None:
    """Why a parsed question cannot train (a short reason, counted by reason), or None."""
    empty = [f for f in FIELDS if not question[f].strip()]
    if empty:
        return f"empty {empty[0]}"
    correct, wrong = question["Correct"].strip().upper(), question["Wrong"].strip().upper()
    if correct not in LETTERS or wrong not in LETTERS:
        return "Correct/Wrong not one of A-D"
    if correct == wrong:
        return "the wrong answer is the correct one"
    answers = [question[x].strip() for x in LETTERS]
    if len(set(answers)) < len(answers):
        return "two answers are the same"
    if len(question["Question"].strip()) < 5:
        return "question too short"
    return None


def train_row(question: dict[str, str], question_id: int, misconception_id: int) -> dict:
    """A validated question -> one train.csv row (Kaggle's columns, in order)."""
    wrong = question["Wrong"].strip().upper()
    row = {"QuestionId": question_id, "ConstructId": UNKNOWN_ID,
           "ConstructName": question["Construct"].strip(), "SubjectId": UNKNOWN_ID,
           "SubjectName": question["Subject"].strip(),
           "CorrectAnswer": question["Correct"].strip().upper(),
           "QuestionText": question["Question"].strip()}
    for x in LETTERS:
        row[f"Answer{x}Text"] = question[x].strip()
        row[f"Misconception{x}Id"] = misconception_id if x == wrong else None
    return {c: row[c] for c in TRAIN_COLUMNS}
