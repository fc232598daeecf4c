"""scripts/rerank.py and merge_rankings.py's CLIs on a tiny random Llama (CPU, seconds): each
fold is reranked by its own adapter, shards merge to the whole, --labelled-only leaves the
unlabelled rows in the retriever's order; doubled or missing shard rows, a bad --shard and
query rows missing from --queries are errors that write nothing."""

from pathlib import Path

import numpy as np
import pandas as pd

import merge_rankings
import rerank
import train_reranker
from eedi.files import write_parquet
from eedi.ranking import read_ranking


def train_adapter(folder: Path, spec, data, fold, run_cli, seed):
    result = run_cli(train_reranker.main, [
        "--model", spec.model, "--train", data["train"], "--misconceptions", data["mis"],
        "--negatives", data["ranking"], "--folds", data["folds"], "--fold", fold, "--n-negatives", 2,
        "--negative-ranks", "1:6", "--batch-size", 2, "--max-steps", 3, "--lr", "0.01",
        "--max-length", 192, "--seed", seed, "--out", folder])
    assert result.exit_code == 0, result.output


def run_rerank(run_cli, data, model, out, *extra):
    result = run_cli(rerank.main, ["--model", model, "--ranking", data["ranking"],
                                   "--queries", data["train"], "--misconceptions", data["mis"],
                                   "--top-n", 4, "--out", out, *extra])
    assert result.exit_code == 0, result.output
    return read_ranking(out)


def test_each_fold_is_reranked_by_its_own_adapter_and_shards_merge_to_the_whole(tmp_path, spec, data, run_cli):
    for fold in (0, 1):
        train_adapter(tmp_path / "cv" / f"fold{fold}", spec, data, fold, run_cli, seed=fold)
    per_fold = run_rerank(run_cli, data, str(tmp_path / "cv" / "fold{fold}"), tmp_path / "oof.parquet",
                          "--folds", data["folds"])
    original = read_ranking(data["ranking"])
    assert len(per_fold) == len(original)
    folds = pd.read_parquet(data["folds"]).set_index("QuestionId_Answer")["fold"]
    for fold in (0, 1):
        alone = run_rerank(run_cli, data, str(tmp_path / "cv" / f"fold{fold}"), tmp_path / f"f{fold}.parquet")
        rows = folds.index[folds == fold]
        got = per_fold[per_fold["QuestionId_Answer"].isin(rows)].reset_index(drop=True)
        want = alone[alone["QuestionId_Answer"].isin(rows)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, atol=1e-4)
    other = run_rerank(run_cli, data, str(tmp_path / "cv" / "fold1"), tmp_path / "o.parquet")
    rows0 = folds.index[folds == 0]
    assert not np.allclose(other[other["QuestionId_Answer"].isin(rows0)]["score"],
                           per_fold[per_fold["QuestionId_Answer"].isin(rows0)]["score"])

    shards = [run_rerank(run_cli, data, str(tmp_path / "cv" / "fold{fold}"),
                         tmp_path / f"shard{i}.parquet", "--folds", data["folds"], "--shard", f"{i}/2")
              for i in range(2)]
    assert set(shards[0]["QuestionId_Answer"]).isdisjoint(shards[1]["QuestionId_Answer"])
    result = run_cli(merge_rankings.main, ["--shard", tmp_path / "shard0.parquet",
                                           "--shard", tmp_path / "shard1.parquet",
                                           "--reference", data["ranking"], "--out", tmp_path / "merged.parquet"])
    assert result.exit_code == 0, result.output
    merged = read_ranking(tmp_path / "merged.parquet")
    whole = per_fold.sort_values(["QuestionId_Answer", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged.reset_index(drop=True), whole, atol=1e-4)


def test_labelled_only_leaves_unlabelled_rows_in_retriever_order(tmp_path, spec, data, run_cli):
    out = run_rerank(run_cli, data, spec.model, tmp_path / "out.parquet", "--labelled-only")
    original = read_ranking(data["ranking"])
    rows = pd.read_parquet(data["train"])
    unlabelled = rows.loc[rows["MisconceptionId"].isna(), "QuestionId_Answer"]
    for frame in (out, original):
        frame.sort_values(["QuestionId_Answer", "rank"], inplace=True)
    keep = lambda f: f[f["QuestionId_Answer"].isin(unlabelled)].reset_index(drop=True)
    assert len(keep(original)) > 0
    pd.testing.assert_frame_equal(keep(out), keep(original))
    assert not np.allclose(out["score"], original["score"])  # the labelled rows were rescored


def test_merge_refuses_missing_and_doubled_rows(tmp_path, data, run_cli):
    ranking = read_ranking(data["ranking"])
    ids = sorted(ranking["QuestionId_Answer"].unique())
    write_parquet(ranking[ranking["QuestionId_Answer"].isin(ids[:3])], tmp_path / "a.parquet")
    write_parquet(ranking[ranking["QuestionId_Answer"].isin(ids[2:])], tmp_path / "b.parquet")
    write_parquet(ranking[ranking["QuestionId_Answer"].isin(ids[3:-1])], tmp_path / "c.parquet")
    args = ["--reference", data["ranking"], "--out", tmp_path / "out.parquet"]
    doubled = run_cli(merge_rankings.main, ["--shard", tmp_path / "a.parquet", "--shard", tmp_path / "b.parquet", *args])
    assert doubled.exit_code == 1 and f"row {ids[2]}: row is also in shard" in doubled.output
    missing = run_cli(merge_rankings.main, ["--shard", tmp_path / "a.parquet", "--shard", tmp_path / "c.parquet", *args])
    assert missing.exit_code == 1 and f"row {ids[-1]}: row is in none of the 2 shards" in missing.output
    assert not (tmp_path / "out.parquet").exists()


def test_bad_shard_and_missing_query_rows_are_errors(tmp_path, spec, data, run_cli):
    bad = run_cli(rerank.main, ["--model", spec.model, "--ranking", data["ranking"], "--queries", data["train"],
                                "--misconceptions", data["mis"], "--shard", "2/2", "--out", tmp_path / "o.parquet"])
    assert bad.exit_code == 2 and "expected i/n" in bad.output
    rows = pd.read_parquet(data["train"])
    write_parquet(rows.iloc[1:], tmp_path / "fewer.parquet")
    missing = run_cli(rerank.main, ["--model", spec.model, "--ranking", data["ranking"],
                                    "--queries", tmp_path / "fewer.parquet", "--misconceptions", data["mis"],
                                    "--out", tmp_path / "o.parquet"])
    assert missing.exit_code == 1 and rows["QuestionId_Answer"].iloc[0] in missing.output
    assert not (tmp_path / "o.parquet").exists()
