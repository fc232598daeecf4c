"""A trained model's folder, the same for retrievers and rerankers:

    OUT/                 complete or absent (written in a temp folder, then renamed)
      <weights>          sentence-transformers weights, or a peft LoRA adapter
      retriever.json     (or reranker.json) the spec: how to load and prompt the model;
                         paths "./..." are relative to the folder, so it can be moved
      train.json         training stats (seconds, throughput, loss curve): written last
    OUT.checkpoints/     while training only: a re-run after a kill resumes from the newest

    spec = load_spec(Reranker, "models/x/reranker/fold0")   # eedi.registry: a folder, a name or an HF id
    last = last_checkpoint(checkpoints_of(out))             # None on a fresh start
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), stats)
    quantization = nf4_config(torch.bfloat16)                # QLoRA's 4-bit NF4 weights
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Callable

from eedi.files import atomic_folder, write_json
from eedi.run_log import log

STATS_FILE = "train.json"

def save_spec(spec, folder: Path) -> None:
    write_json(dataclasses.asdict(spec), Path(folder) / spec.SPEC_FILE)


def checkpoints_of(out: Path) -> Path:
    """Where a training run into OUT keeps its checkpoints: OUT.checkpoints beside it."""
    return out.parent / f"{out.name}.checkpoints"


def last_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint of an interrupted run, to resume from; None to start afresh."""
    from transformers.trainer_utils import get_last_checkpoint
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        log.info("resuming from %s", last)
    return last


def save_model_folder(out: Path, save_weights: Callable[[str], None], spec, stats: dict) -> None:
    """Write OUT whole: the weights (save_weights(folder)), the spec, then train.json; then
    delete OUT.checkpoints, which the finished model no longer needs."""
    with atomic_folder(out) as tmp:
        save_weights(str(tmp))
        save_spec(spec, tmp)
        write_json(stats, tmp / STATS_FILE)
    shutil.rmtree(checkpoints_of(out), ignore_errors=True)


def nf4_config(compute_dtype, sharded: bool = False):
    """QLoRA's 4-bit base weights: NF4 with double quantisation, computing in compute_dtype.
    sharded (FSDP-QLoRA): the packed 4-bit weights stored as compute_dtype tensors, not uint8,
    so FSDP can flatten and shard them with the layer's other weights (bitsandbytes' docs,
    fsdp_qlora.md)."""
    from transformers import BitsAndBytesConfig
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute_dtype,
                              **({"bnb_4bit_quant_storage": compute_dtype} if sharded else {}))


def one_cpu_path(model):
    """The model with every 4-bit layer on bitsandbytes' plain CPU path, on every CPU.

    On a CPU with AVX512-BF16, bitsandbytes 0.50 repacks a layer's 4-bit weights for its own
    kernel at the first inference forward: with the block scales in bf16 (other scores than the
    path the model trained on) and, for a layer narrower than one quant block (64 inputs), a
    crash (shape '[32, 0]'). Off, a 4-bit model scores the same on every CPU. GPUs: no effect.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):  # bitsandbytes.nn.Linear4bit
            module.support_avx512bf16_for_cpu = False
    return model


def seconds_to_make(stats: dict) -> float:
    """A model folder's cost from its train.json: its training seconds; a quantised folder's
    (quantize.py: the adapter's stats under "training") also its merge and GPTQ seconds."""
    if "train_seconds" in stats:
        return stats["train_seconds"]
    training = (stats.get("training") or {}).get("train_seconds", 0.0)
    return round(training + stats.get("merge_seconds", 0.0) + stats.get("quantize_seconds", 0.0), 1)


def fold_training_seconds(models: str, folds) -> dict[int, float]:
    """{fold: seconds to make its model} for the fold models of `models` ("models/x/fold{fold}")
    whose train.json exists."""
    out = {}
    for fold in folds:
        stats = Path(models.replace("{fold}", str(fold))) / STATS_FILE
        if stats.is_file():
            out[fold] = seconds_to_make(json.loads(stats.read_text()))
    return out
