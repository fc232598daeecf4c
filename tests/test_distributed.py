"""eedi.distributed: the process's place in a torchrun/accelerate run from RANK, LOCAL_RANK,
WORLD_SIZE (absent: a single process), and the refusal to train one process over several GPUs
(the Trainer's DataParallel would multiply the batch), which both trainers meet through
eedi.training_args.trainer_arguments."""

import click
import pytest
import torch

from eedi import distributed
from eedi.registry import RERANKERS, Reranker
from eedi.training_args import trainer_arguments


@pytest.fixture
def single(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_a_single_process_is_the_main_one_on_gpu_0(single):
    assert distributed.world_size() == 1 and distributed.is_main_process()
    assert distributed.local_rank() == 0


def test_under_torchrun_rank_and_gpu_come_from_its_variables(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")  # 2 machines x 2 GPUs: the 2nd GPU of the 2nd
    assert distributed.world_size() == 4 and not distributed.is_main_process()
    assert distributed.local_rank() == 1


def test_distributed_launcher_needed_for_several_visible_gpus(single, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    with pytest.raises(click.ClickException, match="8 GPUs are visible to one training process"
                       ) as error:
        trainer_arguments(Reranker(model="m"), tmp_path, -1, 0, 5, 1)
    assert "CUDA_VISIBLE_DEVICES=0" in error.value.message
    assert "torchrun --nproc_per_node 8" in error.value.message
    monkeypatch.setenv("WORLD_SIZE", "8")  # one process per GPU: allowed
    distributed.one_gpu_per_process(8)
    monkeypatch.delenv("WORLD_SIZE")
    distributed.one_gpu_per_process(1)


def test_processes_share_the_one_gpu_update():
    """world processes x (batch, accumulation) = the spec's batch x accumulation; accumulation
    is divided first, so each process keeps the registry's micro-batch (and memory)."""
    for batch, accum, world in [(1, 16, 2), (1, 16, 8), (2, 8, 4), (16, 1, 2), (8, 2, 8), (32, 1, 8),
                                (4, 3, 2), (1, 1, 1)]:
        each, steps = distributed.share_of_batch(batch, accum, world)
        assert each * steps * world == batch * accum and each <= batch
        if accum % world == 0:
            assert each == batch
    assert distributed.share_of_batch(1, 16, 2) == (1, 8)  # qwen32b on 2 GPUs
    with pytest.raises(click.ClickException, match="does not split over 2 processes"):
        distributed.share_of_batch(1, 1, 2)
    with pytest.raises(click.ClickException, match="does not split over 4 processes"):
        distributed.share_of_batch(3, 2, 4)


def test_trainer_reads_one_gpu_batches_and_splits_them(single, monkeypatch, tmp_path):
    spec = RERANKERS["qwen32b"]  # batch 1 x 16 accumulation steps, LoRA
    assert (spec.batch_size, spec.grad_accum) == (1, 16) and spec.lora
    args = trainer_arguments(spec, tmp_path, -1, 0, 5, 1)
    assert (args["per_device_train_batch_size"], args["gradient_accumulation_steps"]) == (1, 16)
    assert "accelerator_config" not in args and "fsdp" not in args
    monkeypatch.setenv("WORLD_SIZE", "2")
    args = trainer_arguments(spec, tmp_path, -1, 0, 5, 1, fsdp=True)
    # the loader draws 2 groups, one for each process, 8 times an update: 16 groups, as on 1 GPU
    assert (args["per_device_train_batch_size"], args["gradient_accumulation_steps"]) == (2, 8)
    assert args["accelerator_config"] == {"split_batches": True}
    assert args["fsdp"] == "full_shard auto_wrap"
    assert args["fsdp_config"]["use_orig_params"] is False  # peft's FSDP-QLoRA settings
    assert args["ddp_find_unused_parameters"] is False  # LoRA: every trainable weight is used


def test_sharded_4bit_weights_are_stored_in_the_compute_dtype():
    from eedi.model_folder import nf4_config
    assert nf4_config(torch.bfloat16).bnb_4bit_quant_storage == torch.uint8
    assert nf4_config(torch.bfloat16, sharded=True).bnb_4bit_quant_storage == torch.bfloat16
