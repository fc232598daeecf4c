"""Measure a retriever's training and encoding on this machine against its peak: today's path
and the fast path side by side, on the same rows.

\b
Reads  TRAIN          train_long.parquet (query texts and gold names, as in training)
       MISCONCEPTIONS misconceptions.parquet
Prints the peak (GFLOP/s of a large matmul in float32 and bfloat16), then for each path:
       training examples/s, encoding texts/s, achieved GFLOP/s (model FLOPs of the real,
       unpadded tokens: eedi.retrieval.roofline), padded tokens per real one, peak RSS, user
       and system seconds; and ends with
         train: A -> B examples/s (Rx), P% of peak
         encode: A -> B texts/s (Rx), P% of peak
       (P: the fast path's GFLOP/s over the peak of float32, the dtype both paths run in).

Paths: "today" is sentence-transformers' no-duplicates batches and MNRL under glibc malloc's
defaults; "fast" is what train_retriever.py runs: length-sorted chunks (eedi.retrieval.
length_batching), the Makefile's MALLOC_* settings, and the spec's batching (--batching
length: length-bucketed batches, opt-in). Each path runs in a
process of its own (the allocator is set at start-up): training one epoch of ROWS rows after
WARMUP steps, encoding TEXTS query texts after a warm-up. Nothing is written.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import pandas as pd
import torch

from eedi.long_table import misconception_names, query_text
from eedi.negatives import top_up
from eedi.options import spec_options
from eedi.registry import Retriever
from eedi.retrieval.embedding import embedder_spec, encode, load_embedder
from eedi.retrieval.retriever_training import train, training_examples
from eedi.retrieval.roofline import TokenMeter, Usage, peak_gflops
from eedi.run_log import setup_logging
from eedi.training_args import MALLOC_SETTINGS

PATHS = ("today", "fast")


@click.command(help=__doc__)
@click.option("--model", "model_name", default="minilm", show_default=True)
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--rows", "n_rows", type=click.IntRange(2), default=1024, show_default=True,
              help="Training rows timed (one epoch of them; at random, seed 0).")
@click.option("--texts", "n_texts", type=click.IntRange(16), default=1024, show_default=True,
              help="Query texts encoded.")
@click.option("--warmup", type=click.IntRange(1), default=1, show_default=True,
              help="Training steps run before the clock starts.")
@click.option("--path", type=click.Choice(PATHS), hidden=True,
              help="Measure this path alone and print its JSON (the parent runs both).")
@spec_options(Retriever, "batch_size", "loss", "mini_batch_size", "batching")
def main(model_name, train_path, misconceptions, n_rows, n_texts, warmup, path, overrides):
    setup_logging()
    if path:
        click.echo("RESULT " + json.dumps(measure(path, model_name, train_path, misconceptions,
                                                  n_rows, n_texts, warmup, overrides)))
        return
    # bfloat16 for reference (neither path uses it): this CPU wheel's bf16 matmul ran at 0.3
    # GFLOP/s against float32's 130 here, so a small one says as much
    peaks = {"float32": peak_gflops(torch.float32),
             "bfloat16": peak_gflops(torch.bfloat16, size=256, repeats=2)}
    argv = [__file__, "--model", model_name, "--train", str(train_path), "--misconceptions",
            str(misconceptions), "--rows", str(n_rows), "--texts", str(n_texts), "--warmup",
            str(warmup), *[a for k, v in overrides.items() if v is not None
                           for a in (f"--{k.replace('_', '-')}", str(v))]]
    results = {p: run_path(p, argv) for p in PATHS}
    spec = embedder_spec(model_name).replace(**overrides)
    click.echo(f"model {model_name} on {hardware()}, batch {spec.batch_size}, max_length "
               f"{spec.max_length}, {n_rows} rows, {n_texts} texts")
    click.echo("peak: " + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in peaks.items()))
    click.echo(pd.DataFrame(results).T.round(2).to_string())
    today, fast = results["today"], results["fast"]
    for stage, unit in (("train", "examples/s"), ("encode", "texts/s")):
        a, b = today[f"{stage}_rate"], fast[f"{stage}_rate"]
        click.echo(f"{stage}: {a:.2f} -> {b:.2f} {unit} ({b / a:.2f}x), "
                   f"{100 * fast[f'{stage}_gflops'] / peaks['float32']:.0f}% of peak")


def run_path(path: str, argv: list[str]) -> dict:
    """This command again with --path PATH, in a process of its own: today's path without the
    MALLOC_* settings (glibc's defaults), the fast path with them (as Make exports them)."""
    env = dict(os.environ)
    if path == "today":
        for name in MALLOC_SETTINGS:
            env.pop(name, None)
    elif not all(env.get(name) for name in MALLOC_SETTINGS):
        raise click.UsageError(f"the fast path needs {', '.join(MALLOC_SETTINGS)} set: run it "
                               "through `make bench-retriever`, which exports them")
    out = subprocess.run([sys.executable, *argv, "--path", path], env=env, text=True,
                         stdout=subprocess.PIPE, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def measure(path, model_name, train_path, misconceptions, n_rows, n_texts, warmup, overrides):
    """One path's training (an epoch of n_rows rows after `warmup` steps) and encoding."""
    from transformers import TrainerCallback

    spec = embedder_spec(model_name).replace(**overrides)
    if path == "today":  # sentence-transformers' own batches, whatever --batching says
        spec = spec.replace(batching="random")
    labelled = pd.read_parquet(train_path).dropna(subset=["MisconceptionId"])
    rows = labelled.sample(n=min(n_rows, len(labelled)), random_state=0)
    names = misconception_names(misconceptions)
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    # random negatives (no ranking to mine from): the same texts' lengths as mined ones
    examples = training_examples(rows, names, top_up({}, gold, spec.n_negatives, names, seed=0),
                                 spec.query_prefix)
    usage, result = Usage(), {}

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.meter = TokenMeter(model)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                self.meter.reset()
                usage.start()
            elif state.global_step == state.max_steps:
                result["train"] = usage.stop()
                result["train"]["flops"] = 3 * self.meter.forward_flops()  # + backward (2x)
                result["train"]["padded_per_token"] = self.meter.padded / self.meter.tokens
                self.meter.close()

    timed_steps = max(1, len(rows) // spec.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        train(spec, examples, Path(tmp) / "ckpt", max_steps=warmup + timed_steps, seed=0,
              sorted_chunks=path == "fast", callbacks=[Clock()])
    trained = timed_steps * spec.batch_size

    model = load_embedder(spec)
    texts = [spec.query_prefix + query_text(r) for r in labelled.head(n_texts).to_dict("records")]
    encode(model, texts[:16], progress=False)  # warm-up
    meter = TokenMeter(model)
    usage.start()
    encode(model, texts, progress=False)
    result["encode"] = usage.stop() | {"flops": meter.forward_flops(),
                                       "padded_per_token": meter.padded / meter.tokens}
    train_s, encode_s = result["train"]["seconds"], result["encode"]["seconds"]
    return {"train_rate": trained / train_s,
            "train_gflops": result["train"]["flops"] / train_s / 1e9,
            "train_padded_per_token": result["train"]["padded_per_token"],
            "train_user_s": result["train"]["user_s"], "train_system_s": result["train"]["system_s"],
            "encode_rate": len(texts) / encode_s,
            "encode_gflops": result["encode"]["flops"] / encode_s / 1e9,
            "encode_padded_per_token": result["encode"]["padded_per_token"],
            "encode_user_s": result["encode"]["user_s"],
            "encode_system_s": result["encode"]["system_s"],
            "peak_rss_gb": result["encode"]["peak_rss_gb"],
            "malloc_settings": all(os.environ.get(name) for name in MALLOC_SETTINGS)}


def hardware() -> str:
    device = "CUDA" if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    return f"{os.cpu_count()} cores ({device})"


if __name__ == "__main__":
    main()
