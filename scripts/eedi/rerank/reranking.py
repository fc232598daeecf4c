"""Reranking a ranking's top N per row with an LLM reranker, one fold's adapter at a time.

    queries = queries_of(ranking, ranking_path, queries_path)   # the ranking's rows, checked
    by_fold = models_by_fold("models/x/smollm135m/QuestionId-5-42/fold{fold}", rows, folds_path)
    score = hf_scorer(pairs_per_batch=64)             # or vllm_scorer(max_length)
    scores, pairs = score_by_fold(by_fold, candidates, queries, names, prompts, score)
    # {"12_B": array of its top-N scores in the ranking's order}, number of pairs scored
    reranked = reorder_top(ranking, scores)            # eedi.ranking
    # with store=ChunkStore(Path("out.parquet.parts"), fingerprint), finished chunks are kept
    # as they finish and a re-run after a kill scores only the rest

Engines: `hf` (transformers; each row's shared prompt prefix runs once and its KV cache is
reused for all N candidates) and `vllm` (vLLM with prefix caching and the adapter as a
LoRARequest; only in the .venv-vllm environment). Both give the same scores.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from eedi.errors import DataError
from eedi.files import parts_folder, write_parquet
from eedi.registry import vllm_settings
from eedi.rerank.listwise_scoring import label_logits_prefix_reuse, rerank_rows
from eedi.rerank.prompt import PromptBuilder
from eedi.rerank.reranker import base_model_path, load_model, reranker_spec
from eedi.rerank.yes_no_scoring import score_prefix_reuse
from eedi.run_log import log

ENGINES = ("hf", "vllm")
# score(spec, items, prompts) -> one array of scores per row, in its candidates' order;
# items: [(row of the long table, [candidate names, best first])], prompts: a PromptBuilder
# (pointwise: each candidate's Yes/No margin) or ListPromptBuilder (listwise: rank-derived)
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
    """score(spec, items, prompts) with transformers; the model is (re)loaded when the adapter
    changes (one per fold), merged into the base weights where they are not 4-bit. Pointwise:
    each row's prefix once, its KV cache reused by its candidates; listwise: one forward per
    window, pairs_per_batch // window windows a batch."""
    state = {"model": None, "key": None}

    def score(spec, items, prompts):
        if state["key"] != (spec.model, spec.adapter):
            state["model"] = None  # free the previous fold's model first
            state["model"], state["key"] = load_model(spec), (spec.model, spec.adapter)
        if spec.listwise:
            batch = max(1, pairs_per_batch // spec.window)
            return rerank_rows(items, prompts, spec, lambda groups, sizes: label_logits_prefix_reuse(
                state["model"], groups, prompts.label_ids, prompts.pad_id, sizes, batch,
                progress=True))
        return score_prefix_reuse(state["model"], encode_items(items, prompts), prompts.yes_no,
                                  prompts.pad_id, pairs_per_batch=pairs_per_batch, progress=True)
    return score


def regroup(flat: list, sizes: list[list[int]]) -> list[list]:
    """A flat list back into the groups sizes describes (one entry per inner size)."""
    out, k = [], 0
    for row in sizes:
        out.append(flat[k:k + len(row)])
        k += len(row)
    return out


def encode_items(items: list[tuple], prompts: PromptBuilder) -> list[tuple[list[int], list[list[int]]]]:
    """Pointwise prompts: [(prefix ids, [suffix ids per candidate])] per (row, names)."""
    return [prompts.encode(row, names) for row, names in items]


def vllm_scorer(max_length: int, profile: str = "auto", tensor_parallel: int | None = None) -> Scorer:
    """score(spec, rows, prompts) with vLLM (prefix caching; the adapter as a LoRARequest); on a
    GPU with the registry's engine settings for `profile` (eedi.registry.vllm_settings),
    tensor_parallel overriding its tensor_parallel_size."""
    from eedi.rerank import vllm_scoring  # only importable in .venv-vllm
    state = {"engine": None}

    def score(spec, items, prompts):
        if state["engine"] is None:
            rank = spec.lora["r"] if spec.adapter and spec.lora else None
            engine_args = vllm_settings(spec, profile)
            if tensor_parallel:
                engine_args["tensor_parallel_size"] = tensor_parallel
            state["engine"] = vllm_scoring.VllmScorer(base_model_path(spec), max_length,
                                                      max_lora_rank=rank, engine_args=engine_args,
                                                      quantize_4bit=spec.quantize_4bit)
        engine = state["engine"]
        if spec.listwise:
            return rerank_rows(items, prompts, spec, lambda groups, sizes: regroup(
                engine.label_logprobs([p + s for p, ss in groups for s in ss], prompts.label_ids,
                                      [n for row in sizes for n in row], adapter=spec.adapter),
                sizes))
        return engine.score(encode_items(items, prompts), prompts.yes_no, adapter=spec.adapter)
    return score


class ChunkStore:
    """The finished chunks of one rerank, kept beside its output so a killed run resumes.

    FOLDER/manifest.json  the run's fingerprint (model, top N, engine, inputs' sizes and
                          mtimes, ...): parts written by any other run are discarded, never used
    FOLDER/<key>.parquet  one chunk: QuestionId_Answer, position, score (written atomically)

    folder None: nothing is kept (every chunk is scored).
    """

    def __init__(self, folder: Path | None, fingerprint: dict):
        self.folder = folder
        if folder is None:
            return
        if parts_folder(folder, fingerprint):
            log.info("discarded %s: written by a run with other settings or inputs", folder)

    def load(self, key: str, ids: list[str]) -> list[np.ndarray] | None:
        """The chunk's scores per row (in `ids` order), if that chunk was finished."""
        path = None if self.folder is None else self.folder / f"{key}.parquet"
        if path is None or not path.is_file():
            return None
        part = pd.read_parquet(path)
        if list(dict.fromkeys(part["QuestionId_Answer"])) != ids:
            return None
        return [g.sort_values("position")["score"].to_numpy(dtype=np.float32)
                for _, g in part.groupby("QuestionId_Answer", sort=False)]

    def save(self, key: str, ids: list[str], scores: list[np.ndarray]) -> None:
        if self.folder is None:
            return
        write_parquet(pd.DataFrame({
            "QuestionId_Answer": np.repeat(np.array(ids, dtype=object), [len(s) for s in scores]),
            "position": np.concatenate([np.arange(len(s)) for s in scores]).astype(np.int32),
            "score": np.concatenate(scores).astype(np.float32)}), self.folder / f"{key}.parquet")

    def clear(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def score_by_fold(by_fold: list[tuple[int | None, str, pd.DataFrame]], candidates: pd.Series,
                  queries: pd.DataFrame, names: dict[int, str], prompts: PromptBuilder,
                  score: Scorer, engine: str = "hf", overrides: dict | None = None,
                  store: ChunkStore | None = None, chunk_rows: int = 256,
                  only_stored: bool = False) -> tuple[dict[str, np.ndarray], int]:
    """Score each fold's rows with its model: ({row: top-N scores}, pairs scored now).

    by_fold: models_by_fold's [(fold, model, rows)]; rows without candidates are skipped.
    overrides: spec fields to replace in every model's spec (None values leave it).
    store: finished chunks of chunk_rows rows are saved there as they finish, and chunks it
    already holds (a killed run's) are not scored again. only_stored: score nothing, return
    only the rows of the chunks the store holds (a killed run's work, put to use).
    """
    store = store or ChunkStore(None, {})
    scores, pairs, resumed = {}, 0, 0
    for fold, model, rows in by_fold:
        spec = reranker_spec(model).replace(**(overrides or {}))
        ids = [qa for qa in rows["QuestionId_Answer"] if qa in candidates.index]
        if not ids:
            continue
        log.info("reranking %d rows x top %d with %s%s (%s)", len(ids),
                 max(len(candidates[qa]) for qa in ids), spec.model,
                 f" + {spec.adapter}" if spec.adapter else "", engine)
        for start in range(0, len(ids), chunk_rows):
            chunk = ids[start:start + chunk_rows]
            key = f"{'all' if fold is None else f'fold{fold}'}-{start // chunk_rows:05d}"
            done = store.load(key, chunk)
            if done is None and only_stored:
                continue
            if done is None:
                items = [(queries.loc[qa], [names[m] for m in candidates[qa]]) for qa in chunk]
                done = score(spec, items, prompts)
                store.save(key, chunk, done)
                pairs += sum(len(c) for _, c in items)
            else:
                resumed += len(chunk)
            scores.update(zip(chunk, done))
    if resumed:
        log.info("resumed: %d of %d rows came from a previous run's finished chunks",
                 resumed, len(scores))
    return scores, pairs
