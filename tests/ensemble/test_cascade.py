"""eedi.ensemble.cascade: the cut (top N, or within delta of the top score), the later stage's order
inside it, candidates it does not list, and the report's ceiling and pair counts."""

import numpy as np
import pandas as pd

from eedi.ensemble.cascade import cascade, cascade_report, cut_lengths

EARLIER = pd.DataFrame({"QuestionId_Answer": ["a"] * 5 + ["b"] * 3,
                        "MisconceptionId": [1, 2, 3, 4, 5, 6, 7, 8],
                        "score": [0.90, 0.88, 0.85, 0.50, 0.40, 0.9, 0.2, 0.1],
                        "rank": [1, 2, 3, 4, 5, 1, 2, 3]})
# the later stage scored a's 1-4 and b's 6-8: it likes 3 best in a, 8 in b; it never saw 5
LATER = pd.DataFrame({"QuestionId_Answer": ["a"] * 4 + ["b"] * 3,
                      "MisconceptionId": [3, 1, 4, 2, 8, 6, 7],
                      "score": [5.0, 4.0, 3.0, 2.0, 9.0, 8.0, 7.0], "rank": [1, 2, 3, 4, 1, 2, 3]})


def test_cut_is_top_n_or_everything_within_delta_of_the_top():
    assert cut_lengths(EARLIER, 2).to_dict() == {"a": 2, "b": 2}
    assert cut_lengths(EARLIER, 10).to_dict() == {"a": 5, "b": 3}   # capped at the row's length
    assert cut_lengths(EARLIER, 1, delta=0.06).to_dict() == {"a": 3, "b": 1}  # .90 - .06 <= .85


def test_later_order_inside_the_cut_earlier_order_below():
    out = cascade(EARLIER, LATER, pd.Series({"a": 2, "b": 3}))
    a = out[out["QuestionId_Answer"] == "a"]["MisconceptionId"].tolist()
    b = out[out["QuestionId_Answer"] == "b"]["MisconceptionId"].tolist()
    assert a == [1, 2, 3, 4, 5]          # later: 1 (4.0) > 2 (2.0); 3, 4, 5 stay below
    assert b == [8, 6, 7]
    assert (out.groupby("QuestionId_Answer")["score"].diff().dropna() <= 0).all()


def test_a_candidate_the_later_stage_never_scored_goes_after_the_scored_ones():
    out = cascade(EARLIER, LATER, pd.Series({"a": 5, "b": 1}))
    assert out[out["QuestionId_Answer"] == "a"]["MisconceptionId"].tolist() == [3, 1, 4, 2, 5]


def test_report_ceiling_pairs_and_the_stages_alone():
    gold = pd.Series([3, 7], index=["a", "b"])
    table = cascade_report(EARLIER, LATER, gold, top_ns=(1, 3), deltas=(None,))
    by_n = table.set_index(table["top_n"].astype(str))
    assert by_n.loc["0", "map@25"] == (1 / 3 + 1 / 2) / 2          # earlier alone
    assert by_n.loc["1", "ceiling"] == 0.0 and by_n.loc["1", "pairs"] == 2
    # top 3: a's gold 3 moves to 1; b's gold 7 ranks 3rd under later (8, 6, 7)
    assert by_n.loc["3", "ceiling"] == 1.0 and by_n.loc["3", "pairs"] == 6
    np.testing.assert_allclose(by_n.loc["3", "map@25"], (1 + 1 / 3) / 2)
    np.testing.assert_allclose(by_n.loc["all", "map@25"], (1 + 1 / 3) / 2)
