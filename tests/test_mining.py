"""mine_hard_negatives on hand-built rankings (window, gold, margin, unlabelled rows,
seeding) and training_examples (exactly n negatives per row, never the gold)."""

import pandas as pd

from conftest import MAPPING
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.negatives import mine_hard_negatives, top_up
from eedi.retriever_training import training_examples


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


def test_training_examples_have_exactly_n_negatives_never_the_gold(kaggle_dir):
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    rows = wide_to_long(wide).dropna(subset=["MisconceptionId"])
    names = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
    mined = {"10_B": [3, 4], "11_A": [2], "12_A": [4, 1, 3]}  # golds: 0, 1, 2
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    ex = training_examples(rows, names, top_up(mined, gold, 2, names, seed=0), "P: ")
    assert list(ex) == ["anchor", "positive", "negative_1", "negative_2"]
    assert all(len(v) == len(rows) == 7 for v in ex.values())
    by_row = {qa: i for i, qa in enumerate(rows["QuestionId_Answer"])}
    for i, row in enumerate(rows.to_dict("records")):
        assert ex["anchor"][i] == "P: " + query_text(row)
        assert ex["positive"][i] == names[int(row["MisconceptionId"])]
        negs = [ex["negative_1"][i], ex["negative_2"][i]]
        assert len(set(negs)) == 2 and ex["positive"][i] not in negs
        assert set(negs) <= set(names.values())
    assert [ex["negative_1"][by_row["10_B"]], ex["negative_2"][by_row["10_B"]]] == [names[3], names[4]]
    assert ex["negative_1"][by_row["11_A"]] == names[2]  # then one random fill
    assert [ex["negative_1"][by_row["12_A"]], ex["negative_2"][by_row["12_A"]]] == [names[4], names[1]]
