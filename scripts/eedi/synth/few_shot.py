"""Few-shot examples for a misconception train never shows: the real questions of its nearest
seen misconceptions, nearest by the retriever's embedding of the names (5th place's recipe: 4
shots from the nearest misconceptions).

    shots = nearest_seen(embeddings, ids, seen_ids, targets, k=3)
    # {target id: [k seen misconception ids, nearest first]}
    examples = example_rows(train_long)     # {seen id: (its first question's wide row, letter)}
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def nearest_seen(embeddings: np.ndarray, ids: list[int], seen_ids: set[int], targets: list[int],
                 k: int) -> dict[int, list[int]]:
    """For each target, the k seen misconceptions (never itself) whose name embeddings have the
    highest cosine similarity (rows of `embeddings` are L2-normalised, in `ids` order)."""
    index = {m: i for i, m in enumerate(ids)}
    seen = [m for m in ids if m in seen_ids]
    seen_vectors = embeddings[[index[m] for m in seen]]
    out = {}
    for target in targets:
        similarity = seen_vectors @ embeddings[index[target]]
        order = [seen[i] for i in np.argsort(-similarity, kind="stable") if seen[i] != target]
        out[target] = order[:k]
    return out


def example_rows(train_long: pd.DataFrame) -> dict[int, tuple[dict, str]]:
    """{misconception id: (the wide fields of its first labelled question, the wrong answer's
    letter)}: the long table holds every field render() needs, bar the other answers' texts,
    which come from the question's other rows."""
    labelled = train_long[train_long["MisconceptionId"].notna()].sort_values("QuestionId_Answer")
    answers = {}
    for qid, group in train_long.groupby("QuestionId"):
        texts = dict(zip(group["Answer"], group["AnswerText"]))
        first = group.iloc[0]
        texts[first["CorrectAnswer"]] = first["CorrectAnswerText"]
        answers[qid] = texts
    out = {}
    for row in labelled.to_dict("records"):
        m = int(row["MisconceptionId"])
        if m in out or len(answers[row["QuestionId"]]) < 4:
            continue
        wide = {**row, **{f"Answer{x}Text": t for x, t in answers[row["QuestionId"]].items()}}
        out[m] = (wide, row["Answer"])
    return out
