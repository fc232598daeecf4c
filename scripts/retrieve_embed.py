"""Rank all misconceptions for each (question, wrong answer) row with a bi-encoder + faiss.

\b
Reads  QUERIES        train_long.parquet or test_long.parquet (from reshape.py)
       MISCONCEPTIONS misconceptions.parquet (from reshape.py)
       MODEL          a registry name (minilm, bge-large, ...), an HF id, or a folder written
                      by train_retriever.py; with --folds it contains "{fold}"
       FOLDS          (optional) the folds Parquet: rows of fold k are ranked by the model
                      MODEL.format(fold=k), one that never saw them, so CV stays honest;
                      with --outside-fold K instead, only the rows outside fold K are ranked,
                      by MODEL (fold K's model ranking its own training rows: round-2 mining)
Writes OUT            a ranking: QuestionId_Answer, MisconceptionId, score (cosine), rank;
                      MODEL is kept in its metadata (evaluate.py finds train.json by it)
       CACHE_DIR/*.npy the misconception embeddings, keyed by model and names, reused by
                      later runs

With --shard i/n only the i-th of n equal slices of the rows is ranked; with --gpus N, N copies
of this command run at once, copy i on GPU i and the i-th slice (OUT.shard<i>), merged into OUT
(an LLM embedder over 2 x T4, as the 2nd place ran its 14B ones).

Each query is the row's query text behind the model's query prefix (an instruction, for
LLM embedders); misconception names are embedded as they are.
"""

from pathlib import Path

import click
import pandas as pd

from eedi.defaults import SUBMISSION_TOP_K, TOP_K
from eedi.folds import models_by_fold, rows_outside_fold
from eedi.options import shard_options
from eedi.ranking import shard_rows, write_ranking
from eedi.retrieval.embedding import embedder_spec, load_embedder, rank_rows
from eedi.run_log import log, setup_logging, step_timer
from eedi.sharding import gpu_groups, run_on_gpus


@click.command(help=__doc__)
@click.option("--model", "model_name", required=True, help="Registry name, HF id or folder.")
@click.option("--queries", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Rank each fold's rows with MODEL.format(fold=k) (out-of-fold).")
@click.option("--outside-fold", type=int,
              help="With --folds: rank only the rows outside this fold (a fold model's own "
                   "training rows, to mine its next round's negatives).")
@click.option("--top-k", type=click.IntRange(SUBMISSION_TOP_K), default=TOP_K,
              show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/cache/embeddings"), show_default=True)
@shard_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(model_name, queries, misconceptions, folds_path, outside_fold, top_k, batch_size,
         cache_dir, gpus, shard, out):
    setup_logging()
    if outside_fold is not None and folds_path is None:
        raise click.UsageError("--outside-fold needs --folds")
    if gpus > 1:
        with step_timer("retrieve_embed_on_gpus", model=model_name, gpus=gpus):
            rows = pd.read_parquet(queries, columns=["QuestionId_Answer"])
            if outside_fold is not None:
                rows = rows_outside_fold(rows, folds_path, outside_fold)
            run_on_gpus(__file__, main, click.get_current_context().params, gpu_groups(gpus), out,
                        rows["QuestionId_Answer"].unique(), queries)
        return
    with step_timer("retrieve_embed", model=model_name, queries=str(queries), shard=shard) as record:
        rows = pd.read_parquet(queries)
        mis = pd.read_parquet(misconceptions)
        if outside_fold is not None:
            rows, folds_path = rows_outside_fold(rows, folds_path, outside_fold), None
        rows = rows[rows["QuestionId_Answer"].isin(shard_rows(rows["QuestionId_Answer"], shard))]
        parts = []
        for _, model, part in models_by_fold(model_name, rows, folds_path):
            spec = embedder_spec(model)
            log.info("ranking %d rows with %s (%s pooling)", len(part), model, spec.pooling)
            parts.append(rank_rows(spec, load_embedder(spec), part, mis, top_k, cache_dir,
                                   batch_size))
        write_ranking(pd.concat(parts, ignore_index=True), out, models=model_name)
        record["rows"] = len(rows)


if __name__ == "__main__":
    main()
