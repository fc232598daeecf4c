"""Which process of a multi-process training run this is, from the variables torchrun and
accelerate set (RANK, LOCAL_RANK, WORLD_SIZE; absent: one process), and what each one does.

    if is_main_process():                 # rank 0 writes the model folder; the others only train
        save_model_folder(...)
    device_map = {"": local_rank()}        # this process's own GPU, before the Trainer picks it
    share_of_batch(16, 4, world=2)         # (16, 2): each of 2 processes accumulates 2 x 16, so the
                                           # update is the one GPU's 16 x 4, as the registry says
    fsdp_arguments()                       # TrainingArguments' fsdp settings for FSDP-QLoRA
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def local_rank() -> int:
    """This process's index on its machine: the GPU it trains on (one GPU per process)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def share_of_batch(batch_size: int, grad_accum: int, world: int) -> tuple[int, int]:
    """(per-process batch, per-process accumulation steps) giving world processes together the
    update one GPU makes at batch_size x grad_accum, so a DDP run trains with the registry's
    settings. Accumulation is divided first (each process keeps its micro-batch, and memory);
    a smaller micro-batch only where the accumulation steps do not divide.

    >>> share_of_batch(16, 4, 2), share_of_batch(2, 1, 2), share_of_batch(8, 2, 8)
    ((16, 2), (1, 1), (2, 1))
    """
    import click

    total = batch_size * grad_accum
    if total % world:
        raise click.ClickException(
            f"a global batch of {batch_size} x {grad_accum} = {total} does not split over {world} "
            f"processes; pick a batch size and accumulation whose product {world} divides")
    if grad_accum % world == 0:
        return batch_size, grad_accum // world
    each = total // world
    micro = max(d for d in range(1, min(batch_size, each) + 1) if each % d == 0)
    return micro, each // micro


def fsdp_arguments() -> dict:
    """TrainingArguments' FSDP settings for LoRA over a 4-bit base sharded over the processes
    (peft's FSDP-QLoRA recipe, examples/sft/configs/fsdp_config_qlora.yaml): whole decoder
    layers sharded, each process loading the weights on CPU once and rank 0 broadcasting them;
    use_orig_params off, as peft's QLoRA config; full state dict for the adapter's save. The 4-bit
    weights must be stored in the compute dtype (bnb_4bit_quant_storage: model_folder.nf4_config)
    for FSDP to flatten them with the rest."""
    return dict(fsdp="full_shard auto_wrap",
                fsdp_config={"auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                             "backward_prefetch": "backward_pre",
                             "forward_prefetch": False,
                             "cpu_ram_efficient_loading": True,
                             "sync_module_states": True,
                             "use_orig_params": False,
                             "state_dict_type": "FULL_STATE_DICT"})


def one_gpu_per_process(visible_gpus: int) -> None:
    """Refuse to train one process over several visible GPUs without a launcher: transformers'
    Trainer would wrap the model in DataParallel, multiply the batch by the GPU count (fewer,
    bigger optimiser steps than the registry's settings) and leave a 4-bit model on GPU 0."""
    import click

    if visible_gpus > 1 and world_size() == 1:
        raise click.ClickException(
            f"{visible_gpus} GPUs are visible to one training process; the Trainer would split "
            "every batch over them (DataParallel), not train with the registry's batch. Give it "
            "one (CUDA_VISIBLE_DEVICES=0); or train one model per GPU, each with the one-GPU "
            f"settings (make train-reranker GPUS={visible_gpus}: the folds side by side); or one "
            f"model over all of them (make ... GPUS={visible_gpus} DISTRIBUTED=ddp|fsdp, i.e. "
            f"torchrun --nproc_per_node {visible_gpus} scripts/train_....py ...).")
