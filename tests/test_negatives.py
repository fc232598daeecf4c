"""eedi.negatives: `mine_hard_negatives` on hand-built rankings (window, gold, margin,
unlabelled rows, seeds), `top_up` to exactly n per row (mined first, never the gold, no
repeats, seeded), `parse_ranks` ("FIRST:LAST") and `training_negatives` for rows the ranking
lacks (synthetic questions: TF-IDF-mined, not random)."""

import click
import pandas as pd
import pytest

from eedi.negatives import mine_hard_negatives
from eedi.negatives import parse_ranks
from eedi.negatives import top_up
from eedi.negatives import training_negatives


def ranking(rows: dict, scores: dict | None = None) -> pd.DataFrame:
    """The ranking contract from {row: [ids best first]}; scores {row: [...]} or 1.0, 0.99, ..."""
    return pd.DataFrame([
        {"QuestionId_Answer": qa, "MisconceptionId": m, "rank": r + 1,
         "score": (scores or {}).get(qa, [1 - 0.01 * i for i in range(len(ids))])[r]}
        for qa, ids in rows.items() for r, m in enumerate(ids)])


def gold(rows: dict) -> pd.Series:
    """MisconceptionId per QuestionId_Answer (the labelled rows)."""
    return pd.Series(rows, dtype="int64")


def test_window_excludes_gold_and_caps_at_n():
    r = ranking({"1_A": [5, 7, 3, 9, 2, 8], "1_B": [1, 2, 3, 4, 5, 6]})
    g = gold({"1_A": 3, "1_B": 6})
    got = mine_hard_negatives(r, g, n=10, ranks=(2, 4))
    assert sorted(got["1_A"]) == [7, 9]      # ranks 2-4 are 7, 3 (gold), 9
    assert sorted(got["1_B"]) == [2, 3, 4]   # gold 6 is outside the window
    for seed in range(10):
        one = mine_hard_negatives(r, g, n=1, ranks=(2, 4), seed=seed)
        assert len(one["1_A"]) == 1 and one["1_A"][0] in (7, 9)
        assert len(one["1_B"]) == 1 and one["1_B"][0] in (2, 3, 4)


def test_margin_drops_candidates_scoring_near_the_gold():
    r = ranking({"1_A": [11, 12, 13, 14, 15], "1_B": [21, 22, 23], "1_C": [31, 32, 33]},
                {"1_A": [0.9, 0.8, 0.7, 0.65, 0.5], "1_B": [0.95, 0.9, 0.5],
                 "1_C": [0.9, 0.8, 0.7]})
    g = gold({"1_A": 13, "1_B": 21, "1_C": 99})  # 1_C's gold is not in the ranking
    got = mine_hard_negatives(r, g, n=10, margin=0.1)
    assert got["1_A"] == [15]                 # 0.9, 0.8, 0.65 > 0.7 - 0.1
    assert got["1_B"] == [23]                 # per row: 0.9 > 0.95 - 0.1
    assert sorted(got["1_C"]) == [31, 32, 33]  # no gold score: margin does not apply
    plain = mine_hard_negatives(r, g, n=10)
    assert sorted(plain["1_A"]) == [11, 12, 14, 15] and sorted(plain["1_B"]) == [22, 23]


def test_unlabelled_rows_get_nothing_and_seed_decides_the_picks():
    r = ranking({"1_A": list(range(100, 130)), "2_B": [1, 2, 3]})
    g = gold({"1_A": 100})
    picks = [mine_hard_negatives(r, g, n=3, seed=s) for s in range(10)]
    assert all(set(p) == {"1_A"} for p in picks)
    assert picks[0] == mine_hard_negatives(r, g, n=3, seed=0)
    assert len({tuple(sorted(p["1_A"])) for p in picks}) > 1
    assert all(len(set(p["1_A"])) == 3 and 100 not in p["1_A"] for p in picks)


