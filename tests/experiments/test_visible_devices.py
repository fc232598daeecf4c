"""Issue 38: a queue's job slots own their GPUs, and every process of a row sees only its
slot's: the row's make (CUDA_VISIBLE_DEVICES from run_row.py), its GPUS=n training jobs
(make -n shows each job's CUDA_VISIBLE_DEVICES) and its sharded steps (retrieve_embed.py's and
rerank.py's copies, eedi.sharding.gpu_groups). Before, a sharded step took GPUs 0..n-1 whatever
the slot: two rows landed on the same cards."""

import re
import shutil

import pytest
from conftest import make
from eedi.experiments.plan import slot_gpus
from eedi.sharding import gpu_groups

EIGHT = [str(g) for g in range(8)]


@pytest.mark.parametrize("jobs, gpus", [(4, 2), (2, 4)])
def test_slots_own_disjoint_gpus_and_sharded_steps_stay_on_them_visible_devices(jobs, gpus, monkeypatch):
    slots = {s: slot_gpus(EIGHT, s, gpus) for s in range(1, jobs + 1)}
    assert sorted(g for own in slots.values() for g in own) == EIGHT  # all 8, none twice
    for own in slots.values():
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(own))  # what run_row.py sets
        copies = gpu_groups(gpus)                                  # a sharded step's copies
        assert copies == own                                        # one GPU each, the slot's
        assert gpu_groups(gpus, per_copy=2) == [",".join(own[i:i + 2]) for i in range(0, gpus, 2)]


@pytest.mark.skipif(shutil.which("parallel") is None, reason="GNU parallel is not installed")
@pytest.mark.parametrize("jobs, gpus", [(4, 2), (2, 4)])
def test_a_rows_training_jobs_run_on_its_slots_gpus_visible_devices(tmp_path, jobs, gpus):
    """make -n train-retriever GPUS=n inside slot s: every job's CUDA_VISIBLE_DEVICES is one of
    the slot's GPUs, and together they use all of them."""
    import os
    for slot in (1, jobs):
        own = slot_gpus(EIGHT, slot, gpus)
        out = make(tmp_path, "-n", "train-retriever", f"GPUS={gpus}", retriever="minilm-ft",
                   env={**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(own)})
        assert out.returncode == 0, out.stderr[-2000:]
        placed = set(re.findall(r"CUDA_VISIBLE_DEVICES=(\S+) \S+ scripts/train_retriever\.py",
                                out.stdout))
        assert placed == set(own)


def test_a_sharded_step_refuses_more_gpus_than_its_slot_holds(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    with pytest.raises(ValueError, match="GPUS=4 but CUDA_VISIBLE_DEVICES=6,7 holds 2"):
        gpu_groups(4)
