"""Measure a retriever's encode and training throughput on this machine, side by side.

\b
Reads  TRAIN          train_long.parquet (query texts and gold names, as in training)
       MISCONCEPTIONS misconceptions.parquet
Prints encode throughput (texts/s) of queries and of misconception names, training
       throughput (examples/s: one example = a query, its gold and its hard negatives) and
       what they mean for a 5-fold + all-train run of this dataset, so a GPU run can be
       projected from a CPU measurement and vice versa.

Nothing is written. The first training steps (warm-up, allocator) are excluded: the numbers
are from steady state.
"""

import tempfile
import time
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
from eedi.run_log import setup_logging


@click.command(help=__doc__)
@click.option("--model", "model_name", default="minilm", show_default=True)
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--n-texts", type=click.IntRange(16), default=512, show_default=True,
              help="Texts encoded per measurement.")
@click.option("--train-steps", type=click.IntRange(2), default=6, show_default=True,
              help="Training steps timed (after 2 warm-up steps).")
@spec_options(Retriever, "batch_size", "loss", "mini_batch_size")
def main(model_name, train_path, misconceptions, n_texts, train_steps, overrides):
    setup_logging()
    spec = embedder_spec(model_name).replace(**overrides)
    all_rows = pd.read_parquet(train_path)
    rows = all_rows[all_rows["MisconceptionId"].notna()].head(max(n_texts, spec.batch_size * (train_steps + 2)))
    names = misconception_names(misconceptions)
    queries = [spec.query_prefix + query_text(r) for r in rows.head(n_texts).to_dict("records")]
    name_texts = list(names.values())[:n_texts]
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"

    model = load_embedder(spec)
    encode(model, queries[:16], progress=False)  # warm-up
    rates = {}
    for label, texts in (("queries", queries), ("misconception names", name_texts)):
        start = time.perf_counter()
        encode(model, texts, progress=False)
        rates[label] = len(texts) / (time.perf_counter() - start)

    # training: time (2 + N) steps and (2) steps on the same examples; the difference is N
    # steady-state steps
    # random negatives (no ranking to mine from) cost the same as mined ones
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    negatives = top_up({}, gold, spec.n_negatives, names, seed=0)
    examples = training_examples(rows, names, negatives, spec.query_prefix)
    step_seconds = []
    for steps in (2, 2 + train_steps):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train(spec, examples, Path(tmp) / "ckpt", max_steps=steps, seed=0)
            step_seconds.append(time.perf_counter() - start)
    train_rate = spec.batch_size * train_steps / (step_seconds[1] - step_seconds[0])

    labelled = int(all_rows["MisconceptionId"].notna().sum())
    # 5 fold models see 4/5 of the pairs each, the all-train model all of them
    epochs_of_pairs = spec.epochs * labelled * (5 * 4 / 5 + 1)
    chunks = f" in chunks of {spec.mini_batch_size}" if spec.loss == "cached-mnrl" else ""
    click.echo(f"model {model_name} on {device}, {spec.loss} batch {spec.batch_size}{chunks}, "
               f"{spec.n_negatives} hard negative(s), max_length {spec.max_length}")
    click.echo(f"{'measure':<34}{'value':>12}")
    for label, rate in rates.items():
        click.echo(f"{'encode ' + label + ' (texts/s)':<34}{rate:>12.1f}")
    click.echo(f"{'train (examples/s)':<34}{train_rate:>12.2f}")
    click.echo(f"{'encode queries / train (ratio)':<34}{rates['queries'] / train_rate:>12.1f}")
    click.echo(f"projected: 5 folds + all-train, {spec.epochs:g} epochs of {labelled} pairs "
               f"= {epochs_of_pairs / train_rate / 60:.0f} min of training; ranking all "
               f"{len(all_rows)} train rows = {len(all_rows) / rates['queries'] / 60:.1f} min")


if __name__ == "__main__":
    main()
