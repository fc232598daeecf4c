"""eedi.ensemble.boost: the scale (a row's z-scored softmax probability x C), the seen set per fold,
tuning C on MAP or the 50/50 mix, 3rd place's rank-1 criterion, and nested tuning that keeps
fold k's labels out of fold k's boost."""

import numpy as np
import pandas as pd

from eedi.ensemble.boost import (boost, constant_for_top1_share, ids_of_folds, log_probabilities,
                                 nested_boost, top1_unseen_share, tune_constant, unseen_mask)

R = pd.DataFrame({"QuestionId_Answer": ["r1"] * 3 + ["r2"] * 3,
                  "MisconceptionId": [1, 2, 3, 4, 5, 6],
                  "score": [0.9, 0.5, 0.1, 0.8, 0.7, 0.6], "rank": [1, 2, 3, 1, 2, 3]})


def test_log_probabilities_are_the_softmax_of_z_scores_per_row():
    z = np.array([1, 0, -1]) * np.sqrt(1.5)  # z-scores of (.9, .5, .1) and of (.8, .7, .6)
    expected = z - np.log(np.exp(z).sum())
    np.testing.assert_allclose(log_probabilities(R), np.concatenate([expected, expected]), atol=1e-6)


def test_c_multiplies_an_unseen_candidates_probability():
    unseen = np.array([False, False, True, False, True, False])
    same = boost(R, unseen, 1.0)
    assert same["MisconceptionId"].tolist() == [1, 2, 3, 4, 5, 6]
    logp = log_probabilities(R)
    np.testing.assert_allclose(same["score"], logp, atol=1e-6)
    # id 3 needs p3 * C > p1: C > exp(logp1 - logp3) = exp(2 * 1.2247) = 11.6
    assert boost(R, unseen, 11.0)["MisconceptionId"].tolist()[:3] == [1, 3, 2]
    boosted = boost(R, unseen, 12.0)
    assert boosted["MisconceptionId"].tolist() == [3, 1, 2, 5, 4, 6]
    np.testing.assert_allclose(boosted.set_index("MisconceptionId")["score"][3], logp[2] + np.log(12), atol=1e-6)


def test_ties_keep_the_previous_order_and_input_order_does_not_matter():
    flat = R.assign(score=1.0)  # one score per row: every probability equal
    out = boost(flat.sample(frac=1, random_state=0), unseen_mask(flat.sample(frac=1, random_state=0), {1, 2, 4, 5, 6}), 1.0)
    assert out["MisconceptionId"].tolist() == [1, 2, 3, 4, 5, 6]


def test_seen_ids_per_fold():
    labelled = pd.DataFrame({"MisconceptionId": [1, 1, 2, 3], "fold": [0, 1, 1, 2]})
    assert ids_of_folds(labelled, {1, 2}) == {1, 2, 3}    # what fold 0's models saw
    assert ids_of_folds(labelled, {0, 2}) == {1, 3}       # fold 1's: 2 is unseen there
    assert ids_of_folds(labelled, set()) == set()
    assert unseen_mask(R, {1, 2, 4}).tolist() == [False, False, True, False, True, True]


def test_tuning_picks_the_smallest_c_with_the_best_objective():
    unseen = np.array([False, False, True, False, True, False])
    gold = pd.Series([3, 4], index=["r1", "r2"])  # r1's gold is unseen, r2's seen (at rank 1)
    c, seconds = tune_constant(R, gold, unseen, seen_rows=np.array([False, True]))
    # any C > 11.6 lifts 3 to rank 1 in r1; 4 stays first in r2 while p5 * C < p4: C < e^1.22
    # = 3.4 -> never both; MAP is 1.0 for C in (11.6, ...) for r1 but r2 drops to 1/2 once
    # C > 3.4: best MAP = (1 + 1/2)/2 = .75 at C >= 15 vs (1/3 + 1)/2 = .667 at C = 1
    assert c == 15.0 and seconds < 10
    c_seen_only, _ = tune_constant(R, gold[["r2"]], unseen, seen_rows=np.array([True]))
    assert c_seen_only == 1.0  # boosting only hurts a row whose gold is seen


def test_balanced_objective_weighs_the_unseen_rows_up():
    # three seen rows whose gold is at rank 1 and one unseen row whose gold is at rank 2: a
    # boost that fixes the unseen row costs one seen row
    rows, ids, scores, ranks = [], [], [], []
    for i, (qa, cand) in enumerate([("s1", [10, 11]), ("s2", [20, 21]), ("s3", [30, 31]), ("u1", [40, 41])]):
        rows += [qa, qa]; ids += cand; scores += [1.0, 0.0]; ranks += [1, 2]
    r = pd.DataFrame({"QuestionId_Answer": rows, "MisconceptionId": ids, "score": scores, "rank": ranks})
    gold = pd.Series([10, 20, 30, 41], index=["s1", "s2", "s3", "u1"])
    unseen = np.isin(r["MisconceptionId"], [41, 11])  # s1's runner-up is unseen too
    seen_rows = np.array([True, True, True, False])
    c_map, _ = tune_constant(r, gold, unseen, seen_rows, "map")
    c_bal, _ = tune_constant(r, gold, unseen, seen_rows, "balanced")
    assert c_map == 1.0 and c_bal > 1.0  # MAP: (1+1+1+.5)/4 vs (.5+1+1+1)/4; 50/50 prefers the fix


