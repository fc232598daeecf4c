"""MAP@25 and recall@K: hand-computed cases, agreement with Kaggle's reference `apk`, and the
evaluate.py slices (per fold, seen / unseen in the other folds) on a table small enough to
check by hand."""

import json

import numpy as np
import pandas as pd
import pytest

import evaluate
from eedi.metrics import gold_ranks
from eedi.metrics import map_at_k
from eedi.metrics import recall_at_k
from eedi.ranking import RANKING_COLUMNS


def ranking_of(lists: dict[str, list[int]]) -> pd.DataFrame:
    """{row: [ids best first]} -> the ranking contract."""
    rows = [(qa, mid, -float(r), r) for qa, ids in lists.items()
            for r, mid in enumerate(ids, start=1)]
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


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


def test_evaluate_slices_by_fold_and_seen(tmp_path, run_cli):
    # fold 0: rows a, b (golds 1, 2); fold 1: rows c, d (golds 1, 3); row e unlabelled.
    # Gold 1 is in both folds -> a, c seen; 2 only in fold 0 and 3 only in fold 1 -> b, d unseen.
    train = pd.DataFrame({
        "QuestionId_Answer": ["a", "b", "c", "d", "e"],
        "MisconceptionId": pd.array([1, 2, 1, 3, None], dtype="Int64"),
    })
    folds = pd.DataFrame({"QuestionId_Answer": list("abcde"), "fold": [0, 0, 1, 1, 1]})
    ranking = ranking_of({"a": [1, 2], "b": [9, 2], "c": [5, 6], "d": [3], "e": [1]})
    # gold ranks: a 1, b 2, c absent, d 1
    paths = {n: tmp_path / f"{n}.parquet" for n in ("train", "folds", "r")}
    train.to_parquet(paths["train"]); folds.to_parquet(paths["folds"])
    ranking.to_parquet(paths["r"])
    result = run_cli(evaluate.main, [
        "--train", paths["train"], "--folds", paths["folds"], "--ranking", f"mine={paths['r']}",
        "--out-json", tmp_path / "cv.json", "--out-table", tmp_path / "cv.txt"])
    assert result.exit_code == 0, result.output

    cv = json.loads((tmp_path / "cv.json").read_text())["mine"]
    assert cv["all"]["rows"] == 4  # the unlabelled row is skipped
    assert cv["all"]["map@25"] == pytest.approx((1 + 1 / 2 + 0 + 1) / 4)
    assert cv["fold0"]["map@25"] == pytest.approx((1 + 1 / 2) / 2)
    assert cv["fold1"]["map@25"] == pytest.approx((0 + 1) / 2)
    assert cv["seen"]["rows"] == 2 and cv["seen"]["map@25"] == pytest.approx(1 / 2)  # a, c
    assert cv["unseen"]["rows"] == 2 and cv["unseen"]["map@25"] == pytest.approx(3 / 4)  # b, d
    assert cv["all"]["recall@1"] == pytest.approx(2 / 4)
    assert "mine" in result.output and "unseen" in result.output
    assert (tmp_path / "cv.txt").read_text().strip().endswith(result.output.strip().splitlines()[-1])


def test_evaluate_rejects_rows_without_fold(tmp_path, run_cli):
    train = pd.DataFrame({"QuestionId_Answer": ["a", "b"],
                          "MisconceptionId": pd.array([1, 2], dtype="Int64")})
    folds = pd.DataFrame({"QuestionId_Answer": ["a"], "fold": [0]})
    train.to_parquet(tmp_path / "t.parquet"); folds.to_parquet(tmp_path / "f.parquet")
    ranking_of({"a": [1]}).to_parquet(tmp_path / "r.parquet")
    result = run_cli(evaluate.main, [
        "--train", tmp_path / "t.parquet", "--folds", tmp_path / "f.parquet",
        "--ranking", f"x={tmp_path / 'r.parquet'}",
        "--out-json", tmp_path / "cv.json", "--out-table", tmp_path / "cv.txt"])
    assert result.exit_code == 1 and "has no fold" in result.output
    assert not (tmp_path / "cv.json").exists()
