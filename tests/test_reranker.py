"""The LLM reranker on a tiny random Llama with SmolLM2's tokenizer and chat template (CPU,
seconds): prompt layout and truncation, the single-token check, prefix-reuse parity with naive
scoring, LoRA training that lowers the loss and reloads identically, and rerank.py's per-fold
adapters, sharding and merge."""

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
import torch

import merge_rankings
import rerank
import train_reranker
from conftest import MAPPING
from eedi.registry import RERANKERS, Reranker
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.prompt import INSTRUCTION
from eedi.prompt import PromptBuilder
from eedi.prompt import TASK
from eedi.prompt import yes_no_ids
from eedi.ranking import ranking_from_scores
from eedi.ranking import read_ranking
from eedi.ranking import reorder_top
from eedi.reranker import load_model
from eedi.reranker import load_tokenizer
from eedi.reranker import reranker_spec
from eedi.reranker_training import GroupCollator
from eedi.reranker_training import YesNoTrainer
from eedi.reranker_training import train as fit_reranker
from eedi.reranker_training import training_groups
from eedi.tfidf import tfidf_scores
from eedi.model_folder import save_model_folder
from eedi.negatives import top_up
from eedi.yes_no_scoring import prefix_reuse_margin
from eedi.yes_no_scoring import score_naive
from eedi.yes_no_scoring import score_prefix_reuse
from eedi.yes_no_scoring import yes_no_margin

NAMES = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
ROW = {"QuestionId_Answer": "10_B", "SubjectName": "Fractions", "ConstructName": "Add fractions",
       "QuestionText": r"\( \frac{1}{3}+\frac{1}{4} \)", "CorrectAnswerText": r"\( \frac{7}{12} \)",
       "AnswerText": r"\( \frac{2}{7} \)"}
TINY_LORA = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])


@pytest.fixture(scope="module")
def spec(tiny_llama_dir) -> Reranker:
    return Reranker(model=str(tiny_llama_dir), lora=TINY_LORA, max_length=192,
                    gradient_checkpointing=False, batch_size=2, grad_accum=1, lr=5e-3,
                    n_negatives=2, negative_ranks="1:6", top_n=4)


@pytest.fixture(scope="module")
def prompts(spec) -> PromptBuilder:
    return PromptBuilder(load_tokenizer(spec), spec.max_length)


@pytest.fixture
def data(tmp_path, kaggle_dir) -> dict:
    """train_long (all rows), misconceptions, a TF-IDF ranking (top 6) and two folds."""
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    paths = {k: tmp_path / f"{k}.parquet" for k in ("train", "mis", "ranking", "folds")}
    write_parquet(rows, paths["train"])
    write_parquet(MAPPING, paths["mis"])
    scores = tfidf_scores([query_text(r) for _, r in rows.iterrows()],
                                         MAPPING["MisconceptionName"].tolist())
    write_parquet(ranking_from_scores(rows["QuestionId_Answer"], MAPPING["MisconceptionId"],
                                                    scores, top_k=6), paths["ranking"])
    write_parquet(pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"],
                                       "fold": (rows["QuestionId"] >= 12).astype(int)}), paths["folds"])
    return paths


def decode(prompts, ids) -> str:
    return prompts.tokenizer.decode(ids)


# ------------------------------------------------------------------------------------- prompt

def test_prompt_puts_question_first_then_candidate_then_instruction(prompts):
    prefix, [suffix] = prompts.encode(ROW, [NAMES[0]])
    text = decode(prompts, prefix + suffix)
    assert text == prompts.text(ROW, NAMES[0])  # the pieces join to the documented prompt
    order = [text.index(s) for s in (TASK, "Subject: Fractions", r"\frac{1}{3}",
                                     "Wrong answer:", NAMES[0], INSTRUCTION)]
    assert order == sorted(order)
    assert decode(prompts, prefix).endswith("Misconception:")  # everything before is shared
    assert NAMES[0] not in decode(prompts, prefix)
    assert text.startswith("<|im_start|>") and text.endswith("<|im_start|>assistant\n")


def test_every_candidate_of_a_row_shares_the_prefix(prompts):
    prefix, suffixes = prompts.encode(ROW, [NAMES[0], NAMES[3]])
    for name, suffix in zip([NAMES[0], NAMES[3]], suffixes):
        alone_prefix, [alone] = prompts.encode(ROW, [name])
        assert alone_prefix == prefix and alone == suffix