def test_top_up_gives_exactly_n_mined_first_never_the_gold():
    g = gold({"1_A": 3, "1_B": 6, "1_C": 0, "1_D": 9})
    mined = {"1_A": [7, 5],            # fewer than n: kept in order, then random fill
             "1_B": [1, 2, 4, 8, 9],   # more than n: the first n
             "1_C": [0, 11],           # the gold among them is dropped
             "9_Z": [1, 2, 3]}         # not a row of gold: ignored
    pool = range(20)
    got = top_up(mined, g, 3, pool, seed=0)
    assert list(got) == ["1_A", "1_B", "1_C", "1_D"]  # gold's rows, in gold's order
    assert got["1_A"][:2] == [7, 5] and got["1_B"] == [1, 2, 4] and got["1_C"][0] == 11
    for qa, ids in got.items():
        assert len(ids) == 3 and len(set(ids)) == 3, (qa, ids)
        assert g[qa] not in ids and set(ids) <= set(pool)
    assert top_up(mined, g, 3, pool, seed=0) == got  # the seed decides the fill
    fills = {tuple(top_up({}, g, 3, pool, seed=s)["1_D"]) for s in range(10)}
    assert len(fills) > 1


def test_top_up_never_picks_the_gold_even_from_a_tiny_pool():
    g = gold({"1_A": 1, "1_B": 2})
    for seed in range(10):
        got = top_up({}, g, 2, [1, 2, 3], seed=seed)
        assert sorted(got["1_A"]) == [2, 3] and sorted(got["1_B"]) == [1, 3]


def test_parse_ranks():
    assert parse_ranks("1:50") == (1, 50)
    assert parse_ranks("7:7") == (7, 7)
    for bad in ("50:1", "a:b", "3", "0:5", ":5", "-1:5"):
        with pytest.raises(click.BadParameter):
            parse_ranks(bad)


def test_allowed_keeps_unseen_misconceptions_out_of_the_negatives():
    import pandas as pd

    from eedi.negatives import mine_hard_negatives
    ranking = pd.DataFrame({"QuestionId_Answer": ["q"] * 5, "MisconceptionId": [7, 1, 8, 2, 9],
                            "score": [0.9, 0.8, 0.7, 0.6, 0.5], "rank": [1, 2, 3, 4, 5]})
    gold = pd.Series([1], index=["q"])
    assert sorted(mine_hard_negatives(ranking, gold, n=5)["q"]) == [2, 7, 8, 9]
    assert sorted(mine_hard_negatives(ranking, gold, n=5, allowed={1, 2, 9})["q"]) == [2, 9]


def long_row(qa: str, question: str, wrong: str, gold: int) -> dict:
    """One long-table row with the columns query_text reads."""
    return {"QuestionId_Answer": qa, "SubjectName": "Number", "ConstructName": "Arithmetic",
            "QuestionText": question, "CorrectAnswerText": "12", "AnswerText": wrong,
            "MisconceptionId": gold}


def test_rows_the_ranking_lacks_get_negatives_that_read_like_them_not_random_ones():
    # 40 misconceptions; the synthetic row (gold 3) is about squaring, as only 7's name is.
    # The ranking covers the real row alone, as the out-of-fold ranking covers train.csv alone.
    names = {i: f"Confuses rule number {i} of long division" for i in range(40)}
    names[3] = "Believes the order of operations does not matter"
    names[7] = "Squares a number by doubling it instead of multiplying it by itself"
    rows = pd.DataFrame([
        long_row("1_A", "What is 3 + 4 x 2?", "14", gold=3),
        long_row("10000000_B", "Square the number 6. What is 6 squared?",
                 "12: doubling the number instead of multiplying it by itself", gold=3)])
    r = ranking({"1_A": [21, 3, 22]})
    got = training_negatives(r, rows, n=1, ranks="1:1", margin=None, names=names, seed=0)
    assert got["1_A"] == [21]  # the real row: mined from its ranking
    assert got["10000000_B"] == [7]  # the synthetic row: TF-IDF ranks 7 first


def test_rows_the_ranking_holds_are_not_reranked():
    names = {i: f"misconception {i}" for i in range(10)}
    rows = pd.DataFrame([long_row("1_A", "q", "w", gold=1)])
    r = ranking({"1_A": [1, 5, 6]})
    got = training_negatives(r, rows, n=2, ranks="1:3", margin=None, names=names, seed=0)
    assert sorted(got["1_A"]) == [5, 6]
