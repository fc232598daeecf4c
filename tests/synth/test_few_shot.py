"""eedi.synth.few_shot: the nearest seen misconceptions by cosine, never the target itself; one
full question (all four answers) per seen misconception."""

import numpy as np

from conftest import TRAIN
from eedi.long_table import wide_to_long
from eedi.synth.few_shot import example_rows, nearest_seen


def test_nearest_seen_ranks_seen_misconceptions_by_cosine_and_skips_the_target():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.6, 0.8], [0.99, 0.05]], dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [10, 11, 12, 13, 14]
    got = nearest_seen(vectors, ids, seen_ids={10, 11, 12, 13}, targets=[14, 12], k=2)
    assert got == {14: [10, 11], 12: [13, 11]}


def test_example_rows_carry_all_four_answers_and_the_wrong_letter():
    examples = example_rows(wide_to_long(TRAIN.assign(
        **{f"Misconception{x}Id": TRAIN[f"Misconception{x}Id"].replace("", None).astype("Int64")
           for x in "ABCD"})))
    assert sorted(examples) == [0, 1, 2, 3, 5]
    row, letter = examples[5]
    assert letter == "D" and row["QuestionId"] == 10
    assert [row[f"Answer{x}Text"] for x in "ABCD"] == TRAIN.iloc[0][[f"Answer{x}Text" for x in "ABCD"]].tolist()
    assert examples[1][1] == "A"   # question 11's first labelled answer
