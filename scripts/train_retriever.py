"""Fine-tune a bi-encoder retriever on (query, gold misconception) pairs with in-batch and
mined hard negatives.

\b
Reads  TRAIN          train_long.parquet (labelled rows are the training pairs)
       MISCONCEPTIONS misconceptions.parquet (names of gold and negatives)
       FOLDS + FOLD   train on the rows outside fold FOLD (a CV model); no --fold: all rows
       NEGATIVES      a ranking of train (e.g. zero-shot) to mine hard negatives from; omit:
                      in-batch negatives only
Writes OUT/           the model folder: sentence-transformers weights (or the LoRA adapter),
                      retriever.json (how to load and prompt it), train.json (examples,
                      seconds, examples/s, loss curve): the last file written
       OUT.checkpoints/ while training: a re-run after a kill resumes from the last one;
                      deleted when the model is complete

Loss: MultipleNegativesRankingLoss (or its cached twin for big batches); batches never hold
one misconception twice. LLM embedders train a LoRA adapter, on a 4-bit base where CUDA is
present. See eedi/retrieval/retriever_training.py.
"""

import time

import click

from eedi.distributed import is_main_process
from eedi.folds import training_rows
from eedi.long_table import misconception_names
from eedi.model_folder import checkpoints_of, save_model_folder
from eedi.negatives import training_negatives
from eedi.options import spec_options, training_data_options
from eedi.ranking import read_ranking
from eedi.retrieval.embedding import embedder_spec
from eedi.registry import Retriever
from eedi.retrieval.retriever_training import saved_spec, train, training_examples
from eedi.run_log import log, setup_logging, step_timer
from eedi.training_args import run_stats


@click.command(help=__doc__)
@click.option("--model", "model_name", default="minilm", show_default=True,
              help="Registry name, HF id or local folder to start from.")
@training_data_options
@spec_options(Retriever, "batching", "n_negatives", "negative_ranks", "negative_margin", "seen_negatives_only",
              "epochs", "batch_size", "lr", "loss", "mini_batch_size")
def main(model_name, train_path, misconceptions, folds_path, fold, negatives_path, synth_path,
         max_steps, seed, out, overrides):
    setup_logging()
    with step_timer("train_retriever", model=model_name, fold=fold) as record:
        spec = embedder_spec(model_name).replace(**overrides)
        names = misconception_names(misconceptions)
        rows = training_rows(train_path, folds_path, fold, synth_path, known_ids=set(names))
        ranking = read_ranking(negatives_path) if negatives_path is not None else None
        negatives = training_negatives(ranking, rows, spec.n_negatives, spec.negative_ranks,
                                       spec.negative_margin, names, seed,
                                       spec.seen_negatives_only)
        examples = training_examples(rows, names, negatives, spec.query_prefix)
        n_neg = len(examples) - 2
        log.info("training %s on %d pairs (%s), %d hard negatives each, %s epochs", model_name,
                 len(rows), f"fold {fold} held out" if fold is not None else "all rows", n_neg,
                 spec.epochs)

        start = time.time()
        model, result, history = train(spec, examples, checkpoints_of(out), max_steps, seed)
        stats = {"model": model_name, "fold": fold, "pairs": len(rows), "n_negatives": n_neg,
                 "epochs": spec.epochs,
                 "examples_per_second": round(result.metrics["train_samples_per_second"], 2),
                 **run_stats(result, history, time.time() - start)}
        if is_main_process():  # under torchrun every rank holds the same model: one writes it
            save_model_folder(out, model.save_pretrained, saved_spec(spec), stats)
        record.update({k: stats[k] for k in ("pairs", "train_seconds", "examples_per_second",
                                             "final_loss")})


if __name__ == "__main__":
    main()
