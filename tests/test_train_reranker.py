"""scripts/train_reranker.py's CLI on a tiny random Llama (CPU, seconds): with either loss it
trains the rows outside the fold and writes a complete adapter folder with its spec and stats
(no checkpoints, no temp folder)."""

import json

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
