"""The unseen boost: raise the misconceptions never seen in training, which the hidden test is
rich in (over 900 of the 2,587 never occur in train; 3rd place estimated 3 unseen rows to 1
seen in the hidden test).

Scale: each row's scores are z-scored and turned into probabilities (softmax over the row's
candidates), so one constant means the same for a cosine, an RRF sum or a reranker's logit;
an unseen candidate's probability is multiplied by C. The written score is the log of the
boosted probability; ties keep the previous order.

    unseen = unseen_mask(ranking, seen_ids)            # bool per (row, candidate)
    boosted = boost(ranking, unseen, c=3.0)            # the ranking contract, re-sorted
    c, seconds = tune_constant(ranking, gold, unseen, seen_rows, objective="map")
    oof, per_fold, seconds = nested_boost(ranking, folds, gold)   # C for fold k from the others
    c, seconds = cv_constant(ranking, folds, gold)     # the test's C: tuned on all of train
    c = constant_for_top1_share(ranking, unseen, 0.75) # 3rd place: unseen share at rank 1

"Seen" follows eedi.folds: in CV an id is seen by fold k's rows when it labels a row of
another fold (the training folds); on test, when it labels any train row. When C is tuned for
fold k on the rows of fold j, their seen ids come from the folds other than j and k, so nothing
about fold k's labels reaches its own score.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from eedi.ensemble.fusion import CandidateTable, GoldRanker, map_of
from eedi.ranking import RANKING_COLUMNS

C_GRID = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0)
OBJECTIVES = ("map", "balanced")


def log_probabilities(ranking: pd.DataFrame) -> np.ndarray:
    """Per (row, candidate) in the ranking's order: log softmax of the row's z-scored scores."""
    s = ranking["score"].to_numpy(dtype=np.float64)
    g = ranking.groupby("QuestionId_Answer", sort=False)["score"]
    mean = g.transform("mean").to_numpy()
    std = g.transform("std", ddof=0).to_numpy()
    z = np.where(std > 0, (s - mean) / np.where(std > 0, std, 1), 0.0)
    zmax = pd.Series(z).groupby(ranking["QuestionId_Answer"].to_numpy()).transform("max").to_numpy()
    lse = np.log(pd.Series(np.exp(z - zmax)).groupby(ranking["QuestionId_Answer"].to_numpy())
                 .transform("sum").to_numpy()) + zmax
    return z - lse


def unseen_mask(ranking: pd.DataFrame, seen_ids) -> np.ndarray:
    """True where a candidate is not among seen_ids (one set for every row)."""
    return ~ranking["MisconceptionId"].isin(set(int(i) for i in seen_ids)).to_numpy()


def _table(ranking: pd.DataFrame) -> CandidateTable:
    """A one-member candidate table of the ranking (ties: the ranking's own order)."""
    ranking = ranking.sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    rows, row = np.unique(ranking["QuestionId_Answer"].to_numpy(dtype=object), return_inverse=True)
    return CandidateTable(["ranking"], "score", rows,
                          ranking[["QuestionId_Answer", "MisconceptionId"]], row,
                          np.zeros((len(ranking), 1)), np.arange(len(ranking)))


def _sorted(ranking: pd.DataFrame, unseen: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The ranking in (QuestionId_Answer, rank) order, with `unseen` (aligned with the input)
    permuted the same way."""
    order = np.lexsort((ranking["rank"].to_numpy(), ranking["QuestionId_Answer"].to_numpy()))
    return ranking.iloc[order].reset_index(drop=True), np.asarray(unseen, dtype=bool)[order]


def boost(ranking: pd.DataFrame, unseen: np.ndarray, c: float) -> pd.DataFrame:
    """The ranking re-sorted by log(p * C) for unseen candidates, log p for seen ones
    (unseen: a bool per entry of `ranking`, aligned with it)."""
    ranking, unseen = _sorted(ranking, unseen)
    score = log_probabilities(ranking) + np.log(c) * unseen
    out = ranking.assign(score=score.astype(np.float32))
    out = out.sort_values(["QuestionId_Answer", "score", "rank"], ascending=[True, False, True],
                          kind="stable")
    out["rank"] = (out.groupby("QuestionId_Answer", sort=False).cumcount() + 1).astype(np.int32)
    return out[RANKING_COLUMNS].reset_index(drop=True)


def _objective(name: str, seen_rows: np.ndarray):
    if name == "map":
        return map_of
    if name == "balanced":  # 50/50 seen/unseen rows, as the hidden test holds more unseen rows
        return lambda ranks: 0.5 * map_of(ranks[seen_rows]) + 0.5 * map_of(ranks[~seen_rows])
    raise ValueError(f"unknown objective {name!r} ({', '.join(OBJECTIVES)})")


def tune_constant(ranking: pd.DataFrame, gold: pd.Series, unseen: np.ndarray,
                  seen_rows: np.ndarray, objective: str = "map") -> tuple[float, float]:
    """The C of C_GRID that maximises the objective on the labelled rows of `gold` (the
    smallest such C: C = 1 is no boost). seen_rows: per gold row, whether its gold is seen.
    Returns (C, seconds)."""
    start = time.perf_counter()
    ranking, unseen = _sorted(ranking, unseen)
    logp = log_probabilities(ranking)
    ranks_of = GoldRanker(_table(ranking), gold)
    score = _objective(objective, np.asarray(seen_rows, dtype=bool))
    best_c, best = 1.0, -np.inf
    for c in C_GRID:
        got = score(ranks_of(logp + np.log(c) * unseen))
        if got > best + 1e-12:
            best_c, best = c, got
    return best_c, time.perf_counter() - start


def ids_of_folds(labelled: pd.DataFrame, folds, also_seen=frozenset()) -> set[int]:
    """The MisconceptionIds labelling rows of the given folds (labelled: MisconceptionId, fold),
    plus also_seen: ids every model trains on whatever its fold (SYNTH's questions)."""
    return set(labelled.loc[labelled["fold"].isin(list(folds)), "MisconceptionId"].astype(int)) | set(also_seen)


def nested_boost(ranking: pd.DataFrame, folds: pd.Series, gold: pd.Series,
                 objective: str = "map", also_seen=frozenset()
                 ) -> tuple[pd.DataFrame, dict[int, float], float]:
    """Out-of-fold boost of a ranking of train: fold k's rows are boosted with the C tuned on
    the other folds' labelled rows, with fold k's labels kept out of every seen set used.

    folds: fold per QuestionId_Answer (every row); gold: MisconceptionId per labelled row.
    Returns (boosted ranking, {fold: C}, seconds spent tuning).
    """
    ranking = ranking.sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    labelled = pd.DataFrame({"MisconceptionId": gold.astype(np.int64),
                             "fold": folds.reindex(gold.index).to_numpy()}, index=gold.index)
    all_folds = sorted(folds.unique())
    row_fold = ranking["QuestionId_Answer"].map(folds).to_numpy()
    parts, per_fold, seconds = [], {}, 0.0
    for k in all_folds:
        # tuning rows: the other folds' labelled rows, each with the seen ids of neither its
        # own fold nor fold k
        tune = labelled[labelled["fold"] != k]
        in_tune = ranking["QuestionId_Answer"].isin(tune.index).to_numpy()
        sub = ranking[in_tune].reset_index(drop=True)
        sub_fold = row_fold[in_tune]
        seen_by_fold = {j: ids_of_folds(labelled, set(all_folds) - {j, k}, also_seen)
                        for j in all_folds if j != k}
        unseen = np.array([m not in seen_by_fold[f] for m, f in
                           zip(sub["MisconceptionId"].astype(int), sub_fold)])
        seen_rows = np.array([g in seen_by_fold[f] for g, f in zip(tune["MisconceptionId"], tune["fold"])])
        c, s = tune_constant(sub, tune["MisconceptionId"], unseen, seen_rows, objective)
        per_fold[int(k)], seconds = c, seconds + s
        mine = ranking[row_fold == k].reset_index(drop=True)
        parts.append(boost(mine, unseen_mask(mine, ids_of_folds(labelled, set(all_folds) - {k},
                                                                also_seen)), c))
    out = pd.concat(parts).sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    return out, per_fold, seconds


def seen_ids_by_fold(folds: pd.Series, gold: pd.Series, also_seen=frozenset()) -> dict[int, set[int]]:
    """{fold k: ids labelling rows of the other folds, + also_seen}: what fold k's models could
    have seen."""
    labelled = pd.DataFrame({"MisconceptionId": gold.astype(np.int64),
                             "fold": folds.reindex(gold.index).to_numpy()}, index=gold.index)
    all_folds = set(folds.unique())
    return {int(k): ids_of_folds(labelled, all_folds - {k}, also_seen) for k in all_folds}


def cv_constant(ranking: pd.DataFrame, folds: pd.Series, gold: pd.Series,
                objective: str = "map", also_seen=frozenset()) -> tuple[float, float]:
    """The C for test: tuned on every labelled row of train, each row's unseen ids being those
    absent from the other folds (as in CV). Returns (C, seconds)."""
    seen_of = seen_ids_by_fold(folds, gold, also_seen)
    sub = ranking[ranking["QuestionId_Answer"].isin(gold.index)].reset_index(drop=True)
    row_fold = sub["QuestionId_Answer"].map(folds).to_numpy()
    unseen = np.array([m not in seen_of[f] for m, f in zip(sub["MisconceptionId"], row_fold)])
    seen_rows = np.array([g in seen_of[f] for g, f in zip(gold, folds.reindex(gold.index))])
    return tune_constant(sub, gold, unseen, seen_rows, objective)


def top1_share_boost(ranking: pd.DataFrame, folds: pd.Series, gold: pd.Series,
                     target: float, also_seen=frozenset()) -> tuple[pd.DataFrame, dict[int, float]]:
    """3rd place's rule in CV: each fold's own rows set its C (no labels used), unseen being
    absent from the other folds. Returns (boosted ranking, {fold: C})."""
    seen_of = seen_ids_by_fold(folds, gold, also_seen)
    parts, per_fold = [], {}
    for k in sorted(seen_of):
        mine = ranking[ranking["QuestionId_Answer"].map(folds) == k]
        unseen = unseen_mask(mine, seen_of[k])
        per_fold[k] = constant_for_top1_share(mine, unseen, target)
        parts.append(boost(mine, unseen, per_fold[k]))
    return pd.concat(parts).sort_values(["QuestionId_Answer", "rank"], ignore_index=True), per_fold


def top1_unseen_share(ranking: pd.DataFrame, unseen: np.ndarray, c: float) -> float:
    """Share of rows whose rank-1 candidate is unseen after boosting by c."""
    ranking, unseen = _sorted(ranking, unseen)
    boosted = boost(ranking, unseen, c)
    top = boosted[boosted["rank"] == 1]
    flags = pd.Series(unseen, index=pd.MultiIndex.from_frame(
        ranking[["QuestionId_Answer", "MisconceptionId"]]))
    return float(flags.reindex(pd.MultiIndex.from_frame(top[["QuestionId_Answer", "MisconceptionId"]])).mean())


def constant_for_top1_share(ranking: pd.DataFrame, unseen: np.ndarray, target: float) -> float:
    """3rd place's criterion, no labels needed: the smallest C of C_GRID that makes unseen
    ids at least `target` of the rank-1 predictions (the largest C if none does)."""
    ranking, unseen = _sorted(ranking, unseen)
    for c in C_GRID:
        if top1_unseen_share(ranking, unseen, c) >= target:
            return c
    return C_GRID[-1]
