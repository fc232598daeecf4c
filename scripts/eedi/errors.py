"""The project's error for bad input: one message naming the file, the column and the row.

    raise DataError("data/kaggle/train.csv", "CorrectAnswer", 17, "'E' is not one of A, B, C, D")
    # Error: data/kaggle/train.csv, column CorrectAnswer, row 17: 'E' is not one of A, B, C, D

A Click exception, so every command exits 1 with that one line and no traceback.
"""

from __future__ import annotations

import click


class DataError(click.ClickException):
    """Bad input: one message naming the file, the column and the row; exit code 1.

    >>> str(DataError("train.csv", "CorrectAnswer", 3, "'E' is not one of A, B, C, D"))
    "train.csv, column CorrectAnswer, row 3: 'E' is not one of A, B, C, D"

    `row` is the 1-based data row (the header is not counted; a quoted cell may span several
    lines of the file, so it is not a line number), or a row id such as a QuestionId_Answer.
    """

    def __init__(self, file, column: str | None, row: int | str | None, message: str):
        where = [str(file)]
        if column is not None:
            where.append(f"column {column}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {message}")
