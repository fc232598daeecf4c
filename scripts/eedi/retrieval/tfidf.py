"""TF-IDF retrieval: cosine similarity of character n-grams between a row's query text and each
misconception name.

    scores = tfidf_scores(query_texts, misconception_names)   # (n queries, m names) float32
    ranking = tfidf_ranking(rows, names, top_k)   # long-table rows -> the ranking contract

Character 3-5 grams within words, sublinear term frequency: on the real data they beat word
uni+bigrams because stems match across forms ("numerator"/"numerators",
"multiply"/"multiplies"), and sublinear tf stops a long question's repeats from dominating.
The vectoriser is fitted on the names plus the queries being ranked; it uses no labels, so a
ranking of train is already out-of-fold.
"""

from __future__ import annotations

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from eedi.long_table import query_text
from eedi.ranking import ranking_from_scores


def tfidf_scores(query_texts: list[str], misconception_names: list[str]):
    """Cosine similarities, shape (len(query_texts), len(misconception_names)), dense float32."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    vectorizer.fit(list(misconception_names) + list(query_texts))
    queries = vectorizer.transform(query_texts)
    names = vectorizer.transform(misconception_names)
    return (queries @ names.T).astype("float32").toarray()  # rows are L2-normalised


def tfidf_ranking(rows: pd.DataFrame, names: dict[int, str], top_k: int) -> pd.DataFrame:
    """Long-table rows (QuestionId_Answer + query_text's columns) and {MisconceptionId: name}
    -> the ranking contract, top_k per row."""
    ids = list(names)
    scores = tfidf_scores([query_text(r) for r in rows.to_dict("records")],
                          [names[i] for i in ids])
    return ranking_from_scores(rows["QuestionId_Answer"], ids, scores, top_k)
