"""eedi.folds: groups kept whole, every fold used, seeded determinism, too few groups
refused; `fold_report`'s "unseen" count and `seen_in_other_folds` by hand; `fold_of` refusing
stale folds; `training_rows` (labelled rows outside the held-out fold); `models_by_fold`
(one model per fold with "{fold}", a plain model for all rows, never one without the other)."""

import click
import pandas as pd
import pytest

from conftest import synthetic_long
from eedi.errors import DataError
from eedi.files import write_parquet
from eedi.folds import assign_folds
from eedi.folds import fold_of
from eedi.folds import fold_report
from eedi.folds import models_by_fold
from eedi.folds import seen_in_other_folds
from eedi.folds import training_rows


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


def test_seen_in_other_folds_by_hand():
    # id 1: folds 0 and 1 -> seen from both; id 2: two rows, both in fold 0 -> unseen;
    # id 3: fold 1 only -> unseen. The result keeps the input's index.
    index = [10, 11, 12, 13, 14]
    ids = pd.Series([1, 1, 2, 2, 3], index=index)
    folds = pd.Series([0, 1, 0, 0, 1], index=index)
    seen = seen_in_other_folds(ids, folds)
    assert seen.tolist() == [True, True, False, False, False]
    assert seen.index.tolist() == index
    # a third fold for id 2 makes both of its fold-0 rows seen
    seen = seen_in_other_folds(pd.concat([ids, pd.Series([2], index=[15])]),
                               pd.concat([folds, pd.Series([2], index=[15])]))
    assert seen.tolist() == [True, True, True, True, False, True]


def test_fold_of_aligns_folds_and_refuses_stale_folds(tmp_path):
    """Every consumer (evaluate, OOF ranking, fold training) reads folds through fold_of: a row
    missing from the folds file must stop it, not count as 'outside fold k'."""
    rows = pd.DataFrame({"QuestionId_Answer": ["2_B", "1_A", "3_C"]})
    pd.DataFrame({"QuestionId_Answer": ["1_A", "2_B"], "fold": [0, 1]}).to_parquet(tmp_path / "f.parquet")
    assert fold_of(rows.iloc[:2], tmp_path / "f.parquet").tolist() == [1, 0]
    with pytest.raises(DataError, match="3_C has no fold"):
        fold_of(rows, tmp_path / "f.parquet")


def write_rows_and_folds(tmp_path, folds: dict[str, int]):
    """train_long.parquet with one unlabelled row (1_B), and a folds file from `folds`."""
    rows = pd.DataFrame({"QuestionId_Answer": ["1_A", "1_B", "2_A", "3_C"],
                         "MisconceptionId": [7.0, None, 8.0, 9.0]})
    write_parquet(rows, tmp_path / "train_long.parquet")
    write_parquet(pd.DataFrame({"QuestionId_Answer": list(folds), "fold": list(folds.values())}),
                         tmp_path / "folds.parquet")
    return tmp_path / "train_long.parquet", tmp_path / "folds.parquet"


def test_training_rows_are_labelled_and_outside_the_held_out_fold(tmp_path):
    train, folds = write_rows_and_folds(tmp_path, {"1_A": 0, "1_B": 0, "2_A": 1, "3_C": 1})
    assert list(training_rows(train)["QuestionId_Answer"]) == ["1_A", "2_A", "3_C"]
    assert list(training_rows(train, folds, 0)["QuestionId_Answer"]) == ["2_A", "3_C"]
    assert list(training_rows(train, folds, 1)["QuestionId_Answer"]) == ["1_A"]


def test_training_rows_refuse_a_fold_without_folds_or_stale_folds(tmp_path):
    train, folds = write_rows_and_folds(tmp_path, {"1_A": 0, "1_B": 0, "2_A": 1})  # no 3_C
    with pytest.raises(click.UsageError, match="--fold needs --folds"):
        training_rows(train, None, 0)
    with pytest.raises(DataError, match="3_C has no fold"):
        training_rows(train, folds, 0)


def test_models_by_fold_gives_each_fold_its_own_model_in_fold_order(tmp_path):
    rows = pd.DataFrame({"QuestionId_Answer": ["1_A", "2_A", "3_A", "4_A", "5_A"]})
    write_parquet(pd.DataFrame({"QuestionId_Answer": ["1_A", "2_A", "3_A", "4_A", "5_A"],
                                "fold": [2, 0, 2, 1, 0]}), tmp_path / "folds.parquet")
    plan = models_by_fold("m/fold{fold}", rows, tmp_path / "folds.parquet")
    assert [(k, model) for k, model, _ in plan] == [(0, "m/fold0"), (1, "m/fold1"), (2, "m/fold2")]
    assert [part["QuestionId_Answer"].tolist() for _, _, part in plan] == [
        ["2_A", "5_A"], ["4_A"], ["1_A", "3_A"]]
    assert all(isinstance(k, int) for k, _, _ in plan)


def test_models_by_fold_plain_model_ranks_all_rows(tmp_path):
    rows = pd.DataFrame({"QuestionId_Answer": ["1_A", "2_A"]})
    [(fold, model, part)] = models_by_fold("models/all", rows, None)
    assert fold is None and model == "models/all"
    pd.testing.assert_frame_equal(part, rows)


def test_models_by_fold_needs_fold_field_and_folds_together(tmp_path):
    rows = pd.DataFrame({"QuestionId_Answer": ["1_A"]})
    write_parquet(pd.DataFrame({"QuestionId_Answer": ["1_A"], "fold": [0]}), tmp_path / "f.parquet")
    with pytest.raises(click.UsageError, match="without --folds"):
        models_by_fold("m/fold{fold}", rows, None)
    with pytest.raises(click.UsageError, match="with --folds"):
        models_by_fold("m/all", rows, tmp_path / "f.parquet")
