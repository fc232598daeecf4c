"""Reranking a ranking's top N per row with an LLM reranker, one fold's adapter at a time.

    queries = queries_of(ranking, ranking_path, queries_path)   # the ranking's rows, checked
    plan = models_by_fold("models/x/smollm135m/QuestionId-5-42/fold{fold}", rows, folds_path)
    score = hf_scorer(pairs_per_batch=64)             # or vllm_scorer(max_length)
    scores, pairs = score_plan(plan, candidates, queries, names, prompts, score)
    # {"12_B": array of its top-N scores in the ranking's order}, number of pairs scored
    reranked = reorder_top(ranking, scores)            # eedi.ranking

Engines: `hf` (transformers; each row's shared prompt prefix runs once and its KV cache is
reused for all N candidates) and `vllm` (vLLM with prefix caching and the adapter as a
LoRARequest; only in the .venv-vllm environment). Both give the same scores.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from eedi.errors import DataError
from eedi.prompt import PromptBuilder
from eedi.reranker import base_model_path, load_model, reranker_spec
from eedi.run_log import log
from eedi.yes_no_scoring import score_prefix_reuse

ENGINES = ("hf", "vllm")
# score(spec, rows, prompts) -> one array per row; rows: [(prefix ids, [suffix ids, ...])]
Scorer = Callable[..., list[np.ndarray]]


def queries_of(ranking: pd.DataFrame, ranking_path, queries_path) -> pd.DataFrame:
    """The long table indexed by QuestionId_Answer; every row of the ranking must be in it."""
    queries = pd.read_parquet(queries_path).set_index("QuestionId_Answer", drop=False)
    missing = sorted(set(ranking["QuestionId_Answer"]) - set(queries.index))
    if missing:
        raise DataError(queries_path, "QuestionId_Answer", missing[0],
                        f"row of the ranking {ranking_path} is missing from the queries")
    return queries


def top_candidates(ranking: pd.DataFrame, top_n: int) -> pd.Series:
    """{QuestionId_Answer: its top-N MisconceptionIds, best first} as a Series of lists."""
    top = ranking[ranking["rank"] <= top_n].sort_values(["QuestionId_Answer", "rank"])
    return top.groupby("QuestionId_Answer", sort=False)["MisconceptionId"].agg(list)


def hf_scorer(pairs_per_batch: int) -> Scorer:
    """score(spec, rows, prompts) with transformers; the model is (re)loaded when the adapter
    changes (one per fold), merged into the base weights where they are not 4-bit."""
    state = {"model": None, "key": None}

    def score(spec, rows, prompts):
        if state["key"] != (spec.model, spec.adapter):
            state["model"] = None  # free the previous fold's model first
            state["model"], state["key"] = load_model(spec), (spec.model, spec.adapter)
        return score_prefix_reuse(state["model"], rows, prompts.yes_no, prompts.pad_id,
                                  pairs_per_batch=pairs_per_batch, progress=True)
    return score


def vllm_scorer(max_length: int) -> Scorer:
    """score(spec, rows, prompts) with vLLM (prefix caching; the adapter as a LoRARequest)."""
    from eedi import vllm_scoring  # only importable in .venv-vllm
    state = {"engine": None}

    def score(spec, rows, prompts):
        if state["engine"] is None:
            rank = spec.lora["r"] if spec.adapter and spec.lora else None
            state["engine"] = vllm_scoring.VllmScorer(base_model_path(spec), max_length,
                                                      max_lora_rank=rank)
        return state["engine"].score(rows, prompts.yes_no, adapter=spec.adapter)
    return score


def score_plan(plan: list[tuple[int | None, str, pd.DataFrame]], candidates: pd.Series,
               queries: pd.DataFrame, names: dict[int, str], prompts: PromptBuilder,
               score: Scorer, engine: str = "hf", overrides: dict | None = None
               ) -> tuple[dict[str, np.ndarray], int]:
    """Score each planned fold's rows with its model: ({row: top-N scores}, pairs scored).

    plan: models_by_fold's [(fold, model, rows)]; rows without candidates are skipped.
    overrides: spec fields to replace in every model's spec (None values leave it).
    """
    scores, pairs = {}, 0
    for _, model, rows in plan:
        spec = reranker_spec(model).replace(**(overrides or {}))
        ids = [qa for qa in rows["QuestionId_Answer"] if qa in candidates.index]
        if not ids:
            continue
        log.info("reranking %d rows x top %d with %s%s (%s)", len(ids),
                 max(len(candidates[qa]) for qa in ids), spec.model,
                 f" + {spec.adapter}" if spec.adapter else "", engine)
        encoded = [prompts.encode(queries.loc[qa], [names[m] for m in candidates[qa]]) for qa in ids]
        for qa, s in zip(ids, score(spec, encoded, prompts)):
            scores[qa] = s
        pairs += sum(len(s) for _, s in encoded)
    return scores, pairs
