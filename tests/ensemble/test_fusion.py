"""eedi.ensemble.fusion on hand-computed cases: each method's scores, the explicit value of a candidate
missing from a member's list, deterministic ties, weight tuning, and nested tuning that never
sees the fold it scores."""

import numpy as np
import pandas as pd
import pytest

from eedi.ensemble.fusion import (GoldRanker, candidate_table, fuse, map_of, nested_fusion,
                                  tune_weights)
from eedi.errors import DataError
from eedi.metrics import gold_ranks


def ranking(rows: dict[str, list[int]], scores: dict[str, list[float]] | None = None) -> pd.DataFrame:
    """{row: [ids best first]} -> the ranking contract (scores 1, 0.9, ... unless given)."""
    out = []
    for qa, ids in rows.items():
        s = scores[qa] if scores else [1 - 0.1 * i for i in range(len(ids))]
        out += [{"QuestionId_Answer": qa, "MisconceptionId": m, "score": v, "rank": i + 1}
                for i, (m, v) in enumerate(zip(ids, s))]
    return pd.DataFrame(out)


A = ranking({"r1": [1, 2, 3], "r2": [4, 5, 6]}, {"r1": [0.9, 0.5, 0.1], "r2": [0.8, 0.7, 0.6]})
B = ranking({"r1": [3, 2, 7], "r2": [6, 5, 4]}, {"r1": [0.9, 0.5, 0.1], "r2": [0.8, 0.7, 0.6]})


def order(fused, qa):
    return fused[fused["QuestionId_Answer"] == qa]["MisconceptionId"].tolist()


def test_rrf_k0_sums_reciprocal_ranks_and_a_missing_candidate_earns_nothing():
    fused = fuse(candidate_table({"a": A, "b": B}, "rrf", k=0), [0.5, 0.5], top_k=10)
    r1 = fused[fused["QuestionId_Answer"] == "r1"].set_index("MisconceptionId")["score"]
    # 3: 0.5/3 + 0.5/1; 1: 0.5/1 + 0 (missing from b); 2: 0.5/2 + 0.5/2; 7: 0 + 0.5/3
    np.testing.assert_allclose(r1[[3, 1, 2, 7]], [2 / 3, 0.5, 0.5, 1 / 6], rtol=1e-6)
    assert order(fused, "r1") == [3, 1, 2, 7]  # 1 and 2 tie at 0.5: a's rank decides
    assert order(fused, "r2") == [4, 6, 5]     # 4 and 6 tie: a ranks 4 first


def test_rrf_k60_is_the_textbook_formula():
    fused = fuse(candidate_table({"a": A, "b": B}, "rrf", k=60), [1.0, 1.0], top_k=10)
    r1 = fused[fused["QuestionId_Answer"] == "r1"].set_index("MisconceptionId")["score"]
    np.testing.assert_allclose(r1[3], 1 / 63 + 1 / 61, rtol=1e-6)
    np.testing.assert_allclose(r1[7], 1 / 63, rtol=1e-6)


def test_rank_average_puts_a_missing_candidate_just_below_the_members_last():
    fused = fuse(candidate_table({"a": A, "b": B}, "rank"), [0.5, 0.5], top_k=10)
    r1 = fused[fused["QuestionId_Answer"] == "r1"].set_index("MisconceptionId")["score"]
    # 1: (1 + 4)/2 (b lists 3 ids: missing = 4); 2: (2 + 2)/2; 3: (3 + 1)/2; 7: (4 + 3)/2
    np.testing.assert_allclose(r1[[2, 3, 1, 7]], [-2.0, -2.0, -2.5, -3.5])
    assert order(fused, "r1") == [2, 3, 1, 7]


@pytest.mark.parametrize("norm, expected", [
    # minmax: a (1, .5, 0), b over 3, 2, 7 (1, .5, 0); missing = the member's row minimum
    ("minmax", {1: 1.0 + 0.0, 2: 0.5 + 0.5, 3: 0.0 + 1.0, 7: 0.0 + 0.0}),
    # zscore of (.9, .5, .1): (1.2247, 0, -1.2247)
    ("zscore", {1: 1.2247449 - 1.2247449, 2: 0.0, 3: 0.0, 7: -1.2247449 - 1.2247449}),
])
def test_score_fusion_normalises_per_row_and_fills_the_row_minimum(norm, expected):
    fused = fuse(candidate_table({"a": A, "b": B}, "score", norm=norm), [1.0, 1.0], top_k=10)
    r1 = fused[fused["QuestionId_Answer"] == "r1"].set_index("MisconceptionId")["score"]
    for m, v in expected.items():
        np.testing.assert_allclose(r1[m], v, atol=1e-5)