def test_truncation_cuts_only_the_question(prompts):
    long_row = dict(ROW, QuestionText="Work out the value of this long expression " * 40)
    builder = PromptBuilder(prompts.tokenizer, max_length=140)
    prefix, suffixes = builder.encode(long_row, [NAMES[0], NAMES[1]])
    assert max(len(prefix) + len(s) for s in suffixes) == 140
    head = decode(builder, prefix)
    for kept in ("Subject: Fractions", "Construct: Add fractions", "Correct answer:",
                 r"Wrong answer: \( \frac{2}{7} \)", "Misconception:"):
        assert kept in head
    assert head.count("long expression") < 40
    assert NAMES[1] in decode(builder, suffixes[1]) and INSTRUCTION in decode(builder, suffixes[1])


def test_very_long_answers_are_cut_when_the_question_is_not_enough(prompts):
    row = dict(ROW, QuestionText="Short?", AnswerText="a very long wrong answer " * 30)
    builder = PromptBuilder(prompts.tokenizer, max_length=150)
    prefix, [suffix] = builder.encode(row, [NAMES[0]])
    assert len(prefix) + len(suffix) == 150
    head = decode(builder, prefix)
    assert "Short?" not in head and "Wrong answer: a very long" in head
    assert head.endswith("Misconception:") and NAMES[0] in decode(builder, suffix)


def test_too_short_max_length_is_a_clear_error(prompts):
    builder = PromptBuilder(prompts.tokenizer, max_length=60)
    with pytest.raises(click.ClickException, match="row 10_B.*max_length 60"):
        builder.encode(ROW, [NAMES[0]])


def test_yes_and_no_must_be_single_tokens(prompts):
    assert prompts.yes_no == (prompts.tokenizer.convert_tokens_to_ids("Yes"),
                              prompts.tokenizer.convert_tokens_to_ids("No"))

    class SplitsYes:
        def encode(self, word, add_special_tokens=False):
            return [1, 2] if word == "Yes" else [3]
    with pytest.raises(click.ClickException, match="'Yes' is 2 tokens"):
        yes_no_ids(SplitsYes(), "odd-model")


def test_registry_rerankers_are_qlora_on_gpu_and_fp32_lora_on_cpu():
    for name in ("qwen32b", "qwen14b", "qwen72b", "gemma9b"):
        assert RERANKERS[name].quantize_4bit and RERANKERS[name].lora["r"] >= 16
    assert RERANKERS["qwen32b"].model == "Qwen/Qwen2.5-32B-Instruct"
    small = RERANKERS["smollm135m"]
    assert not small.quantize_4bit and small.gguf.endswith(".gguf")
    assert reranker_spec("some/hf-model").lora is not None


# ------------------------------------------------------------------------------------ scoring

def test_prefix_reuse_equals_naive_scores(spec, prompts):
    model = load_model(spec)
    rows = [prompts.encode(ROW, [NAMES[i] for i in range(6)]),
            prompts.encode(dict(ROW, QuestionText="A longer question " * 6), [NAMES[2]]),
            prompts.encode(dict(ROW, AnswerText="5"), [NAMES[1], NAMES[4], NAMES[5]])]
    reused = score_prefix_reuse(model, rows, prompts.yes_no, prompts.pad_id,
                                         pairs_per_batch=7)  # 2 batches, one of two rows
    for (prefix, suffixes), got in zip(rows, reused):
        naive = score_naive(model, [prefix + s for s in suffixes], prompts.yes_no,
                                     prompts.pad_id, batch_size=4)
        np.testing.assert_allclose(got, naive, atol=1e-3)
        assert len(set(np.round(naive, 5))) == len(naive)  # distinct scores: a real comparison
    # and the reference itself: one unpadded sequence through the plain forward pass
    prefix, suffixes = rows[0]
    with torch.no_grad():
        logits = model(torch.tensor([prefix + suffixes[0]])).logits[0, -1]
    assert reused[0][0] == pytest.approx((logits[prompts.yes_no[0]] - logits[prompts.yes_no[1]]).item(),
                                         abs=1e-3)


# ----------------------------------------------------------------------------------- training

def group_loss(model, groups, yes_no, pad_id) -> float:
    margins = [score_naive(model, [g["prefix"] + s for s in g["suffixes"]], yes_no, pad_id)
               for g in groups]
    return float(np.mean([-torch.log_softmax(torch.tensor(m), 0)[0] for m in margins]))


def full_negatives(rows, negatives, spec):
    """Exactly spec.n_negatives per row: the given ones, topped up at random (seed 0)."""
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    return top_up(negatives, gold, spec.n_negatives, NAMES, seed=0)


