"""Rerank each row's top N retrieved misconceptions with an LLM reranker: pointwise (Yes/No
logit per candidate) or listwise (labelled windows slid back to front; the registry's
`reranking`).

\b
Reads  RANKING        a retriever's ranking (the contract): its top N per row are reranked
       QUERIES        train_long.parquet / test_long.parquet (the rows' question text)
       MISCONCEPTIONS misconceptions.parquet (candidate names)
       MODEL          a registry name, HF id, or adapter folder written by train_reranker.py;
                      with "{fold}" in it and --folds, each fold's rows are reranked by the
                      adapter that never saw them (out-of-fold CV)
Writes OUT            the ranking contract: per row the top N in reranker order (score =
                      logit(Yes) - logit(No); listwise: N, N - 1, ... down the new order),
                      then the retriever's other candidates in its
                      order with lower scores, so the 25 a submission needs are always there.
                      With --shard i/n: only the i-th of n equal slices of the rows; with
                      --gpus N: N / TP copies of this command at once, copy i on GPUs
                      i*TP .. i*TP+TP-1 and the i-th slice (OUT.shard<i>), merged into OUT
       OUT.parts/     while running: each finished chunk of rows; a re-run after a kill scores
                      only the missing chunks (same settings and inputs), then deletes it.
                      --partial (the same options + --partial, after a kill: the Kaggle
                      notebook's stage timeout) writes OUT from the finished chunks alone,
                      loading no model: their rows in reranker order, the rest in the
                      retriever's; the chunks are kept

Engines: `hf` (transformers, each row's shared prompt prefix run once for all N candidates) and
`vllm` (vLLM with prefix caching; needs .venv-vllm, `make setup-vllm`). Both give the same
scores. See eedi/rerank/reranking.py.
"""

import os
import time
from pathlib import Path

import click

from eedi.folds import model_of_fold, models_by_fold
from eedi.long_table import misconception_names
from eedi.options import quantize_4bit, quantize_option, shard_options
from eedi.ranking import ranking_models, read_ranking, reorder_top, shard_rows, write_ranking
from eedi.registry import VLLM_PROFILES, vllm_settings
from eedi.rerank.prompt import prompt_builder
from eedi.rerank.reranker import load_tokenizer, reranker_spec
from eedi.rerank.reranking import (ENGINES, ChunkStore, hf_scorer, queries_of, score_by_fold,
                                   top_candidates, vllm_scorer)
from eedi.run_log import log, setup_logging, step_timer
from eedi.sharding import gpu_groups, run_on_gpus

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command(help=__doc__)
@click.option("--model", "model_arg", required=True,
              help="Registry name, HF id, or adapter folder; '{fold}' + --folds: per fold.")
@click.option("--ranking", "ranking_path", type=FILE, required=True)
@click.option("--queries", "queries_path", type=FILE, required=True)
@click.option("--misconceptions", type=FILE, required=True)
@click.option("--folds", "folds_path", type=FILE,
              help="Folds file: with '{fold}' in --model, each fold's rows use its adapter.")
@click.option("--top-n", type=click.IntRange(1), help="Candidates reranked per row [registry's].")
@click.option("--engine", type=click.Choice(ENGINES), default="hf", show_default=True)
@shard_options
@click.option("--vllm-profile", type=click.Choice(["auto", *VLLM_PROFILES]), default="auto",
              show_default=True, help="vllm on a GPU: the registry's engine settings for this "
              "GPU kind (auto: t4 below compute capability 8.0, else gpu).")
@click.option("--tensor-parallel", type=click.IntRange(1),
              help="GPUs one copy of the model spans [the registry's for the vLLM profile]; "
              "vllm shards it over them, hf spreads it over every GPU its copy sees.")
@click.option("--labelled-only", is_flag=True,
              help="Rerank only rows with a MisconceptionId (CV); others keep retriever order.")
@click.option("--pairs-per-batch", type=click.IntRange(1), default=64, show_default=True,
              help="hf: candidates scored per forward pass (rows batched by prefix length).")
@quantize_option
@click.option("--chunk-rows", type=click.IntRange(1), default=256, show_default=True,
              help="Rows per saved chunk: a killed run resumes from its finished chunks.")
@click.option("--partial", is_flag=True,
              help="Write OUT from a killed run's finished chunks only; score nothing.")
