"""scripts/rerank.py's CLI on a tiny random Llama (CPU, seconds): each fold is reranked by its
own adapter, --gpus 2 (two copies, a slice of the rows each, merged) gives the whole,
--labelled-only leaves the unlabelled rows in the retriever's order; a bad --shard, a --gpus
that is not a multiple of --tensor-parallel and query rows missing from --queries are errors
that write nothing."""

from pathlib import Path

import numpy as np
import pandas as pd

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

    # --gpus 2: two copies of rerank.py (CUDA_VISIBLE_DEVICES 0 and 1), each reranking half
    # the rows with the same per-fold adapters, merged into the same ranking
    merged = run_rerank(run_cli, data, str(tmp_path / "cv" / "fold{fold}"), tmp_path / "merged.parquet",
                        "--folds", data["folds"], "--gpus", 2)
    whole = per_fold.sort_values(["QuestionId_Answer", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged.reset_index(drop=True), whole, atol=1e-4)
    assert not list(tmp_path.glob("merged.parquet.shard*"))


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


def test_bad_shard_and_missing_query_rows_are_errors(tmp_path, spec, data, run_cli):
    bad = run_cli(rerank.main, ["--model", spec.model, "--ranking", data["ranking"], "--queries", data["train"],
                                "--misconceptions", data["mis"], "--shard", "2/2", "--out", tmp_path / "o.parquet"])
    assert bad.exit_code == 2 and "expected i/n" in bad.output
    odd = run_cli(rerank.main, ["--model", spec.model, "--ranking", data["ranking"], "--queries", data["train"],
                                "--misconceptions", data["mis"], "--gpus", 3, "--tensor-parallel", 2,
                                "--out", tmp_path / "o.parquet"])
    assert odd.exit_code == 2 and "GPUS=3 is not a multiple of the tensor parallel size 2" in odd.output
    rows = pd.read_parquet(data["train"])
    write_parquet(rows.iloc[1:], tmp_path / "fewer.parquet")
    missing = run_cli(rerank.main, ["--model", spec.model, "--ranking", data["ranking"],
                                    "--queries", tmp_path / "fewer.parquet", "--misconceptions", data["mis"],
                                    "--out", tmp_path / "o.parquet"])
    assert missing.exit_code == 1 and rows["QuestionId_Answer"].iloc[0] in missing.output
    assert not (tmp_path / "o.parquet").exists()


# A rerank.py whose scorer takes 0.4 s a chunk, so a test can kill it between chunks.
SLOW_RERANK = r"""
import sys, time
import eedi.rerank.reranking as reranking
real = reranking.hf_scorer
def slow(pairs_per_batch):
    score = real(pairs_per_batch)
    def wrapped(spec, rows, prompts):
        time.sleep(0.4)
        return score(spec, rows, prompts)
    return wrapped
reranking.hf_scorer = slow
import rerank
rerank.hf_scorer = slow
rerank.main(sys.argv[1:])
"""


def test_a_killed_rerank_resumes_from_its_finished_chunks_and_equals_an_uninterrupted_run(tmp_path, spec, data, run_cli):
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[1]
    args = ["--model", spec.model, "--ranking", data["ranking"], "--queries", data["train"],
            "--misconceptions", data["mis"], "--top-n", 3, "--chunk-rows", 2]
    whole = tmp_path / "whole.parquet"
    assert run_cli(rerank.main, [*args, "--out", whole]).exit_code == 0
    assert not (tmp_path / "whole.parquet.parts").exists()  # cleared once OUT is written

    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    env = {**os.environ, "PYTHONPATH": str(repo / "scripts")}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RERANK, *map(str, args), "--out", str(out)],
                            env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(parts.glob("*.parquet"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in parts.glob("*.parquet"))
    n_rows = read_ranking(data["ranking"])["QuestionId_Answer"].nunique()
    assert 2 <= len(finished) < -(-n_rows // 2) and not out.exists(), finished  # killed mid-way

    # --partial: OUT from the finished chunks alone (the notebook's stage timeout), no model
    # loaded; their rows as the uninterrupted run ranks them, the rest in the retriever's order
    partial = tmp_path / "partial.parquet"
    import shutil
    shutil.copytree(parts, tmp_path / "partial.parquet.parts")
    real_scorer = rerank.hf_scorer
    rerank.hf_scorer = lambda *a: (_ for _ in ()).throw(AssertionError("--partial scored"))
    try:
        assert run_cli(rerank.main, [*args, "--partial", "--out", partial]).exit_code == 0
    finally:
        rerank.hf_scorer = real_scorer
    got, want, original = read_ranking(partial), read_ranking(whole), read_ranking(data["ranking"])
    done_rows = set(pd.concat(pd.read_parquet(p) for p in parts.glob("*.parquet"))["QuestionId_Answer"])
    assert len(done_rows) == 2 * len(finished)
    def order(df, rows):
        df = df[df["QuestionId_Answer"].isin(rows)].sort_values(["QuestionId_Answer", "rank"])
        return df.groupby("QuestionId_Answer")["MisconceptionId"].apply(list).to_dict()
    assert order(got, done_rows) == order(want, done_rows)
    rest = set(original["QuestionId_Answer"]) - done_rows
    assert order(got, rest) == order(original, rest) != order(want, rest)
    assert (tmp_path / "partial.parquet.parts").is_dir()  # kept: a later full run resumes

    scored = []
    real = rerank.hf_scorer

    def counting(pairs_per_batch):
        score = real(pairs_per_batch)
        def wrapped(spec_, rows, prompts):
            scored.append(len(rows))
            return score(spec_, rows, prompts)
        return wrapped
    rerank.hf_scorer = counting
    try:
        assert run_cli(rerank.main, [*args, "--out", out]).exit_code == 0
    finally:
        rerank.hf_scorer = real
    assert sum(scored) == n_rows - 2 * len(finished)  # only the missing chunks were scored
    pd.testing.assert_frame_equal(read_ranking(out), read_ranking(whole))
    assert not parts.exists()


def test_parts_of_a_run_with_other_settings_are_never_reused(tmp_path, spec, data, run_cli):
    from eedi.rerank.reranking import ChunkStore
    store = ChunkStore(tmp_path / "x.parts", {"top_n": 3})
    store.save("all-00000", ["a", "b"], [np.array([1.0, 2.0]), np.array([3.0])])
    again = ChunkStore(tmp_path / "x.parts", {"top_n": 3})
    got = again.load("all-00000", ["a", "b"])
    assert [g.tolist() for g in got] == [[1.0, 2.0], [3.0]]
    assert again.load("all-00000", ["a", "c"]) is None  # other rows: not this chunk
    other = ChunkStore(tmp_path / "x.parts", {"top_n": 5})
    assert other.load("all-00000", ["a", "b"]) is None


def test_a_listwise_adapter_from_the_cli_reranks_each_rows_top_n_by_sliding_windows(tmp_path, spec, data, run_cli):
    """train_reranker.py --reranking listwise writes an adapter whose reranker.json says so;
    rerank.py reorders each row's top 4 with it (windows of 3, 2 apart, both orders): the
    same candidates, in the order eedi.rerank.listwise_scoring.rerank_rows gives row by row,
    scores falling with rank; the retriever's ranks 5-6 stay where they were."""
    import json
    from eedi.long_table import misconception_names
    from eedi.rerank.listwise_scoring import label_logits_prefix_reuse, rerank_rows
    from eedi.rerank.prompt import prompt_builder
    from eedi.rerank.reranker import load_model, load_tokenizer, reranker_spec

    folder = tmp_path / "list" / "all"
    result = run_cli(train_reranker.main, [
        "--model", spec.model, "--train", data["train"], "--misconceptions", data["mis"],
        "--negatives", data["ranking"], "--reranking", "listwise", "--window", 3, "--stride", 2,
        "--n-negatives", 2, "--negative-ranks", "1:6", "--batch-size", 2, "--max-steps", 3,
        "--lr", "0.01", "--max-length", 384, "--out", folder])
    assert result.exit_code == 0, result.output
    stats = json.loads((folder / "train.json").read_text())
    assert (stats["reranking"], stats["group_size"], stats["loss"]) == ("listwise", 3, "label-ce")
    trained = reranker_spec(str(folder))
    assert trained.listwise and (trained.window, trained.stride, trained.both_orders) == (3, 2, True)

    got = run_rerank(run_cli, data, str(folder), tmp_path / "list.parquet")
    original = read_ranking(data["ranking"])
    def order(df):
        df = df.sort_values(["QuestionId_Answer", "rank"])
        return df.groupby("QuestionId_Answer")["MisconceptionId"].apply(list).to_dict()
    got_order, was = order(got), order(original)
    assert got_order.keys() == was.keys()
    queries = pd.read_parquet(data["train"]).set_index("QuestionId_Answer", drop=False)
    names = misconception_names(data["mis"])
    prompts = prompt_builder(trained, load_tokenizer(trained))
    model = load_model(trained)
    rows = sorted(was)
    items = [(queries.loc[qa], [names[m] for m in was[qa][:4]]) for qa in rows]
    expected = rerank_rows(items, prompts, trained, lambda groups, sizes: label_logits_prefix_reuse(
        model, groups, prompts.label_ids, prompts.pad_id, sizes))
    for qa, scores in zip(rows, expected):
        assert got_order[qa][:4] == [was[qa][i] for i in np.argsort(-scores, kind="stable")]
        assert got_order[qa][4:] == was[qa][4:]
    assert any(got_order[qa][:4] != was[qa][:4] for qa in rows)   # it did reorder some
    for _, g in got.groupby("QuestionId_Answer"):
        assert g.sort_values("rank")["score"].is_monotonic_decreasing
