"""Cascades: a later (slower, better) stage rescores only an earlier stage's best candidates,
and the rest keep the earlier order. The report shows what each cut buys: MAP@25, the
ceiling (the earlier stage's recall within the cut) and the pairs the later stage must score.

    lengths = cut_lengths(earlier, top_n=32, delta=0.06)   # per row: top 32 + any within 0.06
    ranking = cascade(earlier, later, lengths)              # later's order inside the cut
    table = cascade_report(earlier, later, gold, top_ns=(5, 10, 25), deltas=(None, 0.05))

1st place: retriever top 32 plus up to 32 more within 0.06 of the top similarity; the 14B
scored them all and kept 8 for 32B, which kept 5 for 72B. A cut by score is a prefix of the
earlier ranking (scores never rise with rank), so every cut is "the first L_r candidates".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eedi.metrics import gold_ranks, map_at_k, recall_at_k
from eedi.ranking import reorder_top


def cut_lengths(earlier: pd.DataFrame, top_n: int, delta: float | None = None) -> pd.Series:
    """Per row (QuestionId_Answer): how many of its first candidates the later stage rescores:
    top_n, or more where candidates score within delta of the row's top score."""
    g = earlier.groupby("QuestionId_Answer")
    n = g["rank"].max().clip(upper=top_n)
    if delta is not None:
        top = g["score"].transform("max")
        within = (earlier["score"] >= top - delta).groupby(earlier["QuestionId_Answer"]).sum()
        n = np.maximum(n, within)
    return n.astype(int)


def cascade(earlier: pd.DataFrame, later: pd.DataFrame, lengths: pd.Series) -> pd.DataFrame:
    """The earlier ranking with each row's first lengths[row] candidates in the later stage's
    order. A candidate the later ranking does not list goes after those it does (in the
    earlier order), as a later model would score it no better than its worst kept."""
    earlier = earlier.sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    cut = earlier[earlier["rank"] <= earlier["QuestionId_Answer"].map(lengths)]
    later_score = cut.merge(later[["QuestionId_Answer", "MisconceptionId", "score"]],
                            on=["QuestionId_Answer", "MisconceptionId"], how="left",
                            suffixes=("_earlier", ""))["score"]
    floor = later_score.groupby(cut["QuestionId_Answer"].to_numpy()).transform("min").fillna(0.0)
    later_score = later_score.fillna(floor - 1.0).to_numpy(dtype=np.float64)
    scores = {qa: later_score[idx] for qa, idx in cut.groupby("QuestionId_Answer").indices.items()}
    return reorder_top(earlier, scores)


def cascade_report(earlier: pd.DataFrame, later: pd.DataFrame, gold: pd.Series,
                   top_ns=(5, 10, 25, 50, 100), deltas=(None,)) -> pd.DataFrame:
    """One line per (top_n, delta): MAP@25 of the cascade, the ceiling (share of labelled rows
    whose gold is inside the cut), pairs rescored (all rows) and per row; plus the two
    stages alone for reference (top_n 0 = the earlier stage, "all" = the later stage)."""
    lines = [{"top_n": 0, "delta": None, "map@25": map_at_k(gold_ranks(earlier, gold)),
              "ceiling": float("nan"), "pairs": 0, "pairs_per_row": 0.0}]
    n_rows = earlier["QuestionId_Answer"].nunique()
    earlier_ranks = gold_ranks(earlier, gold)
    for top_n in top_ns:
        for delta in deltas:
            lengths = cut_lengths(earlier, top_n, delta)
            ranks = gold_ranks(cascade(earlier, later, lengths), gold)
            inside = earlier_ranks <= lengths.reindex(gold.index).to_numpy()
            lines.append({"top_n": top_n, "delta": delta, "map@25": map_at_k(ranks),
                          "ceiling": float(np.mean(inside)), "pairs": int(lengths.sum()),
                          "pairs_per_row": float(lengths.sum() / n_rows)})
    lines.append({"top_n": "all", "delta": None, "map@25": map_at_k(gold_ranks(later, gold)),
                  "ceiling": recall_at_k(gold_ranks(later, gold), 10**9), "pairs": None,
                  "pairs_per_row": None})
    return pd.DataFrame(lines)
