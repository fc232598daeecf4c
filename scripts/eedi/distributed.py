"""Which process of a multi-process training run this is, from the variables torchrun and
accelerate set (RANK, LOCAL_RANK, WORLD_SIZE; absent: one process).

    if is_main_process():                 # rank 0 writes the model folder; the others only train
        save_model_folder(...)
    device_map = {"": local_rank()}        # this process's own GPU, before the Trainer picks it
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


def one_gpu_per_process(visible_gpus: int) -> None:
    """Refuse to train one process over several visible GPUs without a launcher: transformers'
    Trainer would wrap the model in DataParallel, multiply the batch by the GPU count (fewer,
    bigger optimiser steps than the registry's settings) and leave a 4-bit model on GPU 0."""
    import click

    if visible_gpus > 1 and world_size() == 1:
        raise click.ClickException(
            f"{visible_gpus} GPUs are visible to one training process; the Trainer would split "
            "every batch over them (DataParallel), not train with the registry's batch. Give it "
            "one (CUDA_VISIBLE_DEVICES=0), or one process per GPU with its share of the batch "
            f"(torchrun --nproc_per_node {visible_gpus} scripts/train_....py ...).")
