"""eedi.distributed: the process's place in a torchrun/accelerate run from RANK, LOCAL_RANK,
WORLD_SIZE (absent: a single process), and the refusal to train one process over several GPUs
(the Trainer's DataParallel would multiply the batch), which both trainers meet through
eedi.training_args.trainer_arguments."""

import click
import pytest
import torch

from eedi import distributed
from eedi.registry import Reranker
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
