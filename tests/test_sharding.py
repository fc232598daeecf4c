"""eedi.sharding: GPUs in groups per copy, each copy's command line rebuilt from Click's parsed
options, and retrieve_embed.py --gpus 2 end to end on a tiny random BERT (two processes, a slice
of the rows each, CUDA_VISIBLE_DEVICES 0 and 1): the merged ranking is the single run's, the
shards are gone, the run log says which GPUs each copy had; a failing copy stops the stage
naming it and writes nothing; a doubled or missing row never merges silently."""

import json

import click
import pandas as pd
import pytest

import retrieve_embed
from conftest import MAPPING, ranking_of
from eedi.errors import DataError
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.ranking import merge_shards, read_ranking
from eedi.sharding import gpu_groups, shard_argv


def test_gpu_groups_per_copy(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_groups(2) == ["0", "1"]
    assert gpu_groups(4, per_copy=2) == ["0,1", "2,3"]
    assert gpu_groups(2, per_copy=2) == ["0,1"]  # qwen32b on 2x T4: one copy over both
    with pytest.raises(ValueError, match="GPUS=3 is not a multiple of the tensor parallel size 2"):
        gpu_groups(3, per_copy=2)


def test_a_copys_command_line_is_the_commands_own_options():
    @click.command()
    @click.option("--model")
    @click.option("--top-k", type=int, default=100)
    @click.option("--member", multiple=True)
    @click.option("--labelled-only", is_flag=True)
    @click.option("--gpus", type=int, default=1)
    @click.option("--shard", default="0/1")
    @click.option("--out")
    def command(**_):
        pass

    params = {"model": "m/fold{fold}", "top_k": 50, "member": ("a", "b"), "labelled_only": True,
              "gpus": 4, "shard": "0/1", "out": "x.parquet"}
    assert shard_argv(command, params, 1, 2, "x.parquet.shard1", top_k=30) == [
        "--model", "m/fold{fold}", "--top-k", "30", "--member", "a", "--member", "b",
        "--labelled-only", "--shard", "1/2", "--out", "x.parquet.shard1"]


@pytest.fixture
def queries(tmp_path, kaggle_dir):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    write_parquet(rows, tmp_path / "q.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    return rows


def embed(run_cli, tmp_path, model, out, *extra):
    return run_cli(retrieve_embed.main, [
        "--model", model, "--queries", tmp_path / "q.parquet", "--misconceptions",
        tmp_path / "mis.parquet", "--top-k", 25, "--cache-dir", tmp_path / "cache", "--out", out, *extra])


def test_retrieve_embed_on_two_gpus_merges_to_the_single_run(tmp_path, tiny_bert_dir, queries,
                                                             run_cli, monkeypatch):
    monkeypatch.setenv("RUN_LOG", str(tmp_path / "run_log.jsonl"))
    assert embed(run_cli, tmp_path, tiny_bert_dir, tmp_path / "one.parquet").exit_code == 0
    result = embed(run_cli, tmp_path, tiny_bert_dir, tmp_path / "two.parquet", "--gpus", 2)
    assert result.exit_code == 0, result.output
    one = read_ranking(tmp_path / "one.parquet").sort_values(["QuestionId_Answer", "rank"])
    two = read_ranking(tmp_path / "two.parquet")
    pd.testing.assert_frame_equal(two.reset_index(drop=True), one.reset_index(drop=True), atol=1e-6)
    assert not list(tmp_path.glob("two.parquet.shard*"))
    steps = [json.loads(line) for line in (tmp_path / "run_log.jsonl").read_text().splitlines()]
    copies = [s for s in steps if s["step"] == "retrieve_embed" and s.get("shard") != "0/1"]
    assert sorted(s["shard"] for s in copies) == ["0/2", "1/2"]
    assert sum(s["rows"] for s in copies) == len(queries)


def test_a_failing_copy_stops_the_stage_naming_it_and_writes_nothing(tmp_path, queries, run_cli):
    result = embed(run_cli, tmp_path, tmp_path / "no-such-model", tmp_path / "out.parquet", "--gpus", 2)
    assert result.exit_code == 1
    assert "copy 0/2 (GPUs 0) exited 1" in result.output and "copy 1/2 (GPUs 1) exited 1" in result.output
    assert not (tmp_path / "out.parquet").exists()


def test_shards_merge_only_when_every_row_is_in_exactly_one(tmp_path):
    ids = ["1_A", "1_B", "2_C", "3_D"]
    ranking = ranking_of({qa: [0, 1] for qa in ids})
    part = lambda rows: (tmp_path / f"{rows[0]}.parquet", ranking[ranking["QuestionId_Answer"].isin(rows)])
    merged = merge_shards([part(ids[2:]), part(ids[:2])], ids, tmp_path / "ref.parquet")
    assert merged["QuestionId_Answer"].tolist() == sorted(ranking["QuestionId_Answer"])
    with pytest.raises(DataError, match="row 2_C: row is also in shard"):
        merge_shards([part(ids[:3]), part(ids[2:])], ids, tmp_path / "ref.parquet")
    with pytest.raises(DataError, match="row 3_D: row is in none of the 2 shards"):
        merge_shards([part(ids[:2]), part(ids[2:3])], ids, tmp_path / "ref.parquet")
