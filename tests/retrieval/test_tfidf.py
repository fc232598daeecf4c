"""eedi.retrieval.tfidf: `tfidf_scores` is a cosine-similarity matrix in which a query quoting a
misconception's name ranks that name first."""

import numpy as np
import pytest

from eedi.retrieval.tfidf import tfidf_scores


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
