"""The settings both trainers give transformers' Trainer (the retriever through
sentence-transformers' subclass), from a spec, in one place: precision, checkpoints, logging.

    args = TrainingArguments(**trainer_arguments(spec, checkpoints, max_steps, seed,
                                                 steps_per_epoch), lr_scheduler_type="cosine")
    stats = run_stats(result, log_history, seconds)   # steps, seconds, final loss, loss curve
"""

from __future__ import annotations

from pathlib import Path

import torch

from eedi.distributed import one_gpu_per_process
from eedi.precision import trainer_precision


def trainer_arguments(spec, checkpoints: Path, max_steps: int, seed: int,
                      save_steps: int, logging_steps: int) -> dict:
    """Keyword arguments of (SentenceTransformer)TrainingArguments shared by both trainers.

    spec: a Retriever or Reranker (epochs, batch_size, lr, warmup_ratio). One checkpoint is
    kept, every save_steps, so a killed run resumes from it; mixed precision by device
    (eedi.precision: bf16 from Ampere on, fp16 on a T4 or V100, fp32 on CPU). Several visible
    GPUs need one process each (torchrun): eedi.distributed.one_gpu_per_process.
    """
    one_gpu_per_process(torch.cuda.device_count())
    return dict(
        output_dir=str(checkpoints),
        num_train_epochs=spec.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=spec.batch_size,
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


def run_stats(result, log_history: list[dict], seconds: float) -> dict:
    """What train.json records of every run: steps, seconds, final loss, the loss curve."""
    return {"steps": result.global_step, "train_seconds": round(seconds, 1),
            "final_loss": round(result.training_loss, 4),
            "loss_curve": [(h["step"], round(h["loss"], 4)) for h in log_history if "loss" in h]}
