"""scripts/retrieve_tfidf.py's CLI: it writes a valid ranking with every query row and
min(top_k, n_misconceptions) ids each, a quoted name first; --top-k below 25 is refused."""

import retrieve_tfidf
from eedi.kaggle_csv import read_mapping_csv
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import read_ranking


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
