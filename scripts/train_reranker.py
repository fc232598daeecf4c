"""Fine-tune an LLM reranker with (Q)LoRA to answer Yes/No: "does this misconception explain
this wrong answer?", on each training row's gold misconception and hard negatives.

\b
Reads  TRAIN          train_long.parquet (labelled rows)
       MISCONCEPTIONS misconceptions.parquet (candidate names)
       NEGATIVES      the retriever's out-of-fold ranking of train: hard negatives come from
                      its top ranks (--negative-ranks), as the reranker will see at inference
       FOLDS + FOLD   train on the rows outside fold FOLD (a CV adapter); no --fold: all rows
Writes OUT/           the LoRA adapter (adapter_model.safetensors, adapter_config.json),
                      reranker.json (base model + settings to load it), train.json (groups,
                      seconds, pairs/s, loss curve): the last file written
       OUT.checkpoints/ while training: a re-run after a kill resumes from the last one;
                      deleted when the adapter is complete

Each example is a group: one row's gold + N negatives sharing the row's prompt prefix. Loss on
logit(Yes) - logit(No): `group` (softmax over the group) or `bce` (pointwise). A listwise
reranker (the registry's reranking: listwise, e.g. qwen32b-list) trains on one prompt per row
listing its gold among WINDOW - 1 negatives, shuffled, each behind a one-token label; loss: the
cross-entropy of the label logits against the gold's label. With 4-bit
NF4 base weights (the registry's quantize_4bit, or --quantize 4bit) it is QLoRA, on CUDA or CPU.
See eedi/rerank/reranker_training.py.
"""

import time
from functools import partial

import click

from eedi.distributed import is_main_process
from eedi.folds import training_rows
from eedi.long_table import misconception_names
from eedi.model_folder import checkpoints_of, save_model_folder
from eedi.negatives import training_negatives
from eedi.options import quantize_4bit, quantize_option, spec_options, training_data_options
from eedi.ranking import read_ranking
from eedi.rerank.prompt import prompt_builder
from eedi.rerank.reranker import load_tokenizer, reranker_spec
from eedi.registry import Reranker
from eedi.rerank.reranker_training import train, training_groups, training_windows
from eedi.run_log import log, setup_logging, step_timer
from eedi.training_args import run_stats


@click.command(help=__doc__)
@click.option("--model", "model_name", default="smollm135m", show_default=True,
              help="Registry name (eedi/registry.py), HF id or local folder of the base LLM.")
@training_data_options
@spec_options(Reranker, "reranking", "window", "stride", "both_orders", "n_negatives",
              "negative_ranks", "negative_margin", "seen_negatives_only", "loss", "epochs",
              "batch_size", "grad_accum", "lr", "max_length")
@quantize_option
@click.option("--fsdp", is_flag=True,
              help="Under torchrun: shard the model over the processes (FSDP-QLoRA), for a model "
                   "one GPU cannot hold (make DISTRIBUTED=fsdp); default: a copy per process (DDP).")
def main(model_name, train_path, misconceptions, folds_path, fold, negatives_path, synth_path,
         max_steps, seed, out, quantize, fsdp, overrides):
    setup_logging()
    if negatives_path is None:
        raise click.UsageError("the reranker trains on hard negatives: pass --negatives RANKING")
    with step_timer("train_reranker", model=model_name, fold=fold) as record:
        try:
            spec = reranker_spec(model_name).replace(**overrides,
                                                     quantize_4bit=quantize_4bit(quantize))
        except ValueError as e:  # settings that do not go together (eedi.registry checks them)
            raise click.UsageError(str(e)) from None
        names = misconception_names(misconceptions)
        rows = training_rows(train_path, folds_path, fold, synth_path, known_ids=set(names))
        negatives = training_negatives(read_ranking(negatives_path), rows, spec.n_negatives,
                                       spec.negative_ranks, spec.negative_margin, names, seed,
                                       spec.seen_negatives_only)
        prompts = prompt_builder(spec, load_tokenizer(spec), model_name)
        if spec.listwise:
            groups = training_windows(rows, names, negatives, prompts, spec.window, seed)
        else:
            groups = training_groups(rows, names, negatives, prompts)
        group_size = min(spec.window, spec.n_negatives + 1) if spec.listwise else spec.n_negatives + 1
        log.info("training %s reranker %s on %d %s of %d (%s), loss %s", spec.reranking,
                 model_name, len(groups), "windows" if spec.listwise else "groups", group_size,
                 f"fold {fold} held out" if fold is not None else "all rows",
                 "label cross-entropy" if spec.listwise else spec.loss)

        start = time.time()
        model, result, history, state = train(spec, groups, prompts, checkpoints_of(out),
                                              max_steps, seed, fsdp=fsdp)
        groups_per_second = result.metrics["train_samples_per_second"]
        stats = {"model": model_name, "fold": fold, "reranking": spec.reranking,
                 "groups": len(groups), "group_size": group_size,
                 "loss": "label-ce" if spec.listwise else spec.loss,
                 "pairs_per_second": round(groups_per_second * group_size, 2),
                 **run_stats(result, history, time.time() - start)}
        if is_main_process():  # under torchrun every rank holds the same model: one writes it
            save_model_folder(out, partial(model.save_pretrained, state_dict=state),
                              spec.replace(adapter="./"), stats)
        record.update({k: stats[k] for k in ("groups", "train_seconds", "pairs_per_second",
                                             "final_loss")})


if __name__ == "__main__":
    main()
