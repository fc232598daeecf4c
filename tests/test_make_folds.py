"""scripts/make_folds.py's CLI: the folds Parquet (row order, group column, every fold used,
groups whole) and the report; too few groups exits 1 naming the key and writes nothing."""

import pandas as pd

import make_folds
from conftest import synthetic_long


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
