"""Benchmark reranking throughput: naive vs prefix-reuse transformers (and vLLM where its venv
exists), side by side on the same pairs, with their ratio and score agreement; --training:
training steps, full sequences vs each group's prefix shared, checkpointing off and on.

\b
Reads  TRAIN, MISCONCEPTIONS  the long table and candidate names
       RANKING                any ranking of train: each benchmark row's top CANDIDATES
Writes stdout                 a table: pairs, seconds, pairs/s, speed-up over naive, and the
                              largest score difference from naive (the engines must agree);
                              --training: tokens/s, speed-up over full sequences, and the
                              largest loss difference from them

Naive scores every (row, candidate) prompt in full; prefix reuse runs each row's shared
prefix once and its KV cache serves all candidates; vLLM gets the same token ids with
prefix caching on. A listwise MODEL (smollm135m-list): its windows over the top CANDIDATES,
each window's full prompt vs the row's prefix once and its windows on the KV cache. Training: a step is forward + backward of the group loss on a fresh LoRA
over spec.batch_size groups of 1 + n_negatives candidates (the row's top ones), as
train_reranker.py trains; "shared" packs each group's prefix and candidates in one sequence.
tokens/s counts the full sequences' tokens in both, so it compares the same work. Each case
is warmed up on one row (group) first; model loading is not timed.
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
from eedi.rerank.reranker_training import GroupCollator, batch_margin, group_loss
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
@click.option("--training", is_flag=True,
              help="Time training steps (full sequences vs shared prefix, gradient checkpointing "
                   "off and on) instead of scoring.")
def main(model_name, train_path, misconceptions, ranking_path, n_rows, candidates, vllm_python,
         training):
    setup_logging()
    spec = reranker_spec(model_name)
    rows = pd.read_parquet(train_path).set_index("QuestionId_Answer", drop=False)
    lists = top_candidates(read_ranking(ranking_path), candidates).sort_index()
    picked = lists.index[np.linspace(0, len(lists) - 1, n_rows + 1).astype(int)]  # +1 warm-up
    names = misconception_names(misconceptions)
    if spec.listwise:
        if training:
            raise click.UsageError(f"{model_name} is listwise: --training times the pointwise "
                                   "trainer's packing")
        return bench_listwise(spec, model_name, rows, lists, picked, names, candidates)
    prompts = PromptBuilder(load_tokenizer(spec), spec.max_length, model_name)
    encoded = [prompts.encode(rows.loc[qa], [names[m] for m in lists[qa]]) for qa in picked]
    warm, bench = encoded[:1], encoded[1:]
    pairs = sum(len(s) for _, s in bench)
    tokens = sum(len(p) + len(x) for p, s in bench for x in s)
    log.info("%d rows x %d candidates = %d pairs, %.0f tokens per prompt, model %s",
                    len(bench), candidates, pairs, tokens / pairs, model_name)

    if training:
        bench_training(spec, prompts, warm, bench, model_name)
        return
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

    click.echo(f"{model_name} on {hardware()}: "
               f"{len(bench)} rows x {candidates} candidates, {tokens / pairs:.0f} tokens per prompt")
    click.echo(side_by_side(results, ("engine", "pairs", "naive", "score"), pairs))
    click.echo(bound_line(results["hf naive"][0], results["hf prefix-reuse"][0], bench))


def reuse_bound(rows: list[tuple[list[int], list[list[int]]]]) -> float:
    """B: the tokens the naive path computes (every prompt in full) over the tokens prefix
    reuse computes (each row's prefix once, then each suffix): the most reuse can gain, when
    the cost is per token. rows: [(prefix ids, [suffix ids])]."""
    naive = sum(len(p) + len(x) for p, xs in rows for x in xs)
    reused = sum(len(p) + sum(len(x) for x in xs) for p, xs in rows)
    return naive / reused


def bound_line(naive_seconds: float, reuse_seconds: float, rows) -> str:
    """`prefix reuse: Rx of a Bx bound (P%)`: R the measured speed-up over the naive path, B
    reuse_bound(rows), P = R / B: how much of what reuse could save it saves."""
    ratio, bound = naive_seconds / reuse_seconds, reuse_bound(rows)
    return f"prefix reuse: {ratio:.2f}x of a {bound:.2f}x bound ({100 * ratio / bound:.0f}%)"


def hardware() -> str:
    return f"{os.cpu_count()} CPU cores / {'CUDA' if torch.cuda.is_available() else 'no GPU'}"


def side_by_side(results: dict, names: tuple[str, str, str, str], count: int,
                 digits: int = 1) -> str:
    """The table every benchmark here prints: one line per way (results: {way: (seconds,
    outputs)}, the first the baseline), its rate, its speed as a multiple of the baseline's and
    how far its outputs are from the baseline's. names: (what a line is, what is counted, the
    baseline's short name, what an output is), e.g. ("engine", "pairs", "naive", "score")."""
    way, unit, baseline, output = names
    base_seconds, reference = next(iter(results.values()))
    return pd.DataFrame([{way: name, unit: count, "seconds": round(sec, 2),
                          f"{unit}/s": round(count / sec, digits),
                          f"x {baseline}": round(base_seconds / sec, 2),
                          f"max |{output} - {baseline}|": float(np.abs(got - reference).max())}
                         for name, (sec, got) in results.items()]).to_string(index=False)


def bench_listwise(spec, model_name, rows, lists, picked, names, candidates) -> None:
    """A listwise reranker's windows (spec.window, spec.stride over the top CANDIDATES, both
    orders when spec.both_orders): every window's full prompt vs each row's prefix run once
    and its KV cache serving its windows; windows/s, the ratio, and the logits' agreement."""
    from eedi.rerank.listwise import windows
    from eedi.rerank.listwise_scoring import label_logits, label_logits_prefix_reuse
    from eedi.rerank.prompt import ListPromptBuilder
    prompts = ListPromptBuilder(load_tokenizer(spec), spec.max_length, model_name)
    groups, sizes = [], []
    for qa in picked:
        listed = [names[m] for m in lists[qa]]
        shown = [listed[a:b] for a, b in windows(len(listed), spec.window, spec.stride)]
        shown += [w[::-1] for w in shown] if spec.both_orders else []
        groups.append(prompts.encode_windows(rows.loc[qa], shown))
        sizes.append([len(w) for w in shown])
    model = load_model(spec)
    warm, bench = (groups[:1], sizes[:1]), (groups[1:], sizes[1:])
    per_batch = max(1, 64 // spec.window)  # rerank.py's default: 64 candidates a batch
    full = lambda gs, ss: label_logits(model, [p + x for p, xs in gs for x in xs], prompts.label_ids,
                                       prompts.pad_id, [n for s in ss for n in s], per_batch)
    reuse = lambda gs, ss: [a for row in label_logits_prefix_reuse(
        model, gs, prompts.label_ids, prompts.pad_id, ss, per_batch) for a in row]
    results = {}
    for name, run in (("hf full prompts", full), ("hf prefix-reuse", reuse)):
        run(*warm)
        start = time.perf_counter()
        got = run(*bench)
        results[name] = (time.perf_counter() - start, np.concatenate(got))
    n = sum(len(s) for s in bench[1])
    tokens = sum(len(p) + len(x) for p, xs in bench[0] for x in xs)
    click.echo(f"{model_name} (listwise: windows of {spec.window}, {spec.stride} apart"
               f"{', both orders' if spec.both_orders else ''}) on {hardware()}: {len(bench[0])} "
               f"rows x top {candidates}, {tokens / n:.0f} tokens per full prompt")
    click.echo(side_by_side(results, ("engine", "windows", "full", "logit"), n, digits=2))
    click.echo(bound_line(results["hf full prompts"][0], results["hf prefix-reuse"][0], bench[0]))


def bench_training(spec, prompts, warm, bench, model_name) -> None:
    """Training steps on the bench rows' groups: full sequences vs shared prefix (packed), with
    gradient checkpointing off and on; tokens/s of the full sequences, and the losses' agreement."""
    size = min(spec.n_negatives + 1, *(len(s) for _, s in warm + bench))  # gold + negatives
    groups = [{"prefix": p, "suffixes": s[:size], "labels": [1.0] + [0.0] * (size - 1)}
              for p, s in warm + bench]
    warm_groups, bench_groups = groups[:1], groups[1:]
    batches = [bench_groups[i:i + spec.batch_size]
               for i in range(0, len(bench_groups), spec.batch_size)]
    tokens = sum(len(g["prefix"]) + len(x) for g in bench_groups for x in g["suffixes"])
    torch.manual_seed(0)
    model = load_model(spec, trainable=True)
    model.train()

    def step(collate, batch) -> float:
        inputs = collate(batch)
        labels = inputs.pop("labels")
        loss = group_loss(batch_margin(model, inputs, prompts.yes_no), labels, size, spec.loss)
        loss.backward()
        model.zero_grad()
        return loss.item()

    results = {}
    for checkpointing in (False, True):
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        for shared in (False, True):
            collate = GroupCollator(prompts.pad_id, shared_prefix=shared)
            step(collate, warm_groups)
            start = time.perf_counter()
            losses = [step(collate, batch) for batch in batches]
            name = f"{'shared prefix' if shared else 'full sequences'}{' + checkpointing' if checkpointing else ''}"
            results[name] = (time.perf_counter() - start, np.array(losses))
    click.echo(f"{model_name} training on {hardware()}: {len(bench_groups)} groups "
               f"of {size} in steps of {spec.batch_size}, {tokens / len(bench_groups) / size:.0f} "
               f"tokens per prompt")
    click.echo(side_by_side(results, ("training", "tokens", "full", "loss"), tokens))


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
