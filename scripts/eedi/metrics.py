"""Kaggle's MAP@25 and recall@K, all computed from one thing: the rank of each row's gold.

    gold = labelled.set_index("QuestionId_Answer")["MisconceptionId"]
    ranks = gold_ranks(ranking, gold)          # float per row, inf where the gold is not ranked
    map_at_k(ranks)                            # mean of 1/rank where rank <= 25, else 0
    recall_at_k(ranks, 100)
    slice_metrics(ranks)                       # {"rows", "map@25", "recall@1", ..., "recall@100"}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K

RECALL_KS = (1, 5, 25, 50, 100)


def gold_hits(ranking: pd.DataFrame, gold: pd.Series) -> pd.DataFrame:
    """The ranking's entries that are a row's gold misconception, indexed by
    QuestionId_Answer (rows whose gold is not ranked are absent)."""
    pairs = pd.DataFrame({"QuestionId_Answer": gold.index,
                          "MisconceptionId": np.asarray(gold, dtype=np.int64)})
    return ranking.merge(pairs, on=["QuestionId_Answer", "MisconceptionId"]).set_index(
        "QuestionId_Answer")


def gold_ranks(ranking: pd.DataFrame, gold: pd.Series) -> pd.Series:
    """The rank of each row's gold misconception in `ranking` (inf where it is not ranked).

    In:  ranking (contract), gold: Series MisconceptionId indexed by QuestionId_Answer
         (labelled rows only).
    Out: Series float indexed like `gold`. Every metric below is a function of it.
    """
    rank_of = gold_hits(ranking, gold)["rank"].astype(float)
    return rank_of.reindex(gold.index, fill_value=np.inf)


def map_at_k(ranks: pd.Series, k: int = SUBMISSION_TOP_K) -> float:
    """Kaggle's MAP@25 with one gold id per row: mean of 1/rank when rank <= k, else 0."""
    r = np.asarray(ranks, dtype=float)
    return float(np.where(r <= k, 1.0 / r, 0.0).mean()) if len(r) else float("nan")


def recall_at_k(ranks: pd.Series, k: int) -> float:
    """Share of rows whose gold id is in the top k."""
    r = np.asarray(ranks, dtype=float)
    return float((r <= k).mean()) if len(r) else float("nan")


def slice_metrics(ranks: pd.Series) -> dict:
    """All metrics of one slice of rows, from the gold ranks alone."""
    out = {"rows": int(len(ranks)), "map@25": map_at_k(ranks)}
    out.update({f"recall@{k}": recall_at_k(ranks, k) for k in RECALL_KS})
    return out


def cv_metrics(ranking: pd.DataFrame, labelled: pd.DataFrame) -> dict:
    """{slice: metrics} for the slices all, fold0..foldN-1, seen, unseen, balanced.

    "balanced" weighs seen and unseen rows 50/50 (each metric the mean of the two slices'):
    our folds hold ~31% unseen rows, Kaggle's hidden test more, so this is the closer guess
    of the leaderboard when a method trades one kind of row for the other.

    labelled: QuestionId_Answer, MisconceptionId (int), fold, seen (bool) per labelled row.
    A labelled row the ranking does not list scores 0, as it would on Kaggle.
    """
    ranks = gold_ranks(ranking, labelled.set_index("QuestionId_Answer")["MisconceptionId"])
    ranks.index = labelled.index
    slices = {"all": ranks}
    for fold in sorted(labelled["fold"].unique()):
        slices[f"fold{fold}"] = ranks[labelled["fold"] == fold]
    slices["seen"] = ranks[labelled["seen"]]
    slices["unseen"] = ranks[~labelled["seen"]]
    out = {name: slice_metrics(r) for name, r in slices.items()}
    out["balanced"] = {key: (out["seen"][key] + out["unseen"][key]) / 2 if key != "rows"
                       else out["all"]["rows"] for key in out["all"]}
    return out
