"""GPUS=n training: `make train-reranker GPUS=2` (and train-retriever) runs the folds and the
all-train model through GNU parallel, two at a time, each job on its own GPU
(CUDA_VISIBLE_DEVICES=<the job slot's GPU>) with the one-GPU settings; a failed fold leaves the
others running, and a re-run trains only what is missing.

The trainer is replaced by a stand-in interpreter (PY=) that records which job ran on which
GPU, when, and writes train.json; every other step runs for real on a small sample.
"""

import os
import re
import shutil
import stat
import sys

import pytest
from conftest import REPO, generate, make

pytestmark = pytest.mark.skipif(shutil.which("parallel") is None,
                                reason="GNU parallel is not installed (apt-get install parallel)")

FAKE_PY = """#!/usr/bin/env bash
# A stand-in for python: the trainers record their job and GPU and write train.json; every other
# script runs in the real interpreter.
case "$1" in
  scripts/train_reranker.py|scripts/train_retriever.py)
    fold=all; while [ $# -gt 0 ]; do case "$1" in --fold) fold=$2;; --out) out=$2;; esac; shift; done
    echo "$fold ${CUDA_VISIBLE_DEVICES-unset} start $(date +%s.%N)" >> "$JOBS_LOG"
    sleep 0.5
    if [ "$fold" = "${FAIL_FOLD-}" ]; then echo "$fold failed" >> "$JOBS_LOG"; exit 3; fi
    mkdir -p "$out" && echo '{}' > "$out/train.json"
    echo "$fold ${CUDA_VISIBLE_DEVICES-unset} end $(date +%s.%N)" >> "$JOBS_LOG";;
  *) exec "REAL_PY" "$@";;
esac
"""


@pytest.fixture
def fake_py(tmp_path):
    path = tmp_path / "python"
    path.write_text(FAKE_PY.replace("REAL_PY", sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def jobs(log) -> dict:
    """{job: [(gpu, start, end)]} from the stand-in's log."""
    runs, starts = {}, {}
    for line in log.read_text().splitlines():
        job, *rest = line.split()
        if rest == ["failed"]:
            continue
        gpu, what, when = rest
        if what == "start":
            starts[job] = (gpu, float(when))
        elif what == "end":
            runs.setdefault(job, []).append((gpu, starts[job][1], float(when)))
    return runs


def test_each_job_runs_alone_on_its_gpu_and_a_failed_fold_stops_only_itself(tmp_path, fake_py):
    data = generate(tmp_path / "data", seed=1)
    log = tmp_path / "jobs.log"
    env = {**os.environ, "JOBS_LOG": str(log), "FAIL_FOLD": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    args = ("train-reranker", "MODEL=smollm135m", "GPUS=2", f"DATA_DIR={data}")

    out = make(tmp_path, *args, py=fake_py, env=env)
    assert out.returncode != 0  # fold 1 failed, and make says so
    runs = jobs(log)
    assert sorted(runs) == ["0", "2", "3", "4", "all"]  # every other job finished
    assert "1 failed" in log.read_text()
    spans = [(gpu, start, end) for job in runs for gpu, start, end in runs[job]]
    assert {gpu for gpu, _, _ in spans} == {"0", "1"}
    for gpu in ("0", "1"):  # never two jobs on one GPU at once
        mine = sorted((s, e) for g, s, e in spans if g == gpu)
        assert all(end <= next_start for (_, end), (next_start, _) in zip(mine, mine[1:]))
    assert "1\t" in out.stdout + out.stderr  # output lines are tagged by job

    log.unlink()
    env.pop("FAIL_FOLD")
    out = make(tmp_path, *args, py=fake_py, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(jobs(log)) == ["1"]  # the re-run trains only the failed fold


def test_dry_run_shows_each_job_with_its_own_gpu(tmp_path):
    """make -n with GPUS=4: the six retriever jobs, the first four on GPUs 0-3, the last two on
    whichever slot frees first; GPU_IDS picks other devices."""
    def trainings(*args):
        out = make(tmp_path, "-n", *args, "GPUS=4", retriever="minilm-ft")
        assert out.returncode == 0, out.stderr[-2000:]
        # "<job>\tmake/once <locks> <target> env CUDA_VISIBLE_DEVICES=<gpu> <python> scripts/train_retriever.py ..."
        found = re.findall(r"^(\S+)\t.*CUDA_VISIBLE_DEVICES=(\S+) \S+ scripts/train_retriever\.py",
                           out.stdout, re.M)
        return dict(found)

    placed = trainings("train-retriever")
    assert sorted(placed) == ["0", "1", "2", "3", "4", "all"]
    assert set(placed.values()) <= {"0", "1", "2", "3"}
    assert len(set(placed.values())) == 4
    assert set(trainings("train-retriever", "GPU_IDS=4 5 6 7").values()) == {"4", "5", "6", "7"}


def test_one_gpu_one_job_and_distributed_runs_are_single_make_jobs(tmp_path):
    """GPUS=1, FOLD=k and DISTRIBUTED runs are one training each, no job slots."""
    def dry_run(*args):
        out = make(tmp_path, "-n", *args)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "parallel " not in out.stdout
        # (less the steps' manifests, make/freshness.py record, which name the scripts)
        return "".join(l for l in out.stdout.splitlines(keepends=True) if "make/freshness.py" not in l)

    assert "CUDA_VISIBLE_DEVICES" not in dry_run("train-reranker", "MODEL=smollm135m")
    one = dry_run("train-reranker", "MODEL=smollm135m", "GPUS=2", "FOLD=all")
    # (smollm135m~<key>: make() ranks with TF-IDF, not the default negatives' minilm-ft)
    assert one.count("scripts/train_reranker.py") == 1 and re.search(r"/smollm135m~\w{6}/all\n", one)
    # one training with several GPUs given (FOLD=k, or reached through make evaluate GPUS=2):
    # the first of them, never all (the trainer would refuse them)
    assert "CUDA_VISIBLE_DEVICES=0 " in one
    assert "CUDA_VISIBLE_DEVICES=6 " in dry_run("train-reranker", "MODEL=smollm135m", "GPUS=2",
                                                "FOLD=all", "GPU_IDS=6 7")

    # one model over the GPUs: torchrun, GPUS processes per machine
    ddp = dry_run("train-reranker", "MODEL=smollm135m", "GPUS=2", "DISTRIBUTED=ddp", "FOLD=0")
    assert "-m torch.distributed.run --nproc_per_node 2 --standalone scripts/train_reranker.py" in ddp
    assert "--fsdp" not in ddp
    fsdp = dry_run("train-reranker", "MODEL=smollm135m", "GPUS=8", "DISTRIBUTED=fsdp", "NNODES=2",
                   "NODE_RANK=1", "MASTER_ADDR=10.0.0.1", "FOLD=all")
    assert ("-m torch.distributed.run --nproc_per_node 8 --nnodes 2 --node_rank 1 "
            "--master_addr 10.0.0.1 --master_port 29500 scripts/train_reranker.py") in fsdp
    assert "--fsdp" in fsdp

    out = make(tmp_path, "-n", "train-retriever", "DISTRIBUTED=fsdp", "FOLD=0")
    assert out.returncode != 0 and "DISTRIBUTED=fsdp shards an LLM reranker" in out.stderr
    out = make(tmp_path, "-n", "train-reranker", "MODEL=smollm135m", "DISTRIBUTED=deepspeed")
    assert out.returncode != 0 and "DISTRIBUTED=deepspeed: ddp or fsdp" in out.stderr