def test_softmax_norm_gives_probabilities():
    table = candidate_table({"a": A, "b": B}, "score", norm="softmax")
    fused = fuse(table, [1.0, 0.0], top_k=10)  # a alone: its softmax over .9, .5, .1
    r1 = fused[fused["QuestionId_Answer"] == "r1"].set_index("MisconceptionId")["score"]
    p = np.exp([0.9, 0.5, 0.1]) / np.exp([0.9, 0.5, 0.1]).sum()
    np.testing.assert_allclose(r1[[1, 2, 3]], p, rtol=1e-5)
    np.testing.assert_allclose(r1[7], p.min(), rtol=1e-5)  # missing from a: its row minimum


def test_output_does_not_depend_on_row_order_and_keeps_top_k():
    shuffled = {n: r.sample(frac=1, random_state=1) for n, r in {"a": A, "b": B}.items()}
    one = fuse(candidate_table({"a": A, "b": B}, "rrf"), [0.3, 0.7], top_k=3)
    two = fuse(candidate_table(shuffled, "rrf"), [0.3, 0.7], top_k=3)
    pd.testing.assert_frame_equal(one, two)
    assert one.groupby("QuestionId_Answer")["rank"].max().tolist() == [3, 3]


def test_a_zero_weight_member_does_not_count():
    fused = fuse(candidate_table({"a": A, "b": B}, "rrf"), [0.0, 1.0], top_k=10)
    assert order(fused, "r1")[:3] == [3, 2, 7] and order(fused, "r2") == [6, 5, 4]


def test_rankings_of_different_rows_are_refused():
    with pytest.raises(DataError, match="r2"):
        candidate_table({"a": A, "b": B[B["QuestionId_Answer"] == "r1"]})


def random_members(seed=0, n_rows=60, depth=20, n_ids=60):
    rng = np.random.default_rng(seed)
    rows = [f"q{i}" for i in range(n_rows)]
    gold = pd.Series(rng.integers(0, n_ids, n_rows), index=rows)
    members = {}
    for name, skill in (("good", 3.0), ("noisy", 0.5), ("bad", 0.0)):
        ids = {}
        for qa in rows:
            s = rng.normal(size=n_ids)
            s[gold[qa]] += skill
            ids[qa] = list(np.argsort(-s)[:depth])
        members[name] = ranking(ids)
    return members, gold


@pytest.mark.parametrize("method", ["rrf", "rank", "score"])
def test_the_fast_gold_ranks_equal_those_of_the_fused_ranking(method):
    members, gold = random_members()
    table = candidate_table(members, method, k=0)
    w = [0.5, 0.3, 0.2]
    fast = GoldRanker(table, gold)(table.scores(w))
    slow = gold_ranks(fuse(table, w, top_k=10**6), gold).to_numpy()
    np.testing.assert_array_equal(fast, slow)


def test_tuning_weights_the_member_that_knows_the_answers():
    members, gold = random_members()
    table = candidate_table(members, "rrf")
    weights, seconds = tune_weights(table, gold)
    assert weights.sum() == pytest.approx(1) and weights[0] == weights.max()
    ranks = GoldRanker(table, gold)
    assert map_of(ranks(table.scores(weights))) >= map_of(ranks(table.scores([1 / 3] * 3)))
    assert map_of(ranks(table.scores(weights))) >= map_of(ranks(table.scores([1, 0, 0])))
    assert seconds < 60


def test_nested_tuning_never_sees_the_fold_it_scores():
    members, gold = random_members(seed=2)
    table = candidate_table(members, "rrf")
    folds = pd.Series(np.arange(len(gold)) % 3, index=gold.index)
    fused, per_fold, _ = nested_fusion(table, folds, gold, top_k=20)
    # relabel fold 0 with the "bad" member's top 1: fold 0's weights and fused rows must not
    # move...
    in0 = (folds == 0).to_numpy()
    bad_top = members["bad"][members["bad"]["rank"] == 1].set_index("QuestionId_Answer")["MisconceptionId"]
    scrambled = gold.copy()
    scrambled[in0] = bad_top[gold.index[in0]].to_numpy()
    fused2, per_fold2, _ = nested_fusion(table, folds, scrambled, top_k=20)
    # (fold 0's new labels alone call for "bad" alone: a tuning that saw them would move)
    rows0 = gold.index[in0]
    leaky, _ = tune_weights(table.subset(rows0), scrambled[rows0])
    assert leaky[2] > per_fold[0][2] + 0.1
    np.testing.assert_array_equal(per_fold[0], per_fold2[0])
    pd.testing.assert_frame_equal(fused[fused["QuestionId_Answer"].isin(rows0)].reset_index(drop=True),
                                  fused2[fused2["QuestionId_Answer"].isin(rows0)].reset_index(drop=True))
    # ...while the other folds' weights were tuned on fold 0's labels and may change
    assert set(per_fold) == {0, 1, 2}
    assert fused["QuestionId_Answer"].nunique() == len(gold)
