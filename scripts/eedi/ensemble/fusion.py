"""Rank fusion: several rankings of the same rows -> one, with weights tuned on MAP@25.

    table = candidate_table({"tfidf": r1, "minilm-ft": r2}, method="rrf", k=0)
    fused = fuse(table, weights=[0.3, 0.7], top_k=100)         # the ranking contract
    weights, seconds = tune_weights(table, gold)               # coordinate ascent on MAP@25
    oof, per_fold, seconds = nested_fusion(table, folds, gold, top_k=100)  # fold k: the others'
    # gold: MisconceptionId per labelled QuestionId_Answer; folds: fold per QuestionId_Answer

Methods, each candidate's contribution from member i, with weight w_i (fused = sum over members):
    rrf    w_i / (k + rank_i)              (k = 60 is Cormack et al.'s; the 7th place used k = 0)
    rank   -w_i * rank_i / sum(w)          (a weighted average rank, negated so higher is better)
    score  w_i * norm(score_i)             norm per row: minmax, zscore or softmax

A candidate missing from member i's list (below its top K) gets, explicitly:
    rrf    0 (it earns nothing from that member)
    rank   rank_i = that member's depth for the row + 1 (just below its last candidate)
    score  that member's lowest normalised score in the row (tied with its last candidate)
Ties are broken by member 1's rank, then member 2's, ... (missing = after every listed one),
then by the smaller MisconceptionId, so the output never depends on row order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K
from eedi.errors import DataError
from eedi.ranking import RANKING_COLUMNS

METHODS = ("rrf", "rank", "score")
NORMS = ("minmax", "zscore", "softmax")
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)  # one coordinate's values in a sweep


@dataclass
class CandidateTable:
    """Every (row, candidate) any member lists, with each member's contribution at weight 1.

    pairs: DataFrame[QuestionId_Answer, MisconceptionId] sorted by row; row: int index of each
    pair's row in `rows`; contrib: (n_pairs, n_members) float64; tie: (n_pairs,) int, the
    tie-break order within a row (lower first); members: names in order.
    """
    members: list[str]
    method: str
    rows: np.ndarray
    pairs: pd.DataFrame
    row: np.ndarray
    contrib: np.ndarray
    tie: np.ndarray

    def scores(self, weights) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        s = self.contrib @ w
        return s / w.sum() if self.method == "rank" and w.sum() > 0 else s

    def subset(self, keep_rows) -> "CandidateTable":
        """The table restricted to some rows (e.g. the training folds' rows)."""
        mask = np.isin(self.rows, np.asarray(list(keep_rows), dtype=object))
        keep = mask[self.row]
        new_index = np.cumsum(mask) - 1
        return CandidateTable(self.members, self.method, self.rows[mask],
                              self.pairs[keep].reset_index(drop=True), new_index[self.row[keep]],
                              self.contrib[keep], self.tie[keep])


def _normalise(scores: pd.Series, rows: pd.Series, norm: str) -> pd.Series:
    g = scores.groupby(rows.to_numpy())
    if norm == "minmax":
        lo, hi = g.transform("min"), g.transform("max")
        span = (hi - lo).to_numpy()
        return pd.Series(np.where(span > 0, (scores - lo).to_numpy() / np.where(span > 0, span, 1), 1.0),
                         index=scores.index)
    if norm == "zscore":
        mean, std = g.transform("mean"), g.transform("std", ddof=0)
        std = std.to_numpy()
        return pd.Series(np.where(std > 0, (scores - mean).to_numpy() / np.where(std > 0, std, 1), 0.0),
                         index=scores.index)
    if norm == "softmax":
        e = np.exp(scores - g.transform("max"))
        return e / e.groupby(rows.to_numpy()).transform("sum")
    raise ValueError(f"unknown norm {norm!r} ({', '.join(NORMS)})")


def candidate_table(members: dict[str, pd.DataFrame], method: str = "rrf", k: float = 60.0,
                    norm: str = "minmax") -> CandidateTable:
    """Build the table of contributions from rankings (the contract) of the same rows."""
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r} ({', '.join(METHODS)})")
    names = list(members)
    row_sets = {n: set(r["QuestionId_Answer"]) for n, r in members.items()}
    first = names[0]
    for n in names[1:]:
        if row_sets[n] != row_sets[first]:
            qa = sorted(row_sets[n] ^ row_sets[first])[0]
            raise DataError(n, "QuestionId_Answer", qa,
                            f"row is in only one of the rankings {first} and {n}: "
                            "fusion needs rankings of the same rows")
    pairs = pd.concat([r[["QuestionId_Answer", "MisconceptionId"]] for r in members.values()])
    pairs = pairs.drop_duplicates().sort_values(["QuestionId_Answer", "MisconceptionId"],
                                                ignore_index=True)
    contrib = np.zeros((len(pairs), len(names)))
    tie_keys = []
    for i, (name, r) in enumerate(members.items()):
        m = pairs.merge(r, on=["QuestionId_Answer", "MisconceptionId"], how="left")
        depth = pairs["QuestionId_Answer"].map(r.groupby("QuestionId_Answer")["rank"].max())
        rank = m["rank"].to_numpy(dtype=np.float64)
        missing = np.isnan(rank)
        if method == "rrf":
            contrib[:, i] = np.where(missing, 0.0, 1.0 / (k + np.where(missing, 1, rank)))
        elif method == "rank":
            contrib[:, i] = -np.where(missing, depth.to_numpy() + 1, rank)
        else:
            normed = _normalise(r["score"].astype(np.float64), r["QuestionId_Answer"], norm)
            lowest = normed.groupby(r["QuestionId_Answer"].to_numpy()).min()
            value = pairs.merge(r.assign(_n=normed.to_numpy()), how="left",
                                on=["QuestionId_Answer", "MisconceptionId"])["_n"].to_numpy()
            contrib[:, i] = np.where(missing, pairs["QuestionId_Answer"].map(lowest).to_numpy(), value)
        tie_keys.append(np.where(missing, np.inf, rank))
    # tie order within a row: member 1's rank, member 2's, ..., then the id (pairs are id-sorted)
    order = np.lexsort([pairs["MisconceptionId"].to_numpy()] + tie_keys[::-1]
                       + [pairs["QuestionId_Answer"].to_numpy()])
    tie = np.empty(len(pairs), dtype=np.int64)
    tie[order] = np.arange(len(pairs))
    rows, row = np.unique(pairs["QuestionId_Answer"].to_numpy(dtype=object), return_inverse=True)
    return CandidateTable(names, method, rows, pairs, row, contrib, tie)


