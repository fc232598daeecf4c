"""Rerank each row's top N retrieved misconceptions with an LLM reranker (Yes/No logit).

\b
Reads  RANKING        a retriever's ranking (the contract): its top N per row are reranked
       QUERIES        train_long.parquet / test_long.parquet (the rows' question text)
       MISCONCEPTIONS misconceptions.parquet (candidate names)
       MODEL          a registry name, HF id, or adapter folder written by train_reranker.py;
                      with "{fold}" in it and --folds, each fold's rows are reranked by the
                      adapter that never saw them (out-of-fold CV)
Writes OUT            the ranking contract: per row the top N in reranker order (score =
                      logit(Yes) - logit(No)), then the retriever's other candidates in its
                      order with lower scores, so the 25 a submission needs are always there.
                      With --shard i/n: only the i-th of n equal slices of the rows (merge the
                      slices with merge_rankings.py)

Engines: `hf` (transformers; each row's shared prompt prefix runs once and its KV cache is
reused for all N candidates) and `vllm` (vLLM with prefix caching and the adapter as a
LoRARequest; needs the .venv-vllm environment, `make setup-vllm`). Both give the same scores.
"""

import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

import common
import reranker


def shard_rows(row_ids, shard: str) -> list:
    """"i/n" -> the i-th (0-based) of n contiguous, near-equal slices of the sorted row ids."""
    try:
        i, n = (int(x) for x in shard.split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise click.BadParameter(f"{shard!r}: expected i/n with 0 <= i < n, e.g. 0/2", param_hint="--shard")
    return list(np.array_split(np.array(sorted(set(row_ids)), dtype=object), n)[i])


def reorder(ranking: pd.DataFrame, top_n: int, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ranking with each scored row's top N re-sorted by its reranker scores.

    scores: {QuestionId_Answer: scores of its top-N candidates in retriever order}. Rows not
    in `scores` keep the retriever's order and scores. The candidates below N follow the
    reranked ones with scores below the lowest reranker score, so scores never rise with rank.
    """
    ranking = ranking.sort_values(["QuestionId_Answer", "rank"]).reset_index(drop=True)
    scored = ranking["QuestionId_Answer"].isin(scores.keys())
    top = scored & (ranking["rank"] <= top_n)
    new_score = ranking["score"].to_numpy(dtype=np.float64).copy()
    if top.any():
        new_score[top.to_numpy()] = np.concatenate(
            [scores[qa] for qa in ranking.loc[top, "QuestionId_Answer"].unique()])
        floor = pd.Series(new_score[top.to_numpy()]).groupby(
            ranking.loc[top, "QuestionId_Answer"].to_numpy()).min()
        below = (scored & ~top).to_numpy()
        new_score[below] = (ranking.loc[below, "QuestionId_Answer"].map(floor).to_numpy()
                            - (ranking.loc[below, "rank"].to_numpy() - top_n))
    out = ranking.assign(score=new_score.astype(ranking["score"].dtype), _part=np.where(top, 0, 1))
    out = out.sort_values(["QuestionId_Answer", "_part", "score", "rank"],
                          ascending=[True, True, False, True], kind="stable")
    out["rank"] = (out.groupby("QuestionId_Answer", sort=False).cumcount() + 1).astype(np.int32)
    return out[common.RANKING_COLUMNS].reset_index(drop=True)


def hf_scorer(pairs_per_batch: int):
    """score(spec, rows, prompts) with transformers; the model is (re)loaded when the adapter
    changes (one per fold), merged into the base weights where they are not 4-bit."""
    state = {"model": None, "key": None}

    def score(spec, rows, prompts):
        if state["key"] != (spec.model, spec.adapter):
            state["model"] = None  # free the previous fold's model first
            state["model"], state["key"] = reranker.load_model(spec), (spec.model, spec.adapter)
        return reranker.score_prefix_reuse(state["model"], rows, prompts.yes_no, prompts.pad_id,
                                           pairs_per_batch=pairs_per_batch, progress=True)
    return score


def vllm_scorer(max_length: int):
    """score(spec, rows) with vLLM (prefix caching; the adapter as a LoRARequest)."""
    import vllm_scoring  # only importable in .venv-vllm
    state = {"engine": None}

    def score(spec, rows, prompts):
        if state["engine"] is None:
            rank = spec.lora["r"] if spec.adapter and spec.lora else None
            state["engine"] = vllm_scoring.VllmScorer(reranker.base_model_path(spec), max_length,
                                                      max_lora_rank=rank)
        return state["engine"].score(rows, prompts.yes_no, adapter=spec.adapter)
    return score


@click.command(help=__doc__)
@click.option("--model", "model_arg", required=True,
              help="Registry name, HF id, or adapter folder; '{fold}' + --folds: per fold.")
@click.option("--ranking", "ranking_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--queries", "queries_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Folds file: with '{fold}' in --model, each fold's rows use its adapter.")
@click.option("--top-n", type=click.IntRange(1), help="Candidates reranked per row [registry's].")
@click.option("--engine", type=click.Choice(["hf", "vllm"]), default="hf", show_default=True)
@click.option("--shard", default="0/1", show_default=True,
              help="i/n: rerank only the i-th of n slices of the rows (one per GPU).")
@click.option("--labelled-only", is_flag=True,
              help="Rerank only rows with a MisconceptionId (CV); others keep retriever order.")
@click.option("--pairs-per-batch", type=click.IntRange(1), default=64, show_default=True,
              help="hf: candidates scored per forward pass (rows batched by prefix length).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(model_arg, ranking_path, queries_path, misconceptions, folds_path, top_n, engine, shard,
         labelled_only, pairs_per_batch, out):
    common.setup_logging()
    with common.step_timer("rerank", model=model_arg, engine=engine, shard=shard) as record:
        ranking = common.read_ranking(ranking_path)
        queries = pd.read_parquet(queries_path).set_index("QuestionId_Answer", drop=False)
        missing = sorted(set(ranking["QuestionId_Answer"]) - set(queries.index))
        if missing:
            raise common.DataError(queries_path, "QuestionId_Answer", missing[0],
                                   f"row of the ranking {ranking_path} is missing from the queries")
        mine = shard_rows(ranking["QuestionId_Answer"], shard)
        ranking = ranking[ranking["QuestionId_Answer"].isin(mine)]
        rerank_ids = [qa for qa in mine if not labelled_only
                      or pd.notna(queries.at[qa, "MisconceptionId"])]
        mis = pd.read_parquet(misconceptions)
        names = dict(zip(mis["MisconceptionId"].astype(int), mis["MisconceptionName"]))

        per_fold = "{fold}" in model_arg
        if per_fold:
            if folds_path is None:
                raise click.UsageError("--model with '{fold}' needs --folds")
            fold = common.fold_of(queries.loc[rerank_ids], folds_path)
            groups = {int(k): list(ids) for k, ids in fold.groupby(fold).groups.items()}
        else:
            groups = {None: rerank_ids}
        # (a shard may hold no rows to rerank: it still needs a spec for top_n and the prompt)
        first_spec = reranker.reranker_spec(model_arg.format(fold=min(groups, default=0))
                                            if per_fold else model_arg)
        top_n = top_n or first_spec.top_n
        prompts = reranker.PromptBuilder(reranker.load_tokenizer(first_spec), first_spec.max_length,
                                         model_arg)
        score = hf_scorer(pairs_per_batch) if engine == "hf" else vllm_scorer(first_spec.max_length)

        top = ranking[ranking["rank"] <= top_n].sort_values(["QuestionId_Answer", "rank"])
        candidates = top.groupby("QuestionId_Answer", sort=False)["MisconceptionId"].agg(list)
        scores, start, pairs = {}, time.time(), 0
        for k, ids in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0])):
            spec = reranker.reranker_spec(model_arg.format(fold=k) if per_fold else model_arg)
            ids = [qa for qa in ids if qa in candidates.index]
            if not ids:
                continue
            common.log.info("reranking %d rows x top %d with %s%s (%s)", len(ids), top_n,
                            spec.model, f" + {spec.adapter}" if spec.adapter else "", engine)
            rows = [prompts.encode(queries.loc[qa], [names[m] for m in candidates[qa]]) for qa in ids]
            for qa, s in zip(ids, score(spec, rows, prompts)):
                scores[qa] = s
            pairs += sum(len(s) for _, s in rows)
        seconds = time.time() - start
        result = reorder(ranking, top_n, scores)
        common.write_parquet(result, out)
        record.update(rows=len(scores), pairs=pairs, top_n=top_n, rerank_seconds=round(seconds, 1),
                      pairs_per_second=round(pairs / max(seconds, 1e-9), 2))
        common.log.info("reranked %d rows (%d pairs) in %.1fs: %.1f pairs/s", len(scores), pairs,
                        seconds, pairs / max(seconds, 1e-9))


if __name__ == "__main__":
    main()
