"""eedi.ranking, the ranking contract: `ranking_from_scores` (top-k order, ranks, tie-break by
the smaller id), `read_ranking` (round trip, and one DataError per kind of broken file, naming
the file and the column), `reorder_top` (a reranker's new order of the top N), `parse_shard`
("i/n"), and `write_ranking` / `ranking_models` (the models kept in the Parquet metadata)."""

import click
import numpy as np
import pandas as pd
import pytest

from eedi.errors import DataError
from eedi.ranking import RANKING_COLUMNS
from eedi.ranking import parse_shard
from eedi.ranking import ranking_from_scores
from eedi.ranking import ranking_models
from eedi.ranking import read_ranking
from eedi.ranking import reorder_top
from eedi.ranking import write_ranking

ROWS = ["1_A", "1_B"]
IDS = [30, 10, 40, 20]  # deliberately not sorted
SCORES = np.array([
    # id:  30     10     40     20
    [0.50, 0.25, 0.75, 0.75],  # 1_A: 40 and 20 tie at the top -> 20 first, then 40, 30, 10
    [0.50, 0.50, 0.50, 0.50],  # 1_B: all tie -> 10, 20, 30, 40
])


def test_ranking_from_scores_orders_by_score_then_smaller_id():
    ranking = ranking_from_scores(ROWS, IDS, SCORES, top_k=3)
    assert list(ranking.columns) == RANKING_COLUMNS
    a = ranking[ranking["QuestionId_Answer"] == "1_A"]
    b = ranking[ranking["QuestionId_Answer"] == "1_B"]
    assert a["MisconceptionId"].tolist() == [20, 40, 30]
    assert a["score"].tolist() == [0.75, 0.75, 0.50]
    assert b["MisconceptionId"].tolist() == [10, 20, 30]
    assert b["score"].tolist() == [0.50, 0.50, 0.50]
    for part in (a, b):
        assert part["rank"].tolist() == [1, 2, 3]
        assert (np.diff(part["score"].to_numpy()) <= 0).all()


def test_ranking_from_scores_keeps_all_ids_when_top_k_exceeds_them():
    ranking = ranking_from_scores(ROWS, IDS, SCORES, top_k=10)
    assert len(ranking) == len(ROWS) * len(IDS)
    a = ranking[ranking["QuestionId_Answer"] == "1_A"]
    assert a["MisconceptionId"].tolist() == [20, 40, 30, 10]
    assert a["rank"].tolist() == [1, 2, 3, 4]


def test_read_ranking_round_trip_sorts_by_row_then_rank(tmp_path):
    ranking = ranking_from_scores(ROWS, IDS, SCORES, top_k=4)
    path = tmp_path / "ranking.parquet"
    ranking.sample(frac=1, random_state=0).to_parquet(path, index=False)  # shuffled on disk
    back = read_ranking(path)
    assert list(back.columns) == RANKING_COLUMNS
    assert back["QuestionId_Answer"].tolist() == ["1_A"] * 4 + ["1_B"] * 4
    assert back["rank"].tolist() == [1, 2, 3, 4] * 2
    assert back["MisconceptionId"].tolist() == [20, 40, 30, 10, 10, 20, 30, 40]
    assert back["score"].tolist() == [0.75, 0.75, 0.5, 0.25] + [0.5] * 4


def write(tmp_path, **columns) -> str:
    path = tmp_path / "bad_ranking.parquet"
    pd.DataFrame(columns).to_parquet(path, index=False)
    return path


def test_read_ranking_missing_column(tmp_path):
    path = write(tmp_path, QuestionId_Answer=["1_A"], MisconceptionId=[3], rank=[1])
    with pytest.raises(DataError) as e:
        read_ranking(path)
    assert str(path) in str(e.value) and "column score" in str(e.value)


def test_read_ranking_pair_listed_twice(tmp_path):
    path = write(tmp_path, QuestionId_Answer=["1_A", "1_A", "1_B"], MisconceptionId=[3, 3, 3],
                 score=[0.9, 0.8, 0.9], rank=[1, 2, 1])
    with pytest.raises(DataError) as e:
        read_ranking(path)
    message = str(e.value)
    assert str(path) in message and "column MisconceptionId" in message
    assert "1_A" in message and "twice" in message


