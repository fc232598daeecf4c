"""scripts/make_folds.py: groups kept whole, every fold used, seeded determinism, too few
groups refused, the "unseen" count of `fold_report`, and the CLI's Parquet and report."""

import click
import pandas as pd
import pytest

import make_folds
from eedi.errors import DataError
from eedi.folds import assign_folds
from eedi.folds import fold_of
from eedi.folds import fold_report

N_QUESTIONS = 30


def synthetic_long(n_questions=N_QUESTIONS) -> pd.DataFrame:
    """Three wrong answers per question; 7 constructs, 6 subjects; some rows unlabelled."""
    rows = []
    for q in range(n_questions):
        for j, letter in enumerate("ABC"):
            rows.append({"QuestionId_Answer": f"{q}_{letter}", "QuestionId": q,
                         "ConstructId": 100 + q % 7, "SubjectId": 10 + q % 6,
                         "MisconceptionId": pd.NA if j == 2 else (q + j) % 11})
    df = pd.DataFrame(rows)
    df["MisconceptionId"] = df["MisconceptionId"].astype("Int64")
    return df


@pytest.mark.parametrize("by", ["QuestionId", "ConstructId", "SubjectId"])
def test_each_group_lies_in_one_fold_and_every_fold_is_used(by):
    long = synthetic_long()
    folds = assign_folds(long, by, n_folds=5, seed=0)
    assert len(folds) == len(long) and folds.index.equals(long.index)
    assert (long.assign(fold=folds).groupby(by)["fold"].nunique() == 1).all()
    assert set(folds) == set(range(5))


def test_same_seed_same_folds_other_seed_other_partition():
    long = synthetic_long()
    a = assign_folds(long, "QuestionId", 5, seed=1)
    b = assign_folds(long, "QuestionId", 5, seed=1)
    c = assign_folds(long, "QuestionId", 5, seed=2)
    assert a.tolist() == b.tolist()

    def partition(folds):  # compare the sets of questions, not the fold numbers
        return {frozenset(long.loc[folds == f, "QuestionId"]) for f in range(5)}
    assert partition(a) != partition(c)


def test_fewer_groups_than_folds_is_refused_naming_the_key():
    long = synthetic_long()  # 6 distinct SubjectIds
    with pytest.raises(click.ClickException, match="SubjectId"):
        assign_folds(long, "SubjectId", n_folds=7, seed=0)


def test_fold_report_counts_unseen_misconceptions_by_hand():
    na = pd.NA
    long = pd.DataFrame({
        "QuestionId_Answer": ["1_A", "1_B", "1_C", "2_A", "2_B", "2_C", "3_A", "3_B", "3_C"],
        "QuestionId": [1, 1, 1, 2, 2, 2, 3, 3, 3],
        "MisconceptionId": pd.array([7, 8, na, 7, 9, 9, 10, na, 8], dtype="Int64"),
    })
    folds = pd.Series([0, 0, 0, 1, 1, 1, 2, 2, 2])
    report = fold_report(long, folds).set_index("fold")
    # fold 0 has {7, 8}: both also in other folds          -> 0 unseen of 2 labelled
    # fold 1 has 7, 9, 9: 9 is nowhere else (twice)        -> 2 unseen of 3 labelled
    # fold 2 has 10, 8: 10 is nowhere else                 -> 1 unseen of 2 labelled
    assert report["unseen"].tolist() == [0, 2, 1]
    assert report["labelled"].tolist() == [2, 3, 2]
    assert report["pairs"].tolist() == [3, 3, 3]
    assert report["questions"].tolist() == [1, 1, 1]
    assert report.loc[1, "unseen_pct"] == pytest.approx(100 * 2 / 3, abs=0.05)


def test_cli_writes_folds_parquet_and_report(tmp_path, run_cli):
    long = synthetic_long()
    long.to_parquet(tmp_path / "train_long.parquet", index=False)
    out, report = tmp_path / "folds.parquet", tmp_path / "folds.txt"
    result = run_cli(make_folds.main, ["--train", tmp_path / "train_long.parquet",
                                       "--by", "ConstructId", "--n-folds", 4, "--seed", 3,
                                       "--out", out, "--report", report])
    assert result.exit_code == 0, result.output

    folds = pd.read_parquet(out)
    assert list(folds.columns) == ["QuestionId_Answer", "ConstructId", "fold"]
    assert folds["QuestionId_Answer"].tolist() == long["QuestionId_Answer"].tolist()
    assert folds["ConstructId"].tolist() == long["ConstructId"].tolist()
    assert set(folds["fold"]) == {0, 1, 2, 3}
    assert (folds.groupby("ConstructId")["fold"].nunique() == 1).all()

    lines = report.read_text().splitlines()
    assert "4 folds grouped by ConstructId" in lines[0]
    fold_lines = {int(line.split()[0]): line.split() for line in lines[2:]}
    assert sorted(fold_lines) == [0, 1, 2, 3]
    for fold, cells in fold_lines.items():  # columns: fold questions pairs labelled ...
        assert int(cells[2]) == (folds["fold"] == fold).sum()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folds.parquet", "folds.txt",
                                                           "train_long.parquet"]


def test_cli_with_too_few_groups_fails_and_writes_nothing(tmp_path, run_cli):
    synthetic_long(n_questions=3).to_parquet(tmp_path / "train_long.parquet", index=False)
    out, report = tmp_path / "folds.parquet", tmp_path / "folds.txt"
    result = run_cli(make_folds.main, ["--train", tmp_path / "train_long.parquet",
                                       "--n-folds", 5, "--out", out, "--report", report])
    assert result.exit_code == 1
    assert "QuestionId" in result.output
    assert not out.exists() and not report.exists()


def test_fold_of_aligns_folds_and_refuses_stale_folds(tmp_path):
    """Every consumer (evaluate, OOF ranking, fold training) reads folds through fold_of: a row
    missing from the folds file must stop it, not count as 'outside fold k'."""
    rows = pd.DataFrame({"QuestionId_Answer": ["2_B", "1_A", "3_C"]})
    pd.DataFrame({"QuestionId_Answer": ["1_A", "2_B"], "fold": [0, 1]}).to_parquet(tmp_path / "f.parquet")
    assert fold_of(rows.iloc[:2], tmp_path / "f.parquet").tolist() == [1, 0]
    with pytest.raises(DataError, match="3_C has no fold"):
        fold_of(rows, tmp_path / "f.parquet")
