"""eedi.metrics: MAP@25 and recall@K from the gold's rank on hand-computed cases, and
agreement with Kaggle's reference `apk` on random rankings; the paired difference of two
rankings and its bootstrap over whole questions."""

import numpy as np
import pandas as pd
import pytest

from conftest import ranking_of
from eedi.metrics import bootstrap_weights
from eedi.metrics import cv_difference
from eedi.metrics import cv_metrics
from eedi.metrics import gold_ranks
from eedi.metrics import labelled_ranks
from eedi.metrics import map_at_k
from eedi.metrics import recall_at_k


def test_map_at_25_hand_computed():
    ranking = ranking_of({
        "1_A": [7, 3, 5],                 # gold 7 at rank 1 -> 1
        "1_B": [1, 2, 9, 4],              # gold 9 at rank 3 -> 1/3
        "2_A": list(range(100, 130)) + [42],  # gold 42 at rank 31 > 25 -> 0
        "2_C": [8],                       # gold 5 absent -> 0
    })                                    # row 3_D not ranked at all -> 0
    gold = pd.Series({"1_A": 7, "1_B": 9, "2_A": 42, "2_C": 5, "3_D": 11})
    ranks = gold_ranks(ranking, gold)
    assert ranks.tolist() == [1, 3, 31, np.inf, np.inf]
    assert map_at_k(ranks) == pytest.approx((1 + 1 / 3) / 5)
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 5)
    assert recall_at_k(ranks, 25) == pytest.approx(2 / 5)
    assert recall_at_k(ranks, 50) == pytest.approx(3 / 5)


def kaggle_apk(actual, predicted, k=25):
    """The competition's metric code (ml_metrics' apk), verbatim in behaviour."""
    if len(predicted) > k:
        predicted = predicted[:k]
    score, num_hits = 0.0, 0.0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            num_hits += 1.0
            score += num_hits / (i + 1.0)
    return score / min(len(actual), k) if actual else 0.0


def test_map_matches_kaggle_reference_on_random_rankings():
    rng = np.random.default_rng(0)
    lists, gold = {}, {}
    for i in range(300):
        ids = rng.permutation(60)[: rng.integers(1, 60)].tolist()
        lists[f"{i}_A"] = ids
        gold[f"{i}_A"] = int(rng.integers(0, 60))
    ranks = gold_ranks(ranking_of(lists), pd.Series(gold))
    expected = np.mean([kaggle_apk([gold[q]], lists[q]) for q in lists])
    assert map_at_k(ranks) == pytest.approx(expected)
    assert 0 < expected < 1  # the random case really mixes hits and misses


def test_bootstrap_weights_draw_whole_groups():
    groups = pd.Series([7, 7, 7, 3, 3, 9])  # three groups of 3, 2 and 1 rows
    w = bootstrap_weights(groups, n_resamples=500, seed=1)
    assert w.shape == (500, 6)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 1] == w[:, 2]).all() and (w[:, 3] == w[:, 4]).all()
    assert (w[:, [0, 3, 5]].sum(axis=1) == 3).all()  # each resample draws 3 groups
    assert 0.9 < w[:, 5].mean() < 1.1  # each group is drawn once on average
    assert (bootstrap_weights(groups, 500, seed=1) == w).all()  # the seed fixes the draws


def labelled_of(golds, folds, seen, questions):
    return pd.DataFrame({"QuestionId_Answer": [f"{q}_{i}" for i, q in enumerate(questions)],
                         "MisconceptionId": golds, "fold": folds, "seen": seen,
                         "QuestionId": questions})


def test_cv_difference_is_the_difference_of_cv_metrics_per_slice():
    rng = np.random.default_rng(0)
    n = 120
    labelled = labelled_of(rng.integers(0, 40, n), np.arange(n) % 3, rng.random(n) < 0.6,
                           np.arange(n) // 4)
    lists = [{qa: rng.permutation(40)[:30].tolist() for qa in labelled["QuestionId_Answer"]}
             for _ in range(2)]
    a, b = ranking_of(lists[0]), ranking_of(lists[1])
    weights = bootstrap_weights(labelled["QuestionId"], 1000)
    delta = cv_difference(labelled_ranks(b, labelled), labelled_ranks(a, labelled), labelled,
                          weights)
    ma, mb = (cv_metrics(labelled_ranks(r, labelled), labelled) for r in (a, b))
    assert set(delta) == set(ma)  # all, fold0-2, seen, unseen, balanced
    for name, d in delta.items():
        assert d["delta_map@25"] == pytest.approx(mb[name]["map@25"] - ma[name]["map@25"])
        assert d["delta_lo"] < d["delta_map@25"] < d["delta_hi"]  # random rankings: noise both ways
    assert delta["all"]["delta_lo"] < 0 < delta["all"]["delta_hi"]


def test_cv_difference_interval_sides_and_grouping():
    n = 200
    labelled = labelled_of(np.zeros(n, dtype=int), np.arange(n) % 2, np.ones(n, dtype=bool),
                           np.arange(n) // 10)
    first = ranking_of({qa: [1, 0] for qa in labelled["QuestionId_Answer"]})  # gold at rank 2
    same = cv_difference(labelled_ranks(first, labelled), labelled_ranks(first, labelled),
                         labelled, bootstrap_weights(labelled["QuestionId"], 200))
    assert same["all"] == {"delta_map@25": 0.0, "delta_lo": 0.0, "delta_hi": 0.0}
    # better on a random half of the questions, the same on the rest: every row of a
    # question moves together, so the interval must be ~sqrt(10) wider than one that
    # resamples rows alone (10 rows per question)
    better_q = np.random.default_rng(3).random(n // 10) < 0.5
    better = ranking_of({qa: [0, 1] if better_q[q] else [1, 0]
                         for qa, q in zip(labelled["QuestionId_Answer"], labelled["QuestionId"])})
    ranks = labelled_ranks(better, labelled), labelled_ranks(first, labelled)
    by_question = cv_difference(*ranks, labelled, bootstrap_weights(labelled["QuestionId"], 2000))
    by_row = cv_difference(*ranks, labelled, bootstrap_weights(pd.Series(np.arange(n)), 2000))
    d = by_question["all"]
    assert d["delta_map@25"] == pytest.approx(0.5 * better_q.mean())
    assert 0 < d["delta_lo"] < d["delta_map@25"] < d["delta_hi"]
    width = {k: v["all"]["delta_hi"] - v["all"]["delta_lo"] for k, v in
             (("question", by_question), ("row", by_row))}
    assert 2 < width["question"] / width["row"] < 5
    # rows resampled alone: the textbook 95% interval of a mean, +-1.96 standard errors
    diff = np.where(better_q[labelled["QuestionId"]], 0.5, 0.0)
    assert width["row"] / (2 * 1.96 * diff.std() / np.sqrt(n)) == pytest.approx(1, abs=0.1)
    # unseen is empty here: no resample can say anything about it
    assert np.isnan(by_question["unseen"]["delta_map@25"]) and np.isnan(by_question["unseen"]["delta_lo"])
