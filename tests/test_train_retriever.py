"""scripts/train_retriever.py's CLI on a tiny random BERT (CPU, seconds): it trains the
fold's rows with mined negatives and writes a complete model folder (no checkpoints, no temp
folder); --fold without --folds is a usage error."""

import json

import pandas as pd

import train_retriever
from conftest import MAPPING
from conftest import labelled_rows
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.ranking import ranking_from_scores
from eedi.registry import Retriever
from eedi.retrieval import embedding
from eedi.retrieval.tfidf import tfidf_scores

TEXTS = ["Adds fractions", "Subject: Angles\nWrong answer: 250", "3 - (-2)"]


def test_cli_trains_on_rows_outside_the_fold_with_mined_negatives(tmp_path, tiny_bert_dir, kaggle_dir, run_cli):
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    rows = wide_to_long(wide)  # with its unlabelled rows: the command drops them
    write_parquet(rows, tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    folds = pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"],
                          "fold": (rows["QuestionId"] != 10).astype(int)})  # fold 0: question 10
    write_parquet(folds, tmp_path / "folds.parquet")
    scores = tfidf_scores([query_text(r) for _, r in rows.iterrows()],
                                         MAPPING["MisconceptionName"].tolist())
    write_parquet(ranking_from_scores(rows["QuestionId_Answer"], MAPPING["MisconceptionId"],
                                                    scores, top_k=6), tmp_path / "neg.parquet")
    out = tmp_path / "models" / "fold0"
    result = run_cli(train_retriever.main, [
        "--model", tiny_bert_dir, "--train", tmp_path / "train.parquet",
        "--misconceptions", tmp_path / "mis.parquet", "--folds", tmp_path / "folds.parquet",
        "--fold", 0, "--negatives", tmp_path / "neg.parquet", "--n-negatives", 1,
        "--epochs", 1, "--batch-size", 4, "--loss", "cached-mnrl", "--mini-batch-size", 3,
        "--max-steps", 2, "--out", out])
    assert result.exit_code == 0, result.output

    stats = json.loads((out / "train.json").read_text())
    assert stats["pairs"] == 5  # labelled answers of questions 11 (2), 12 (1) and 13 (2)
    assert stats["steps"] == 2 and stats["fold"] == 0 and stats["n_negatives"] == 1
    assert stats["examples_per_second"] > 0
    assert not (tmp_path / "models" / "fold0.checkpoints").exists()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fold0"]  # no temp folder
    assert json.loads((out / Retriever.SPEC_FILE).read_text())["model"] == "./"
    spec = embedding.embedder_spec(str(out))
    assert spec.model == str(out) and spec.adapter is None and spec.epochs == 1
    assert (spec.loss, spec.batch_size, spec.mini_batch_size) == ("cached-mnrl", 4, 3)
    assert embedding.encode(embedding.load_embedder(spec), TEXTS, progress=False).shape == (3, 32)


def test_cli_fold_needs_folds(tmp_path, kaggle_dir, run_cli):
    write_parquet(labelled_rows(kaggle_dir), tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    result = run_cli(train_retriever.main, ["--train", tmp_path / "train.parquet", "--fold", 0,
                                            "--misconceptions", tmp_path / "mis.parquet",
                                            "--out", tmp_path / "out"])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_distributed_two_processes_train_like_one_at_the_same_batch(tmp_path, tiny_bert_dir, kaggle_dir):
    """torchrun --nproc_per_node 2 (gloo on CPU) with the same settings as one process: each
    process takes half of every batch one GPU would draw (share_of_batch, split_batches) and
    the loss gathers the other's documents as in-batch negatives, so the loss curve is the one
    process's (separately drawn half-batches held one misconception twice: 1.391 vs 1.334 at
    step 1); rank 0 alone writes the model folder."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    from transformers import AutoConfig
    config = AutoConfig.from_pretrained(tiny_bert_dir)  # dropout off: no masks drawn per process
    if config.hidden_dropout_prob or config.attention_probs_dropout_prob:
        shutil.copytree(tiny_bert_dir, tmp_path / "bert")
        config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
        config.save_pretrained(tmp_path / "bert")
        tiny_bert_dir = tmp_path / "bert"
    write_parquet(labelled_rows(kaggle_dir), tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    args = ["--model", tiny_bert_dir, "--train", tmp_path / "train.parquet",
            "--misconceptions", tmp_path / "mis.parquet", "--epochs", 1, "--batch-size", 2,
            "--loss", "mnrl", "--lr", 1e-3, "--max-steps", 3]  # 3 full batches of the 7 rows
    script = Path(train_retriever.__file__)
    torchrun = [Path(sys.executable).parent / "torchrun", "--nproc_per_node", 2, "--master_port", 29519]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    curves = {}
    for name, launcher in [("one", [sys.executable]), ("two", torchrun)]:
        done = subprocess.run([str(c) for c in [*launcher, script, *args, "--out", tmp_path / "models" / name]],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        stats = json.loads((tmp_path / "models" / name / "train.json").read_text())
        curves[name] = np.array(stats["loss_curve"])
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["one", "two"]
    assert len(curves["one"]) == 3 and curves["one"][0, 1] != curves["one"][-1, 1]
    np.testing.assert_allclose(curves["two"], curves["one"], rtol=1e-4)
