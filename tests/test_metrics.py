"""eedi.metrics: MAP@25 and recall@K from the gold's rank on hand-computed cases, and
agreement with Kaggle's reference `apk` on random rankings."""

import numpy as np
import pandas as pd
import pytest

from conftest import ranking_of
from eedi.metrics import gold_ranks
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