@click.option("--out", type=FILE, required=True)
def main(model_arg, ranking_path, queries_path, misconceptions, folds_path, top_n, engine, gpus,
         shard, vllm_profile, tensor_parallel, labelled_only, pairs_per_batch, quantize,
         chunk_rows, partial, out):
    setup_logging()
    if gpus > 1:
        return rerank_on_gpus(gpus, model_arg, ranking_path, vllm_profile, tensor_parallel, out)
    with step_timer("rerank", model=model_arg, engine=engine, shard=shard) as record:
        # 1. inputs, checked: every ranked row has its question text
        ranking = read_ranking(ranking_path)
        queries = queries_of(ranking, ranking_path, queries_path)
        names = misconception_names(misconceptions)

        # 2. this process's rows: its shard, and (CV) the labelled ones among them
        mine = shard_rows(ranking["QuestionId_Answer"], shard)
        ranking = ranking[ranking["QuestionId_Answer"].isin(mine)]
        rows = queries.loc[mine]
        if labelled_only:
            rows = rows[rows["MisconceptionId"].notna()]

        # 3. which adapter reranks which rows (out-of-fold with {fold}); the prompt and top N
        #    come from the first one (a shard may hold no rows to rerank: it still needs them)
        by_fold = models_by_fold(model_arg, rows, folds_path)
        overrides = {"quantize_4bit": quantize_4bit(quantize)}
        first = reranker_spec(by_fold[0][1] if by_fold else model_of_fold(model_arg, 0)
                              ).replace(**overrides)
        top_n = top_n or first.top_n
        prompts = prompt_builder(first, load_tokenizer(first), model_arg)
        score = (None if partial else hf_scorer(pairs_per_batch) if engine == "hf" else
                 vllm_scorer(first.max_length, vllm_profile, tensor_parallel))

        # 4. score each row's top N, chunk by chunk (kept in OUT.parts/ until OUT is written, so
        #    a killed run resumes), then re-sort them; the rest keep the retriever's order
        fingerprint = {"model": model_arg, "top_n": top_n, "engine": engine, "shard": shard,
                       "labelled_only": labelled_only, "quantize": quantize,
                       "chunk_rows": chunk_rows, "inputs": {
                           str(p): [p.stat().st_size, p.stat().st_mtime_ns]
                           for p in (ranking_path, queries_path, misconceptions)}}
        store = ChunkStore(out.parent / f"{out.name}.parts", fingerprint)
        start = time.time()
        scores, pairs = score_by_fold(by_fold, top_candidates(ranking, top_n), queries, names,
                                   prompts, score, engine, overrides, store, chunk_rows,
                                   only_stored=partial)
        seconds = time.time() - start
        write_ranking(reorder_top(ranking, scores), out, models=model_arg)
        if partial:
            record.update(partial=True, rows=len(scores), of_rows=len(rows))
            log.info("--partial: %d of %d rows reranked (finished chunks of %s); the rest keep "
                     "the retriever's order", len(scores), len(rows), store.folder)
            return
        store.clear()

        record.update(gpus=os.environ.get("CUDA_VISIBLE_DEVICES"))  # which GPUs this copy had
        record.update(rows=len(scores), pairs=pairs, top_n=top_n, rerank_seconds=round(seconds, 1),
                      pairs_per_second=round(pairs / max(seconds, 1e-9), 2),
                      retriever=ranking_models(ranking_path))
        log.info("reranked %d rows (%d pairs) in %.1fs: %.1f pairs/s", len(scores), pairs,
                 seconds, pairs / max(seconds, 1e-9))


def rerank_on_gpus(gpus, model_arg, ranking_path, vllm_profile, tensor_parallel, out):
    """--gpus N: N / TP copies of this command, each on TP GPUs and a slice of the rows (TP:
    --tensor-parallel, else the registry's for the vLLM profile: qwen32b spans both T4s)."""
    params = click.get_current_context().params
    with step_timer("rerank_on_gpus", model=model_arg, gpus=gpus) as record:
        tp = tensor_parallel or vllm_settings(reranker_spec(model_of_fold(model_arg, 0)),
                                              vllm_profile)["tensor_parallel_size"]
        try:
            groups = gpu_groups(gpus, tp)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--gpus") from None
        rows = read_ranking(ranking_path)["QuestionId_Answer"].unique()
        run_on_gpus(__file__, main, params, groups, out, rows, ranking_path, tensor_parallel=tp)
        record.update(copies=len(groups), gpu_groups=groups)


if __name__ == "__main__":
    main()
