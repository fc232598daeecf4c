"""scripts/train_reranker.py's CLI on a tiny random Llama (CPU, seconds): with either loss it
trains the rows outside the fold and writes a complete adapter folder with its spec and stats
(no checkpoints, no temp folder)."""

import json

import numpy as np
import pytest

import train_reranker
from eedi.registry import Reranker


@pytest.mark.parametrize("loss", ["group", "bce"])
def test_cli_trains_on_rows_outside_the_fold(tmp_path, tiny_llama_dir, data, run_cli, loss):
    out = tmp_path / "models" / "fold0"
    result = run_cli(train_reranker.main, [
        "--model", tiny_llama_dir, "--train", data["train"], "--misconceptions", data["mis"],
        "--negatives", data["ranking"], "--folds", data["folds"], "--fold", 0, "--n-negatives", 2,
        "--negative-ranks", "1:6", "--loss", loss, "--batch-size", 2, "--max-steps", 2,
        "--max-length", 192, "--out", out])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "train.json").read_text())
    assert stats["groups"] == 3  # labelled answers of questions 12 (1) and 13 (2)
    assert stats["group_size"] == 3 and stats["loss"] == loss and stats["steps"] == 2
    assert stats["pairs_per_second"] > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["fold0"]  # no checkpoints, no temp
    saved = json.loads((out / Reranker.SPEC_FILE).read_text())
    assert saved["adapter"] == "./" and saved["loss"] == loss and saved["n_negatives"] == 2


@pytest.mark.parametrize("batch_size, grad_accum", [(2, 1), (1, 2)])
def test_distributed_two_processes_train_like_one_at_the_same_global_batch(
        tmp_path, tiny_llama_dir, data, batch_size, grad_accum):
    """torchrun --nproc_per_node 2 (gloo on CPU) and one process with the same settings: the
    processes share each update's groups (eedi.distributed.share_of_batch: batch 2 -> 1 group
    each; batch 1 x 2 accumulation steps -> 1 step each, as qwen32b's 1 x 16 becomes 1 x 8 on
    2 GPUs), so the same optimiser steps over the same groups, the same loss at step 1 and,
    after the first update, at step 2; one model folder, written by rank 0 alone (every rank
    used to write it: FileExistsError on the temp folder). Only two steps: from step 3 on,
    Adam's first updates of LoRA's A (its gradient is 0 while B is 0) turn float noise into
    full-size steps, in one process with accumulation as well."""
    import subprocess
    import sys
    from pathlib import Path

    args = ["--model", tiny_llama_dir, "--train", data["train"], "--misconceptions", data["mis"],
            "--negatives", data["ranking"], "--n-negatives", 2, "--negative-ranks", "1:6",
            "--max-steps", 2, "--max-length", 192, "--lr", 5e-3,
            "--batch-size", batch_size, "--grad-accum", grad_accum]
    torchrun = Path(sys.executable).parent / "torchrun"
    script = Path(train_reranker.__file__)
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    runs = {1: [sys.executable, script, *args, "--out", tmp_path / "models" / "one"],
            2: [torchrun, "--nproc_per_node", 2, "--master_port", 29517, script, *args,
                "--out", tmp_path / "models" / "two"]}
    stats = {}
    for n, command in runs.items():
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        stats[n] = json.loads((tmp_path / "models" / ("one", "two")[n - 1] / "train.json").read_text())
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["one", "two"]  # no temp
    assert stats[2]["steps"] == stats[1]["steps"] == 2 and stats[2]["groups"] == stats[1]["groups"]
    one, two = (np.array(stats[n]["loss_curve"]) for n in (1, 2))
    assert one[1, 1] != one[0, 1]  # the first update moved the loss
    np.testing.assert_allclose(two, one, rtol=1e-4)