def test_top1_share_criterion():
    unseen = np.array([False, False, True, False, True, False])
    assert top1_unseen_share(R, unseen, 1.0) == 0.0
    assert top1_unseen_share(R, unseen, 50.0) == 1.0
    c = constant_for_top1_share(R, unseen, 0.5)  # r2's unseen 5 needs C > e^1.22 = 3.4
    assert c == 4.0 and top1_unseen_share(R, unseen, c) == 0.5


def test_nested_boost_uses_the_other_folds_seen_sets_and_never_fold_ks_labels():
    rng = np.random.default_rng(0)
    rows = [f"q{i}" for i in range(30)]
    folds = pd.Series(np.arange(30) % 3, index=rows)
    gold = pd.Series(rng.integers(0, 12, 30), index=rows)
    entries = []
    for qa in rows:
        ids = rng.permutation(12)
        entries += [{"QuestionId_Answer": qa, "MisconceptionId": int(m), "score": 1 - 0.05 * i,
                     "rank": i + 1} for i, m in enumerate(ids)]
    r = pd.DataFrame(entries)
    out, per_fold, _ = nested_boost(r, folds, gold)
    labelled = pd.DataFrame({"MisconceptionId": gold, "fold": folds})
    for k in range(3):  # fold k's rows: boosted with C_k, unseen = absent from the other folds
        mine = r[r["QuestionId_Answer"].map(folds) == k].reset_index(drop=True)
        expected = boost(mine, unseen_mask(mine, ids_of_folds(labelled, {0, 1, 2} - {k})), per_fold[k])
        got = out[out["QuestionId_Answer"].map(folds) == k].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
    # fold 0's labels changed: fold 0's C is the same (its rows' seen set may differ, as the
    # other folds' labels define it, but no fold-0 label is used)
    changed = gold.copy()
    changed[folds == 0] = (gold[folds == 0] + 5) % 12
    _, per_fold2, _ = nested_boost(r, folds, changed)
    assert per_fold2[0] == per_fold[0]


def test_synthetic_misconceptions_count_as_seen_in_every_fold():
    """also_seen (SYNTH's misconception ids: every model trained on them) joins each fold's
    seen set, so its candidates are never boosted as unseen; the others' sets are unchanged."""
    from eedi.ensemble.boost import seen_ids_by_fold
    labelled = pd.DataFrame({"MisconceptionId": [1, 1, 2, 3], "fold": [0, 1, 1, 2]})
    assert ids_of_folds(labelled, {0, 2}, also_seen={9}) == {1, 3, 9}
    folds = pd.Series([0, 1, 1, 2], index=["a", "b", "c", "d"])
    gold = pd.Series([1, 1, 2, 3], index=["a", "b", "c", "d"])
    assert seen_ids_by_fold(folds, gold, also_seen={9}) == {0: {1, 2, 3, 9}, 1: {1, 3, 9}, 2: {1, 2, 9}}
    rows = [f"q{i}" for i in range(12)]
    folds = pd.Series(np.arange(12) % 3, index=rows)
    gold = pd.Series([i % 4 for i in range(12)], index=rows)
    r = pd.DataFrame([{"QuestionId_Answer": qa, "MisconceptionId": m, "score": 1 - 0.1 * m,
                       "rank": m + 1} for qa in rows for m in range(6)])
    # ids 4 and 5 are unseen everywhere without SYNTH, seen everywhere with it (0-3 are seen in
    # every fold's other folds): with it, every fold's rows get an all-seen mask
    with_synth, per_fold, _ = nested_boost(r, folds, gold, also_seen={4, 5})
    plain, plain_per_fold, _ = nested_boost(r, folds, gold)
    for k in range(3):
        mine = r[r["QuestionId_Answer"].map(folds) == k].reset_index(drop=True)
        got = with_synth[with_synth["QuestionId_Answer"].map(folds) == k].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, boost(mine, np.zeros(len(mine), bool), per_fold[k]))
        got = plain[plain["QuestionId_Answer"].map(folds) == k].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, boost(mine, mine["MisconceptionId"].isin([4, 5]).to_numpy(),
                                                 plain_per_fold[k]))
