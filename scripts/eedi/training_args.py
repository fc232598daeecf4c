"""The settings both trainers give transformers' Trainer (the retriever through
sentence-transformers' subclass), from a spec, in one place: precision, checkpoints, logging.

    args = TrainingArguments(**trainer_arguments(spec, checkpoints, max_steps, seed,
                                                 steps_per_epoch), lr_scheduler_type="cosine")
    stats = run_stats(result, log_history, seconds)   # steps, seconds, final loss, loss curve
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from eedi.distributed import fsdp_arguments, one_gpu_per_process, share_of_batch, world_size
from eedi.precision import trainer_precision


def trainer_arguments(spec, checkpoints: Path, max_steps: int, seed: int,
                      save_steps: int, logging_steps: int, fsdp: bool = False) -> dict:
    """Keyword arguments of (SentenceTransformer)TrainingArguments shared by both trainers.

    spec: a Retriever or Reranker (epochs, batch_size, grad_accum (a reranker's), lr,
    warmup_ratio). One checkpoint is kept, every save_steps, so a killed run resumes from it;
    mixed precision by device (eedi.precision: bf16 from Ampere on, fp16 on a T4 or V100, fp32
    on CPU). Several visible GPUs need one process each (torchrun: one_gpu_per_process), and
    the processes share the spec's batch (share_of_batch): an update is the same on 1 GPU or 8.
    fsdp: the model sharded over the processes (fsdp_arguments).
    """
    one_gpu_per_process(torch.cuda.device_count())
    world = world_size()
    batch_size, grad_accum = share_of_batch(spec.batch_size, getattr(spec, "grad_accum", 1), world)
    return dict(
        output_dir=str(checkpoints),
        num_train_epochs=spec.epochs,
        max_steps=max_steps,
        # Several processes: the loader draws world x batch_size rows at a time, as one GPU's
        # sampler would, and each process takes its slice (accelerate's split_batches). Shards
        # of separately drawn batches would not be one GPU's batches: two halves could hold
        # one misconception twice, a false in-batch negative for the retriever.
        per_device_train_batch_size=batch_size * world,
        **({"accelerator_config": {"split_batches": True}} if world > 1 else {}),
        gradient_accumulation_steps=grad_accum,
        # DDP: LoRA uses every trainable weight, so no search for unused ones each step; a
        # full fine-tune may leave some unused (BERT's pooler): the Trainer's default
        ddp_find_unused_parameters=False if spec.lora is not None else None,
        **(fsdp_arguments() if fsdp else {}),
        learning_rate=spec.lr,
        warmup_steps=spec.warmup_ratio,  # a float below 1 is a ratio in transformers v5
        **trainer_precision(),
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=1,
        logging_steps=logging_steps,
        report_to="none",
        seed=seed,
        disable_tqdm=False,
    )


# glibc malloc's settings the Makefile exports to every step (its "allocator" comment says why)
MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def run_stats(result, log_history: list[dict], seconds: float) -> dict:
    """What train.json records of every run: steps, seconds, final loss, the loss curve, and
    the allocator settings the process ran with (its speed depends on them)."""
    return {"malloc": {name: os.environ.get(name) for name in MALLOC_SETTINGS},"steps": result.global_step, "train_seconds": round(seconds, 1),
            "final_loss": round(result.training_loss, 4),
            "loss_curve": [(h["step"], round(h["loss"], 4)) for h in log_history if "loss" in h]}
