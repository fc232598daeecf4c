"""Hard negatives for training: misconceptions a previous ranking put near the top of a row
that are not its gold. One copy for both trainers (retriever and reranker).

    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    mined = mine_hard_negatives(ranking, gold, n=3, ranks=(1, 50), margin=None, seed=42)
    # {"12_B": [1507, 33, 918], ...}: up to n per row, drawn from ranks 1..50, never the gold
    full = top_up(mined, gold, n=3, all_ids=mis["MisconceptionId"], seed=42)
    # exactly n per labelled row: random other misconceptions fill in where mining found fewer
    negatives = training_negatives(ranking, rows, n=3, ranks="1:50", margin=None,
                                   names=names, seed=42)
    # both, for a trainer's rows; rows the ranking lacks (make synth's questions) are ranked
    # by TF-IDF first, so they get hard negatives too
"""

from __future__ import annotations

import click
import numpy as np
import pandas as pd

from eedi.metrics import gold_hits
from eedi.retrieval.tfidf import tfidf_ranking
from eedi.run_log import log


def parse_ranks(window: str) -> tuple[int, int]:
    """"FIRST:LAST" -> (first, last), 1 <= first <= last; else a usage error."""
    first, sep, last = window.partition(":")
    if sep and first.strip().isdigit() and last.strip().isdigit() and 1 <= int(first) <= int(last):
        return int(first), int(last)
    raise click.BadParameter(f"{window!r}: expected FIRST:LAST ranks, e.g. 1:50",
                             param_hint="--negative-ranks")


def mine_hard_negatives(ranking: pd.DataFrame, gold: pd.Series, n: int,
                        ranks: tuple[int, int] = (1, 50), margin: float | None = None,
                        seed: int = 0, allowed=None) -> dict[str, list[int]]:
    """Hard negatives per labelled row, from a previous ranking (the contract).

    In:  ranking; gold: MisconceptionId per QuestionId_Answer (labelled rows); n per row;
         ranks: the window (first, last) of ranks to draw from; margin: where the gold is in
         the ranking, drop candidates scoring above gold_score - margin (they look as right as
         the gold: likely false negatives, near-duplicate names); None keeps them;
         allowed: only these ids may be negatives (e.g. those labelling a training row: the
         7th place kept unseen misconceptions out of the negatives); None: any.
    Out: {QuestionId_Answer: up to n MisconceptionIds, never the gold}, drawn at random
         (seeded) from the window, so repeated epochs do not see only the top-1 confusions.
    """
    rng = np.random.default_rng(seed)
    window = ranking[(ranking["rank"] >= ranks[0]) & (ranking["rank"] <= ranks[1])]
    window = window[window["QuestionId_Answer"].isin(gold.index)]
    gold_of = window["QuestionId_Answer"].map(gold)
    gold_score = gold_hits(ranking, gold)["score"]
    keep = window["MisconceptionId"].to_numpy() != gold_of.to_numpy()
    if allowed is not None:
        keep &= window["MisconceptionId"].isin(set(int(i) for i in allowed)).to_numpy()
    if margin is not None:
        limit = window["QuestionId_Answer"].map(gold_score - margin)  # NaN: gold not ranked
        keep &= ~(window["score"].to_numpy() > limit.to_numpy())
    negatives = {}
    for qa, ids in window[keep].groupby("QuestionId_Answer", sort=False)["MisconceptionId"]:
        ids = ids.to_numpy()
        negatives[qa] = [int(i) for i in rng.choice(ids, size=min(n, len(ids)), replace=False)]
    return negatives


def top_up(negatives: dict[str, list[int]], gold: pd.Series, n: int, all_ids,
           seed: int) -> dict[str, list[int]]:
    """Exactly n negatives for every row of `gold`, in gold's order: the mined ones first
    (at most n), then random other misconceptions (seeded, never the gold, no repeats).

    Every training example needs the same number of negatives (MNRL's columns, the reranker's
    fixed group size); the gold near the end of the window leaves fewer to mine.
    """
    rng = np.random.default_rng(seed)
    pool = np.array(sorted(int(i) for i in all_ids))
    out = {}
    for qa, g in zip(gold.index, np.asarray(gold, dtype=np.int64)):
        picked = [m for m in negatives.get(qa, []) if m != g][:n]
        while len(picked) < n:
            m = int(rng.choice(pool))
            if m != g and m not in picked:
                picked.append(m)
        out[qa] = picked
    return out


def training_negatives(ranking: pd.DataFrame | None, rows: pd.DataFrame, n: int, ranks: str,
                       margin: float | None, names: dict[int, str], seed: int,
                       seen_only: bool = False) -> dict[str, list[int]]:
    """The n negatives of each training row: mined from `ranking` in the `ranks` window
    ("FIRST:LAST") and topped up from `names`' ids. Rows the ranking does not hold (synthetic
    questions) are mined from their TF-IDF ranking. seen_only: mine only misconceptions that
    label one of these training rows. ranking None or n == 0: none ({row: []})."""
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    if ranking is None or n == 0:
        return {qa: [] for qa in gold.index}
    window = parse_ranks(ranks)
    # The retriever's out-of-fold ranking covers train.csv alone; make synth's rows get a
    # TF-IDF ranking (no model needed), so their negatives read like them, as a real row's
    # do, rather than random ones a trainer learns nothing from.
    missing = rows[~rows["QuestionId_Answer"].isin(set(ranking["QuestionId_Answer"]))]
    if len(missing):
        log.info("ranked %d training rows the negatives' ranking lacks (synthetic questions) "
                 "by TF-IDF, to mine their hard negatives", len(missing))
        ranking = pd.concat([ranking, tfidf_ranking(missing, names, top_k=window[1])],
                            ignore_index=True)
    mined = mine_hard_negatives(ranking, gold, n, window, margin, seed,
                                allowed=set(gold) if seen_only else None)
    return top_up(mined, gold, n, names, seed)