def test_read_ranking_ranks_must_run_one_two_three(tmp_path):
    path = write(tmp_path, QuestionId_Answer=["1_A", "1_A", "1_B", "1_B"],
                 MisconceptionId=[3, 4, 3, 4], score=[0.9, 0.8, 0.9, 0.8], rank=[1, 2, 1, 3])
    with pytest.raises(DataError) as e:
        read_ranking(path)
    message = str(e.value)
    assert str(path) in message and "column rank" in message and "1_B" in message


def test_read_ranking_missing_file_is_a_click_error(tmp_path):
    path = tmp_path / "nowhere.parquet"
    with pytest.raises(click.ClickException) as e:
        read_ranking(path)
    assert isinstance(e.value, DataError) and e.value.exit_code == 1
    assert str(path) in str(e.value) and "not found" in str(e.value)


def test_read_ranking_scores_must_not_rise_with_rank(tmp_path):
    """Rank 2 scoring above rank 1 means the ranks and scores disagree: reject it."""
    path = write(tmp_path, QuestionId_Answer=["1_A", "1_A", "1_B", "1_B"],
                 MisconceptionId=[3, 4, 3, 4], score=[0.9, 0.8, 0.5, 0.7], rank=[1, 2, 1, 2])
    with pytest.raises(DataError) as e:
        read_ranking(path)
    message = str(e.value)
    assert "column score" in message and "1_B" in message and "rank 2" in message
    # equal scores are fine (ties)
    ok = write(tmp_path, QuestionId_Answer=["1_A", "1_A"], MisconceptionId=[3, 4],
               score=[0.5, 0.5], rank=[1, 2])
    assert len(read_ranking(ok)) == 2


def test_reorder_sorts_the_top_n_and_keeps_the_rest_below():
    ranking = pd.DataFrame({"QuestionId_Answer": ["a"] * 5 + ["b"] * 2,
                            "MisconceptionId": [10, 11, 12, 13, 14, 20, 21],
                            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.9, 0.1],
                            "rank": [1, 2, 3, 4, 5, 1, 2]})
    out = reorder_top(ranking, scores={"a": np.array([-1.0, 2.0, 0.5])})
    a = out[out["QuestionId_Answer"] == "a"]
    assert a["MisconceptionId"].tolist() == [11, 12, 10, 13, 14]
    assert a["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (np.diff(a["score"]) < 0).all() and a["score"].iloc[3] < -1.0
    b = out[out["QuestionId_Answer"] == "b"]  # not reranked: untouched
    assert b["MisconceptionId"].tolist() == [20, 21] and b["score"].tolist() == [0.9, 0.1]


def test_parse_shard():
    assert parse_shard("1/2") == (1, 2)
    assert parse_shard("0/1") == (0, 1)
    for bad in ("2/2", "x", "-1/2", "1/", "/2", "1:2"):
        with pytest.raises(click.BadParameter):
            parse_shard(bad)


def test_write_ranking_keeps_the_models_in_the_parquet_metadata(tmp_path):
    ranking = ranking_from_scores(ROWS, IDS, SCORES, top_k=3)
    with_models, without = tmp_path / "a" / "with.parquet", tmp_path / "without.parquet"
    write_ranking(ranking.assign(extra=1), with_models, models="models/x/QuestionId-5-42/fold{fold}")
    write_ranking(ranking, without)
    assert ranking_models(with_models) == "models/x/QuestionId-5-42/fold{fold}"
    assert ranking_models(without) is None
    ranking.to_parquet(tmp_path / "plain.parquet", index=False)  # written by anything else
    assert ranking_models(tmp_path / "plain.parquet") is None
    for path in (with_models, without):  # still a plain ranking to every reader
        back = read_ranking(path)
        assert list(back.columns) == RANKING_COLUMNS  # only the contract's columns are written
        pd.testing.assert_frame_equal(back, read_ranking(tmp_path / "plain.parquet"))
    assert sorted(p.name for p in with_models.parent.iterdir()) == ["with.parquet"]  # no temp file
