"""Rank all misconceptions for each (question, wrong answer) row by TF-IDF cosine similarity.

\b
Reads  QUERIES        train_long.parquet or test_long.parquet (from reshape.py)
       MISCONCEPTIONS misconceptions.parquet (from reshape.py)
Writes OUT            a ranking: QuestionId_Answer, MisconceptionId, score, rank (top K)

Character 3-5 grams of the query text (eedi.long_table.query_text) against the names (eedi.retrieval.tfidf). No labels are
used, so the train ranking is already out-of-fold and CV on it is honest.
"""

from pathlib import Path

import click
import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K, TOP_K
from eedi.long_table import misconception_names
from eedi.ranking import write_ranking
from eedi.retrieval.tfidf import tfidf_ranking
from eedi.run_log import setup_logging, step_timer


@click.command(help=__doc__)
@click.option("--queries", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Long table of rows to rank (train_long or test_long Parquet).")
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="misconceptions.parquet from reshape.py.")
@click.option("--top-k", type=click.IntRange(SUBMISSION_TOP_K), default=TOP_K,
              show_default=True, help="Candidates kept per row.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Ranking Parquet to write.")
def main(queries: Path, misconceptions: Path, top_k: int, out: Path):
    setup_logging()
    with step_timer("retrieve_tfidf", queries=str(queries), top_k=top_k) as record:
        rows = pd.read_parquet(queries)
        write_ranking(tfidf_ranking(rows, misconception_names(misconceptions), top_k), out)
        record["rows"] = len(rows)


if __name__ == "__main__":
    main()
