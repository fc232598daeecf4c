"""Benchmark reranking throughput: naive vs prefix-reuse transformers (and vLLM where its venv
exists), side by side on the same pairs, with their ratio and score agreement.

\b
Reads  TRAIN, MISCONCEPTIONS  the long table and candidate names
       RANKING                any ranking of train: each benchmark row's top CANDIDATES
Writes stdout                 a table: pairs, seconds, pairs/s, speed-up over naive, and the
                              largest score difference from naive (the engines must agree)

Naive scores every (row, candidate) prompt in full; prefix reuse runs each row's shared
prefix once and its KV cache serves all candidates; vLLM gets the same token ids with
prefix caching on. Each engine is warmed up on one row first; model loading is not timed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch

from eedi.long_table import misconception_names
from eedi.ranking import read_ranking
from eedi.rerank.prompt import PromptBuilder
from eedi.rerank.reranker import base_model_path, load_model, load_tokenizer, reranker_spec
from eedi.rerank.reranking import top_candidates
from eedi.rerank.vllm_env import cpu_environment
from eedi.rerank.yes_no_scoring import score_naive, score_prefix_reuse
from eedi.run_log import log, setup_logging


@click.command(help=__doc__)
@click.option("--model", "model_name", default="smollm135m", show_default=True)
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--ranking", "ranking_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--rows", "n_rows", type=click.IntRange(1), default=8, show_default=True)
@click.option("--candidates", type=click.IntRange(1), default=25, show_default=True)
@click.option("--vllm-python", type=click.Path(dir_okay=False, path_type=Path),
              help="The .venv-vllm interpreter: also time the vllm engine.")
def main(model_name, train_path, misconceptions, ranking_path, n_rows, candidates, vllm_python):
    setup_logging()
    spec = reranker_spec(model_name)
    prompts = PromptBuilder(load_tokenizer(spec), spec.max_length, model_name)
    rows = pd.read_parquet(train_path).set_index("QuestionId_Answer", drop=False)
    lists = top_candidates(read_ranking(ranking_path), candidates).sort_index()
    picked = lists.index[np.linspace(0, len(lists) - 1, n_rows + 1).astype(int)]  # +1 warm-up
    names = misconception_names(misconceptions)
    encoded = [prompts.encode(rows.loc[qa], [names[m] for m in lists[qa]]) for qa in picked]
    warm, bench = encoded[:1], encoded[1:]
    pairs = sum(len(s) for _, s in bench)
    tokens = sum(len(p) + len(x) for p, s in bench for x in s)
    log.info("%d rows x %d candidates = %d pairs, %.0f tokens per prompt, model %s",
                    len(bench), candidates, pairs, tokens / pairs, model_name)

    model = load_model(spec)
    flat = lambda rs: [p + x for p, s in rs for x in s]
    results = {}
    score_naive(model, flat(warm), prompts.yes_no, prompts.pad_id, batch_size=candidates)
    start = time.perf_counter()
    naive = score_naive(model, flat(bench), prompts.yes_no, prompts.pad_id, batch_size=candidates)
    results["hf naive"] = (time.perf_counter() - start, naive)
    score_prefix_reuse(model, warm, prompts.yes_no, prompts.pad_id, pairs_per_batch=candidates)
    start = time.perf_counter()
    reused = score_prefix_reuse(model, bench, prompts.yes_no, prompts.pad_id,
                                         pairs_per_batch=candidates)
    results["hf prefix-reuse"] = (time.perf_counter() - start, np.concatenate(reused))
    if vllm_python:
        results["vllm prefix-cache"] = run_vllm(vllm_python, spec, warm, bench, prompts.yes_no)

    base = results["hf naive"][0]
    table = pd.DataFrame([{"engine": name, "pairs": pairs, "seconds": round(sec, 2),
                           "pairs/s": round(pairs / sec, 1), "x naive": round(base / sec, 2),
                           "max |score - naive|": float(np.abs(scores - naive).max())}
                          for name, (sec, scores) in results.items()])
    click.echo(f"{model_name} on {os.cpu_count()} CPU cores / "
               f"{'CUDA' if torch.cuda.is_available() else 'no GPU'}: "
               f"{len(bench)} rows x {candidates} candidates, {tokens / pairs:.0f} tokens per prompt")
    click.echo(table.to_string(index=False))


def run_vllm(python: Path, spec, warm, bench, yes_no) -> tuple[float, np.ndarray]:
    """Time vllm_score.py in .venv-vllm on the same token ids (it warms up on `warm` first)."""
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "rows.json"
        request.write_text(json.dumps({"warmup": warm, "rows": bench, "yes_no": list(yes_no)}))
        subprocess.run([str(python), str(Path(__file__).with_name("vllm_score.py")),
                        "--model", base_model_path(spec), "--max-length", str(spec.max_length),
                        "--rows", str(request), "--out", str(Path(tmp) / "scores.json")],
                       check=True, env=cpu_environment(), stdout=sys.stderr)
        out = json.loads((Path(tmp) / "scores.json").read_text())
    return out["seconds"], np.concatenate([np.array(s, dtype=np.float32) for s in out["scores"]])


if __name__ == "__main__":
    main()
