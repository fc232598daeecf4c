"""scripts/retrieve_tfidf.py: `tfidf_scores` is a cosine-similarity matrix in which a query
quoting a misconception's name ranks that name first; the CLI writes a valid ranking with
every query row and min(top_k, n_misconceptions) ids each."""

import numpy as np
import pytest

import retrieve_tfidf
from eedi.kaggle_csv import read_mapping_csv
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import read_ranking
from eedi.tfidf import tfidf_scores

NAMES = [
    "Adds the numerators and the denominators when adding fractions",
    "Believes angles on a straight line add to 360 degrees",
    "Thinks subtracting a negative makes the answer more negative",
]


def test_scores_shape_and_range():
    queries = ["What is 3 - (-2)?", "Find the missing angle", "1/3 + 1/4", "hello"]
    scores = tfidf_scores(queries, NAMES)
    assert scores.shape == (4, 3)
    assert np.isfinite(scores).all()
    assert (scores >= 0).all() and (scores <= 1 + 1e-6).all()


def test_query_quoting_a_name_scores_that_name_highest():
    queries = [f"Question: 3 - (-2)\nWrong answer: 1\n{NAMES[2]}",
               NAMES[1],  # the name itself: cosine 1
               f"Subject: Fractions\n{NAMES[0]}\nWrong answer: 2/7"]
    scores = tfidf_scores(queries, NAMES)
    assert scores.argmax(axis=1).tolist() == [2, 1, 0]
    assert scores[1, 1] == pytest.approx(1.0, abs=1e-5)


def test_cli_ranks_every_query_row_against_all_misconceptions(tmp_path, kaggle_dir, run_cli):
    test_long = wide_to_long(
        read_questions_csv(kaggle_dir / "test.csv", labelled=False))
    mapping = read_mapping_csv(kaggle_dir / "misconception_mapping.csv")
    # one wrong answer that quotes misconception 4 word for word: it must come first there
    quoted = mapping.set_index("MisconceptionId").loc[4, "MisconceptionName"]
    test_long.loc[test_long["QuestionId_Answer"] == "21_C", "AnswerText"] = quoted
    test_long.to_parquet(tmp_path / "test_long.parquet", index=False)
    mapping.to_parquet(tmp_path / "misconceptions.parquet", index=False)
    out = tmp_path / "rankings" / "test_tfidf.parquet"

    result = run_cli(retrieve_tfidf.main, ["--queries", tmp_path / "test_long.parquet",
                                           "--misconceptions", tmp_path / "misconceptions.parquet",
                                           "--top-k", 25, "--out", out])
    assert result.exit_code == 0, result.output

    ranking = read_ranking(out)  # raises if the contract is broken
    assert set(ranking["QuestionId_Answer"]) == set(test_long["QuestionId_Answer"])
    n = len(mapping)  # 6 < 25: every row keeps all of them
    for qa, part in ranking.groupby("QuestionId_Answer"):
        assert len(part) == min(25, n)
        assert set(part["MisconceptionId"]) == set(mapping["MisconceptionId"])
    top = ranking[ranking["rank"] == 1].set_index("QuestionId_Answer")["MisconceptionId"]
    assert top["21_C"] == 4


def test_cli_refuses_top_k_below_25(tmp_path, run_cli):
    result = run_cli(retrieve_tfidf.main, ["--queries", tmp_path / "q.parquet",
                                           "--misconceptions", tmp_path / "m.parquet",
                                           "--top-k", 24, "--out", tmp_path / "r.parquet"])
    assert result.exit_code == 2 and "--top-k" in result.output
    assert not (tmp_path / "r.parquet").exists()