def fuse(table: CandidateTable, weights, top_k: int) -> pd.DataFrame:
    """The fused ranking (contract): top_k per row by the weighted score, ties by `tie`."""
    s = table.scores(weights)
    df = table.pairs.assign(score=s.astype(np.float32), _tie=table.tie)
    # sort by the float32 score written out, so ranks agree with the stored scores
    df = df.sort_values(["QuestionId_Answer", "score", "_tie"], ascending=[True, False, True],
                        kind="stable")
    df["rank"] = (df.groupby("QuestionId_Answer", sort=False).cumcount() + 1).astype(np.int32)
    return df[df["rank"] <= top_k][RANKING_COLUMNS].reset_index(drop=True)


class GoldRanker:
    """The gold's rank per labelled row under any scores of a table, fast: the gold's pair is
    looked up once, then each call is a few vector operations (tuning calls it hundreds of
    times). Ranks follow fuse(): float32 scores, then the table's tie-break; inf where no
    member lists the gold."""

    def __init__(self, table: CandidateTable, gold: pd.Series):
        key = pd.MultiIndex.from_frame(table.pairs)
        pos = key.get_indexer(pd.MultiIndex.from_arrays([gold.index, np.asarray(gold, dtype=np.int64)]))
        self.row_of = pd.Index(table.rows).get_indexer(gold.index)
        if (self.row_of < 0).any():
            raise ValueError(f"labelled row {gold.index[self.row_of < 0][0]} is not in the rankings")
        gold_pair = np.full(len(table.rows), -1)
        gold_pair[self.row_of[pos >= 0]] = pos[pos >= 0]
        self.table, self.gold_pair = table, gold_pair
        self.g = gold_pair[table.row]                       # the gold pair of each pair's row
        self.has = self.g >= 0
        self.g_safe = np.maximum(self.g, 0)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        t = self.table
        scores = scores.astype(np.float32)
        gs, gt = scores[self.g_safe], t.tie[self.g_safe]
        beats = self.has & ((scores > gs) | ((scores == gs) & (t.tie < gt)))
        ahead = np.bincount(t.row, weights=beats, minlength=len(t.rows))
        return np.where(self.gold_pair >= 0, ahead + 1, np.inf)[self.row_of]


def map_of(ranks: np.ndarray, k: int = SUBMISSION_TOP_K) -> float:
    return float(np.where(ranks <= k, 1.0 / ranks, 0.0).mean()) if len(ranks) else float("nan")


def tune_weights(table: CandidateTable, gold: pd.Series, sweeps: int = 10,
                 objective=None) -> tuple[np.ndarray, float]:
    """Coordinate ascent on MAP@25 (or objective(gold ranks)) over the members' weights.

    Starts from equal weights; each sweep tries every value of WEIGHT_GRID for one member at a
    time, the others fixed, and keeps a value only if it strictly improves the objective.
    Stops when a sweep changes nothing. Returns (weights summing to 1, seconds taken).
    """
    start = time.perf_counter()
    objective = objective or map_of
    ranks_of = GoldRanker(table, gold)
    n = len(table.members)
    w = np.full(n, 1.0 / n)
    best = objective(ranks_of(table.scores(w)))
    for _ in range(sweeps):
        changed = False
        for i in range(n):
            for value in WEIGHT_GRID:
                trial = w.copy()
                trial[i] = value
                if trial.sum() <= 0:
                    continue
                got = objective(ranks_of(table.scores(trial)))
                if got > best + 1e-12:
                    best, w, changed = got, trial, True
        if not changed:
            break
    return w / w.sum(), time.perf_counter() - start


def nested_fusion(table: CandidateTable, folds: pd.Series, gold: pd.Series, top_k: int
                  ) -> tuple[pd.DataFrame, dict[int, np.ndarray], float]:
    """Out-of-fold fusion of train: fold k's rows are fused with weights tuned on the labelled
    rows of the other folds only, so the fused CV never saw fold k's labels.

    folds: fold per QuestionId_Answer (every row of the table); gold: MisconceptionId per
    labelled QuestionId_Answer. Returns (fused ranking of every row, {fold: weights},
    seconds spent tuning).
    """
    gold = gold.astype(np.int64)
    parts, per_fold, seconds = [], {}, 0.0
    for k in sorted(folds.unique()):
        tune_rows = gold.index[folds.reindex(gold.index).to_numpy() != k]
        w, s = tune_weights(table.subset(tune_rows), gold[tune_rows])
        per_fold[int(k)], seconds = w, seconds + s
        parts.append(fuse(table.subset(folds.index[folds.to_numpy() == k]), w, top_k))
    fused = pd.concat(parts).sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    return fused, per_fold, seconds
