"""Rank all misconceptions for each (question, wrong answer) row with a bi-encoder + faiss.

\b
Reads  QUERIES        train_long.parquet or test_long.parquet (from reshape.py)
       MISCONCEPTIONS misconceptions.parquet (from reshape.py)
       MODEL          a registry name (minilm, bge-large, ...), an HF id, or a folder written
                      by train_retriever.py; with --folds it may contain "{fold}"
       FOLDS          (optional) the folds Parquet: rows of fold k are ranked by the model
                      MODEL.format(fold=k), one that never saw them, so CV stays honest
Writes OUT            a ranking: QuestionId_Answer, MisconceptionId, score (cosine), rank
       CACHE_DIR/*.npy the misconception embeddings, keyed by model and names, reused by
                      later runs

Each query is common.query_text(row) behind the model's query prefix (an instruction, for
LLM embedders); misconception names are embedded as they are.
"""

from pathlib import Path

import click
import numpy as np
import pandas as pd

import common
import embedding


def rank_with(model_name: str, rows: pd.DataFrame, mis: pd.DataFrame, top_k: int,
              cache_dir: Path | None, batch_size: int) -> pd.DataFrame:
    """The ranking of `rows` by one model."""
    spec = embedding.embedder_spec(model_name)
    model = embedding.load_embedder(spec)
    common.log.info("ranking %d rows with %s (%s pooling)", len(rows), model_name, spec.pooling)
    docs = embedding.cached_embeddings(model, spec, mis["MisconceptionName"].tolist(),
                                       cache_dir, batch_size)
    texts = [spec.query_prefix + common.query_text(r) for r in rows.to_dict("records")]
    queries = embedding.encode(model, texts, batch_size)
    scores, idx = embedding.search(queries, docs, top_k)
    ids = mis["MisconceptionId"].to_numpy(dtype=np.int64)
    return common.ranking_from_topk(rows["QuestionId_Answer"], ids[idx], scores)


@click.command(help=__doc__)
@click.option("--model", "model_name", required=True, help="Registry name, HF id or folder.")
@click.option("--queries", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Rank each fold's rows with MODEL.format(fold=k) (out-of-fold).")
@click.option("--top-k", type=click.IntRange(common.SUBMISSION_TOP_K), default=100,
              show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/cache/embeddings"), show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(model_name, queries, misconceptions, folds_path, top_k, batch_size, cache_dir, out):
    common.setup_logging()
    with common.step_timer("retrieve_embed", model=model_name, queries=str(queries)) as record:
        rows = pd.read_parquet(queries)
        mis = pd.read_parquet(misconceptions)
        per_fold = "{fold}" in model_name
        if per_fold != (folds_path is not None):
            raise click.UsageError("--folds and a MODEL with {fold} go together")
        if not per_fold:
            ranking = rank_with(model_name, rows, mis, top_k, cache_dir, batch_size)
        else:
            fold_of = common.fold_of(rows, folds_path)
            ranking = pd.concat([
                rank_with(model_name.format(fold=k), rows[fold_of == k], mis, top_k,
                          cache_dir, batch_size)
                for k in sorted(fold_of.unique())], ignore_index=True)
        common.write_parquet(ranking, out)
        record["rows"] = len(rows)


if __name__ == "__main__":
    main()
