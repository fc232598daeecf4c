"""Fine-tuning a bi-encoder retriever on (query, gold misconception) pairs with in-batch and
mined hard negatives (sentence-transformers' trainer).

    negatives = training_negatives(ranking, rows, spec.n_negatives, spec.negative_ranks, ...)
    examples = training_examples(rows, names, negatives, spec.query_prefix)
    # {"anchor": [query texts], "positive": [gold names], "negative_1": [...], ...}
    model, result, history = train(spec, examples, checkpoints_of(out), max_steps=-1, seed=42)
    save_model_folder(out, model.save_pretrained, saved_spec(spec), stats)

Loss: MultipleNegativesRankingLoss: each query against its gold, the batch's other golds and
its hard negatives; CachedMultipleNegativesRankingLoss (GradCache) gives the same loss with
big batches in small memory. Batches never hold one misconception twice (that would make a
gold a false in-batch negative). LLM embedders train a LoRA adapter (peft), on a 4-bit base
where CUDA is present.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from eedi.distributed import world_size
from eedi.long_table import query_text
from eedi.model_folder import last_checkpoint
from eedi.registry import Retriever
from eedi.retrieval.embedding import load_embedder
from eedi.retrieval.length_batching import LengthBucketedSampler, LengthSortedMNRL
from eedi.training_args import trainer_arguments

def training_examples(rows: pd.DataFrame, names: dict[int, str], negatives: dict[str, list[int]],
                      query_prefix: str) -> dict[str, list[str]]:
    """Columns anchor, positive, negative_1..n for the trainer (MNRL reads them in order).

    negatives: the same number n of ids for every row (negatives.top_up makes it so); n may
    be 0 (in-batch negatives only).
    """
    n = len(next(iter(negatives.values()), []))
    columns = {"anchor": [], "positive": []} | {f"negative_{j + 1}": [] for j in range(n)}
    for row in rows.to_dict("records"):
        columns["anchor"].append(query_prefix + query_text(row))
        columns["positive"].append(names[int(row["MisconceptionId"])])
        for j, m in enumerate(negatives[row["QuestionId_Answer"]]):
            columns[f"negative_{j + 1}"].append(names[m])
    return columns


def training_loss(spec: Retriever, model, sorted_chunks: bool = True):
    """spec.loss -> the sentence-transformers loss over (anchor, positive, negative_1..n).

    sorted_chunks: "mnrl" runs each column in length-sorted chunks (length_batching.
    LengthSortedMNRL: the same loss, less padding); False is sentence-transformers' own MNRL.

    "cached-mnrl" is "mnrl" computed in chunks of spec.mini_batch_size (GradCache): the same loss
    and gradients at the same batch size (tests/test_retriever_training.py checks it), so it only
    buys memory, at the price of a second forward pass. Where memory allows (a CPU), plain "mnrl"
    trains the same model faster.
    """
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss)
    # Under torchrun each process holds 1/world of the batch (training_args.share_of_batch):
    # gathering the documents of every process keeps the one-GPU batch's in-batch negatives.
    gather = world_size() > 1
    if spec.loss == "cached-mnrl":
        return CachedMultipleNegativesRankingLoss(model, mini_batch_size=spec.mini_batch_size,
                                                  gather_across_devices=gather)
    if spec.loss == "mnrl":
        mnrl = LengthSortedMNRL if sorted_chunks else MultipleNegativesRankingLoss
        return mnrl(model, gather_across_devices=gather)
    raise ValueError(f"unknown loss {spec.loss!r}")  # Retriever checks its choices


def trainable_embedder(spec: Retriever):
    """The embedder to fine-tune: an encoder whole; an LLM embedder (spec.lora) as a fresh LoRA
    adapter over its frozen base, the adapter's weights in fp32 over a bf16/fp16 (or 4-bit) base,
    as peft's get_peft_model makes them: sentence-transformers' add_adapter leaves them in the
    base's dtype, where Adam's small updates of bf16 weights round away."""
    model = load_embedder(spec)
    if spec.lora is not None:
        from peft import LoraConfig, TaskType
        from peft.functional import cast_adapter_dtype
        model.add_adapter(LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, **spec.lora))
        cast_adapter_dtype(model, "default")
    return model


def train(spec: Retriever, examples: dict, checkpoints: Path, max_steps: int, seed: int,
          sorted_chunks: bool = True, callbacks: list | None = None):
    """Run the sentence-transformers trainer; resume from the newest checkpoint if any.
    Returns (model, TrainOutput, log history).

    Batches: spec.batching ("random": sentence-transformers' no-duplicates batches; "length":
    length_batching.LengthBucketedSampler). sorted_chunks: each column's forward in
    length-sorted chunks (the same loss); False: sentence-transformers' MNRL as it is (what
    bench_retriever.py compares against). callbacks: the Trainer's.
    """
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    model = trainable_embedder(spec)
    loss = training_loss(spec, model, sorted_chunks)
    dataset = Dataset.from_dict(examples)
    steps_per_epoch = max(1, len(dataset) // spec.batch_size)
    args = SentenceTransformerTrainingArguments(
        **trainer_arguments(spec, checkpoints, max_steps, seed,
                            save_steps=max(10, steps_per_epoch // 4),  # ~4 checkpoints an epoch
                            logging_steps=max(1, steps_per_epoch // 10)),
        # "length" is 2x faster on a CPU but cost 0.02 MAP@25 on the real data (rows of one
        # question, alike in length, share a batch): opt-in (docs/results.md, "CPU speed")
        batch_sampler=(LengthBucketedSampler if spec.batching == "length"
                       else BatchSamplers.NO_DUPLICATES),
        **({"activation_checkpointing": True,  # LLM embedders: memory for big batches
            "activation_checkpointing_kwargs": {"use_reentrant": False}}
           if spec.gradient_checkpointing else {}),
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss,
                                         callbacks=callbacks)
    result = trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints))
    return model, result, trainer.state.log_history


def saved_spec(spec: Retriever) -> Retriever:
    """The spec written beside the trained weights: a LoRA model loads its base + the adapter
    in the folder ("./"); a full fine-tune is the folder itself."""
    if spec.lora is not None:
        return spec.replace(adapter="./")
    return dataclasses.replace(spec, model="./", adapter=None)
