"""scripts/evaluate.py's CLI: the slices (all, per fold, seen / unseen in the other folds)
on a table small enough to check by hand; a second ranking's difference to the first with its
bootstrap interval; rows without a fold exit 1 and write nothing."""

import json

import pandas as pd
import pytest

import evaluate
from conftest import ranking_of


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


def test_evaluate_second_ranking_gets_its_difference_to_the_first(tmp_path, run_cli):
    n = 40  # 10 questions of 4 rows, 2 folds; "b" ranks every gold first, "a" second
    train = pd.DataFrame({"QuestionId_Answer": [f"{i // 4}_{i % 4}" for i in range(n)],
                          "QuestionId": [i // 4 for i in range(n)],
                          "MisconceptionId": pd.array([i % 3 for i in range(n)], dtype="Int64")})
    folds = pd.DataFrame({"QuestionId_Answer": train["QuestionId_Answer"],
                          "fold": train["QuestionId"] % 2})
    golds = dict(zip(train["QuestionId_Answer"], train["MisconceptionId"].astype(int)))
    a = ranking_of({qa: [9, g] for qa, g in golds.items()})
    b = ranking_of({qa: [g, 9] for qa, g in golds.items()})
    for name, df in (("train", train), ("folds", folds), ("a", a), ("b", b)):
        df.to_parquet(tmp_path / f"{name}.parquet")
    args = ["--train", tmp_path / "train.parquet", "--folds", tmp_path / "folds.parquet",
            "--ranking", f"a={tmp_path / 'a.parquet'}", "--ranking", f"b={tmp_path / 'b.parquet'}",
            "--out-json", tmp_path / "cv.json", "--out-table", tmp_path / "cv.txt"]
    result = run_cli(evaluate.main, args)
    assert result.exit_code == 0, result.output
    cv = json.loads((tmp_path / "cv.json").read_text())
    assert "delta_map@25" not in cv["a"]["all"]
    assert cv["b"]["all"]["delta_map@25"] == pytest.approx(0.5)  # 1 - 1/2 on every row
    assert cv["b"]["fold1"]["delta_lo"] == pytest.approx(0.5)  # no row varies: no width
    assert "vs a (95%)" in result.output and "+0.5000 [+0.5000, +0.5000]" in result.output

    result = run_cli(evaluate.main, args + ["--group-by", "SubjectId"])
    assert result.exit_code == 1 and "column SubjectId" in result.output