def test_lora_steps_lower_the_loss_and_the_adapter_reloads_identically(tmp_path, spec, prompts, kaggle_dir):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    rows = rows.dropna(subset=["MisconceptionId"])
    # mostly the same two negatives, as a retriever's confusions repeat: learnable in a few steps
    negatives = {qa: [m for m in (4, 5, 2) if m != gold][:2]
                 for qa, gold in zip(rows["QuestionId_Answer"], rows["MisconceptionId"].astype(int))}
    groups = training_groups(rows, NAMES, full_negatives(rows, negatives, spec), prompts)
    assert all(g["labels"] == [1.0, 0.0, 0.0] and len(g["suffixes"]) == 3 for g in groups)
    before = group_loss(load_model(spec), groups, prompts.yes_no, prompts.pad_id)

    model, result, history = fit_reranker(spec, groups, prompts, tmp_path / "ckpt",
                                                  max_steps=24, seed=0)
    assert result.global_step == 24
    out = tmp_path / "adapter"
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), {"steps": 12})
    assert (out / "adapter_model.safetensors").is_file() and not list(out.glob("model*.safetensors"))

    reloaded_spec = reranker_spec(str(out))
    assert reloaded_spec.adapter == str(out) and reloaded_spec.model == spec.model
    reloaded = load_model(reloaded_spec)  # merged into the base weights
    model.eval()
    after = group_loss(reloaded, groups, prompts.yes_no, prompts.pad_id)
    assert after < before - 0.05, (before, after)
    seqs = [groups[0]["prefix"] + s for s in groups[0]["suffixes"]]
    np.testing.assert_allclose(
        score_naive(reloaded, seqs, prompts.yes_no, prompts.pad_id),
        score_naive(model, seqs, prompts.yes_no, prompts.pad_id), atol=1e-4)


def test_shared_prefix_training_gives_the_naive_margins_and_gradients(spec, prompts, kaggle_dir):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    labelled = rows.dropna(subset=["MisconceptionId"])
    groups = training_groups(labelled, NAMES, full_negatives(labelled, {}, spec), prompts)[:3]
    torch.manual_seed(0)  # a random (non-zero) adapter, so every LoRA weight gets a gradient
    model = load_model(spec.replace(lora=dict(TINY_LORA, init_lora_weights=False)),
                                trainable=True)
    model.train()
    results = []
    for shared in (False, True):
        batch = GroupCollator(prompts.pad_id, shared_prefix=shared)(groups)
        labels = batch.pop("labels")
        if shared:
            assert batch["prefix_ids"].shape[0] == 3 and batch["suffix_ids"].shape[0] == 9
            margin = prefix_reuse_margin(model, yes_no=prompts.yes_no, **batch)
        else:
            margin = yes_no_margin(model, batch["input_ids"], batch["attention_mask"],
                                            prompts.yes_no)
        model.zero_grad()
        torch.nn.functional.cross_entropy(margin.view(3, 3), torch.zeros(3, dtype=torch.long)).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((margin.detach(), grads, labels))
    (naive, naive_grads, labels), (shared, shared_grads, _) = results
    assert labels.tolist() == [1.0, 0.0, 0.0] * 3
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=1e-4)
    assert len(naive_grads) > 0 and all(g.abs().sum() > 0 for g in naive_grads.values())
    for name, grad in naive_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, atol=1e-4, rtol=1e-3)


def test_rerun_resumes_from_the_last_checkpoint(tmp_path, spec, prompts, kaggle_dir, monkeypatch):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    labelled = rows.dropna(subset=["MisconceptionId"])
    groups = training_groups(labelled, NAMES, full_negatives(labelled, {}, spec), prompts)
    checkpoints = tmp_path / "out.checkpoints"
    fit_reranker(spec, groups, prompts, checkpoints, max_steps=2, seed=0)
    assert (checkpoints / "checkpoint-2").is_dir()
    calls, compute = [], YesNoTrainer.compute_loss
    monkeypatch.setattr(YesNoTrainer, "compute_loss",
                        lambda self, *a, **k: (calls.append(1), compute(self, *a, **k))[1])
    _, result, _ = fit_reranker(spec, groups, prompts, checkpoints, max_steps=3, seed=0)
    assert result.global_step == 3 and len(calls) == 1  # steps 1-2 came from the checkpoint


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


# -------------------------------------------------------------------------------- rerank.py

def test_reorder_sorts_the_top_n_and_keeps_the_rest_below():
    ranking = pd.DataFrame({"QuestionId_Answer": ["a"] * 5 + ["b"] * 2,
                            "MisconceptionId": [10, 11, 12, 13, 14, 20, 21],
                            "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.9, 0.1],
                            "rank": [1, 2, 3, 4, 5, 1, 2]})
    out = reorder_top(ranking, top_n=3, scores={"a": np.array([-1.0, 2.0, 0.5])})
    a = out[out["QuestionId_Answer"] == "a"]
    assert a["MisconceptionId"].tolist() == [11, 12, 10, 13, 14]
    assert a["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (np.diff(a["score"]) < 0).all() and a["score"].iloc[3] < -1.0
    b = out[out["QuestionId_Answer"] == "b"]  # not reranked: untouched
    assert b["MisconceptionId"].tolist() == [20, 21] and b["score"].tolist() == [0.9, 0.1]


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
