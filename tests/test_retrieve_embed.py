"""scripts/retrieve_embed.py's CLI on a tiny random BERT: out-of-fold ranking ranks each fold
with its own model ("fold{fold}" + --folds), and a fold pattern without --folds (or --folds
without one) is a usage error that writes nothing."""

import shutil

import numpy as np
import pandas as pd
import torch
from transformers import BertModel

import retrieve_embed
from conftest import MAPPING
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import read_ranking


def test_cli_out_of_fold_ranks_each_fold_with_its_own_model(tmp_path, tiny_bert_dir, kaggle_dir, run_cli):
    shutil.copytree(tiny_bert_dir, tmp_path / "m/fold0")
    shutil.copytree(tiny_bert_dir, tmp_path / "m/fold1")
    torch.manual_seed(1)  # fold 1: the same architecture, other random weights
    BertModel(BertModel.from_pretrained(tiny_bert_dir).config).save_pretrained(tmp_path / "m/fold1")
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    fold = (rows["QuestionId"] >= 12).astype(int)  # questions 10, 11: fold 0; 12, 13: fold 1
    write_parquet(pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"], "fold": fold}),
                         tmp_path / "folds.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")

    def rank(model, part, folds=()):
        write_parquet(part, tmp_path / "q.parquet")
        result = run_cli(retrieve_embed.main, [
            "--model", tmp_path / model, "--queries", tmp_path / "q.parquet", *folds,
            "--misconceptions", tmp_path / "mis.parquet", "--top-k", 25,
            "--cache-dir", tmp_path / "cache", "--out", tmp_path / "r.parquet"])
        assert result.exit_code == 0, result.output
        return read_ranking(tmp_path / "r.parquet")

    oof = rank("m/fold{fold}", rows, ["--folds", tmp_path / "folds.parquet"])
    assert sorted(oof["QuestionId_Answer"].unique()) == sorted(rows["QuestionId_Answer"])
    assert (oof.groupby("QuestionId_Answer").size() == len(MAPPING)).all()
    for k in (0, 1):
        alone = rank(f"m/fold{k}", rows[fold == k])
        got = oof[oof["QuestionId_Answer"].isin(rows.loc[fold == k, "QuestionId_Answer"])]
        pd.testing.assert_frame_equal(got.reset_index(drop=True), alone, rtol=1e-6)
    other = rank("m/fold0", rows[fold == 1])  # the test can tell the two models apart
    assert not np.allclose(other["score"], oof.loc[oof["QuestionId_Answer"].isin(
        rows.loc[fold == 1, "QuestionId_Answer"]), "score"], atol=1e-4)


def test_cli_fold_pattern_and_folds_go_together(tmp_path, kaggle_dir, run_cli):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    write_parquet(rows, tmp_path / "q.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    write_parquet(rows[["QuestionId_Answer"]].assign(fold=0), tmp_path / "folds.parquet")
    base = ["--queries", tmp_path / "q.parquet", "--misconceptions", tmp_path / "mis.parquet",
            "--out", tmp_path / "r.parquet"]
    assert run_cli(retrieve_embed.main, ["--model", tmp_path / "m/fold{fold}", *base]).exit_code == 2
    assert run_cli(retrieve_embed.main, ["--model", "minilm", "--folds", tmp_path / "folds.parquet",
                                         *base]).exit_code == 2
    assert not (tmp_path / "r.parquet").exists()


def test_outside_fold_ranks_a_fold_models_own_training_rows(tmp_path, tiny_bert_dir, kaggle_dir, run_cli):
    """--outside-fold K: only the rows of the other folds, ranked by the one MODEL (round-2
    mining); it needs --folds, and K must be a fold."""
    import pandas as pd

    import retrieve_embed
    from conftest import MAPPING
    from eedi.files import write_parquet
    from eedi.kaggle_csv import read_questions_csv
    from eedi.long_table import wide_to_long
    from eedi.ranking import ranking_models, read_ranking
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    write_parquet(rows, tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    folds = pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"], "QuestionId": rows["QuestionId"],
                          "fold": (rows["QuestionId"] % 2).to_numpy()})
    write_parquet(folds, tmp_path / "folds.parquet")
    base = ["--model", tiny_bert_dir, "--queries", tmp_path / "train.parquet", "--misconceptions",
            tmp_path / "mis.parquet", "--top-k", 25, "--cache-dir", tmp_path / "cache"]
    result = run_cli(retrieve_embed.main, [*base, "--folds", tmp_path / "folds.parquet",
                                           "--outside-fold", 1, "--out", tmp_path / "mined.parquet"])
    assert result.exit_code == 0, result.output
    mined = read_ranking(tmp_path / "mined.parquet")
    assert set(mined["QuestionId_Answer"]) == set(folds.loc[folds["fold"] != 1, "QuestionId_Answer"])
    assert ranking_models(tmp_path / "mined.parquet") == str(tiny_bert_dir)
    no_folds = run_cli(retrieve_embed.main, [*base, "--outside-fold", 1, "--out", tmp_path / "x.parquet"])
    assert no_folds.exit_code == 2 and "--outside-fold needs --folds" in no_folds.output
    bad = run_cli(retrieve_embed.main, [*base, "--folds", tmp_path / "folds.parquet", "--outside-fold", 7,
                                        "--out", tmp_path / "x.parquet"])
    assert bad.exit_code == 2 and "no fold 7" in bad.output and not (tmp_path / "x.parquet").exists()


def test_a_run_without_4bit_weights_prints_no_bitsandbytes_kernel_warning(tmp_path):
    """peft imports bitsandbytes, which on an AVX512-BF16 CPU warned at every start that it
    could not fetch a 4-bit kernel from the Hub (make all printed it for MiniLM). Silenced in
    eedi/__init__.py. (On a CPU without AVX512-BF16 it never printed.)"""
    import subprocess
    import sys

    from conftest import REPO
    out = subprocess.run([sys.executable, str(REPO / "scripts/retrieve_embed.py"), "--help"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "retrieve" in out.stdout.lower()
    assert "gemm_4bit_forward" not in out.stderr and "kernels" not in out.stderr
