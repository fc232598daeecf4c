"""eedi.report: every figure renders from evaluate.py's / fuse.py's / cascade.py's JSON shapes,
and the page embeds them with the tables."""

import numpy as np
import pandas as pd

from eedi.report import (cascade_curve, cv_table, fusion_weights, map_per_fold, page, png,
                         recall_curves, seen_unseen)


def slice_(m):
    return {"rows": 10, "map@25": m, "recall@1": m / 2, "recall@25": min(1, 2 * m), "recall@100": 0.9}


CV = {name: {"all": slice_(m), "fold0": slice_(m - 0.01), "fold1": slice_(m + 0.01),
             "seen": slice_(m + 0.05), "unseen": slice_(m - 0.1), "balanced": slice_(m - 0.025)}
      for name, m in (("tfidf", 0.17), ("minilm-ft", 0.29), ("fuse-tfidf+minilm-ft", 0.30))}
FUSION = {"method": "rrf", "members": ["tfidf", "minilm-ft"], "weights": {"tfidf": 0.2, "minilm-ft": 0.8},
          "per_fold": {"0": {"tfidf": 0.25, "minilm-ft": 0.75}, "1": {"tfidf": 0.1, "minilm-ft": 0.9}},
          "tuning_seconds": 1.5}
CASCADE = {"earlier": "tfidf", "later": "minilm-ft", "rows": [
    {"top_n": 0, "delta": None, "map@25": 0.17, "ceiling": None, "pairs": 0, "pairs_per_row": 0.0},
    {"top_n": 5, "delta": None, "map@25": 0.22, "ceiling": 0.4, "pairs": 50, "pairs_per_row": 5.0},
    {"top_n": 25, "delta": None, "map@25": 0.27, "ceiling": 0.55, "pairs": 250, "pairs_per_row": 25.0},
    {"top_n": 5, "delta": 0.05, "map@25": 0.23, "ceiling": 0.45, "pairs": 70, "pairs_per_row": 7.0},
    {"top_n": "all", "delta": None, "map@25": 0.29, "ceiling": 0.9, "pairs": None, "pairs_per_row": None}]}


def test_cv_table_has_a_line_per_ranking_with_the_fold_spread():
    table = cv_table(CV)
    assert table["ranking"].tolist() == list(CV)
    row = table.set_index("ranking").loc["minilm-ft"]
    np.testing.assert_allclose(row[["MAP@25", "fold min", "fold max", "50/50"]].astype(float),
                               [0.29, 0.28, 0.30, 0.265])
    # evaluate.py's paired difference to the first ranking, where it has one
    with_delta = {**CV, "minilm-ft": {**CV["minilm-ft"], "all": {
        **slice_(0.29), "delta_map@25": 0.12, "delta_lo": 0.1, "delta_hi": 0.145}}}
    column = cv_table(with_delta).set_index("ranking")["vs tfidf (95%)"]
    assert column.tolist() == ["", "+0.1200 [+0.1000, +0.1450]", ""]
    assert not any(c.startswith("vs ") for c in table.columns)  # none compared: no column


def test_every_figure_renders_and_the_page_embeds_them():
    ranks = {"tfidf": pd.Series([1, 3, np.inf, 40]), "minilm-ft": pd.Series([1, 1, 2, 9])}
    figures = {"map": map_per_fold(CV), "seen": seen_unseen(CV), "recall": recall_curves(ranks),
               "weights": fusion_weights(FUSION), "cascade": cascade_curve(CASCADE)}
    images = {name: png(fig) for name, fig in figures.items()}
    assert all(data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000 for data in images.values())
    html = page("CV", CV, images, [FUSION], [("fuse-tfidf+minilm-ft", {"c": 3.0, "objective": "map",
                                                                       "per_fold": {"0": 2.0}})], [CASCADE])
    assert html.count("<img") == 5 and html.count("data:image/png;base64,") == 5
    assert "fuse-tfidf+minilm-ft" in html and "C on all folds: 3.0" in html
    assert "Cascade: minilm-ft over tfidf" in html and "0.2900" in html


def test_the_cascade_table_prints_pair_counts_as_integers():
    """The 'all' cut has no pair count, so pandas reads the column as floats: 6000.0000 once."""
    html = page("t", CV, {}, cascade=[CASCADE])
    table = html[html.index("<h2>Cascade"):]
    assert "<td>250</td>" in table and "<td>50</td>" in table and "250.0000" not in table
    assert "<td>0.2700</td>" in table  # MAP@25 keeps its 4 places
