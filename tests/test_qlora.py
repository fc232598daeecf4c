"""The QLoRA path on CPU (bitsandbytes 0.50 runs NF4 there): a tiny Llama loads with 4-bit
Linear4bit layers, is prepared for k-bit training, LoRA steps lower the group loss, the
adapter saves alone, and 4-bit base + adapter (not merged) reloads to the trained model's
scores; then the same through train_reranker.py --quantize 4bit and rerank.py. `make
test-qlora` runs this file with test_precision.py; nothing here is skipped without CUDA."""

import json

import bitsandbytes as bnb  # a hard requirement: an ImportError fails, never skips
import numpy as np
import torch
from peft import PeftModel

import rerank
import train_reranker
from conftest import NAMES
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.model_folder import save_model_folder
from eedi.negatives import top_up
from eedi.ranking import read_ranking
from eedi.registry import Reranker
from eedi.rerank.reranker import load_model, reranker_spec
from eedi.rerank.reranker_training import train, training_groups
from eedi.rerank.yes_no_scoring import score_naive, score_prefix_reuse

TOLERANCE = 1e-4  # 4-bit base + adapter reloaded vs the model as trained, logit margins


def linear4bit_count(model) -> int:
    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


def groups_of(kaggle_dir, spec, prompts):
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    rows = rows.dropna(subset=["MisconceptionId"])
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    negatives = {qa: [m for m in (4, 5, 2) if m != g][:2] for qa, g in gold.items()}
    return training_groups(rows, NAMES, top_up(negatives, gold, spec.n_negatives, NAMES, seed=0), prompts)


def group_loss(model, groups, prompts) -> float:
    margins = [score_naive(model, [g["prefix"] + s for s in g["suffixes"]], prompts.yes_no, prompts.pad_id)
               for g in groups]
    return float(np.mean([-torch.log_softmax(torch.tensor(m), 0)[0] for m in margins]))


def test_nf4_qlora_trains_on_cpu_and_reloads_unmerged_to_the_same_scores(tmp_path, spec, prompts, kaggle_dir):
    spec = spec.replace(quantize_4bit=True)
    groups = groups_of(kaggle_dir, spec, prompts)
    base = load_model(spec)
    assert linear4bit_count(base) == 2 * 7  # every projection of 2 layers (lm_head stays)
    assert base.model.layers[0].self_attn.q_proj.weight.dtype == torch.uint8  # packed 4-bit
    # bitsandbytes' AVX512-BF16 repacking is off (eedi.model_folder.one_cpu_path): on such a
    # CPU it crashed on this model's 32-wide layers at the first no-grad forward and scored in
    # bf16 block scales, so reloaded scores differed from the trained ones by CPU
    assert not any(getattr(m, "support_avx512bf16_for_cpu", False) for m in base.modules())
    before = group_loss(base, groups, prompts)

    # 48 steps: with the candidate last in the prompt, this tiny random model's group loss sits
    # near chance (ln 3) for ~24 steps, then falls (measured: 1.096 -> 1.085 at 24, 0.466 at 48)
    model, result, _, _ = train(spec, groups, prompts, tmp_path / "ckpt", max_steps=48, seed=0)
    assert result.global_step == 48 and linear4bit_count(model) == 14
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)  # only the adapter learns
    model.eval()
    after_trained = group_loss(model, groups, prompts)
    assert after_trained < before - 0.05, (before, after_trained)

    out = tmp_path / "adapter"
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), {"steps": 48})
    assert (out / "adapter_model.safetensors").is_file() and not list(out.glob("model*.safetensors"))
    saved = reranker_spec(str(out))
    assert saved.quantize_4bit and saved.adapter == str(out)
    reloaded = load_model(saved)
    assert isinstance(reloaded, PeftModel) and linear4bit_count(reloaded) == 14  # not merged
    seqs = [g["prefix"] + s for g in groups[:2] for s in g["suffixes"]]
    np.testing.assert_allclose(score_naive(reloaded, seqs, prompts.yes_no, prompts.pad_id),
                               score_naive(model, seqs, prompts.yes_no, prompts.pad_id), atol=TOLERANCE)
    # prefix reuse runs through the 4-bit layers too, and agrees with full sequences
    rows = [(g["prefix"], g["suffixes"]) for g in groups[:2]]
    np.testing.assert_allclose(np.concatenate(score_prefix_reuse(reloaded, rows, prompts.yes_no, prompts.pad_id)),
                               score_naive(reloaded, seqs, prompts.yes_no, prompts.pad_id), atol=1e-3)


def test_cli_quantize_4bit_trains_a_qlora_adapter_and_rerank_serves_it(tmp_path, tiny_llama_dir, data, run_cli):
    out = tmp_path / "models" / "fold0"
    result = run_cli(train_reranker.main, [
        "--model", tiny_llama_dir, "--train", data["train"], "--misconceptions", data["mis"],
        "--negatives", data["ranking"], "--folds", data["folds"], "--fold", 0, "--n-negatives", 2,
        "--negative-ranks", "1:6", "--batch-size", 2, "--max-steps", 2, "--max-length", 192,
        "--quantize", "4bit", "--out", out])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / Reranker.SPEC_FILE).read_text())
    assert saved["quantize_4bit"] is True and saved["adapter"] == "./"
    assert json.loads((out / "train.json").read_text())["steps"] == 2

    ranked = tmp_path / "reranked.parquet"
    args = ["--model", out, "--ranking", data["ranking"], "--queries", data["train"],
            "--misconceptions", data["mis"], "--top-n", 3]
    result = run_cli(rerank.main, [*args, "--out", ranked])
    assert result.exit_code == 0, result.output
    four_bit = read_ranking(ranked)
    assert set(four_bit["QuestionId_Answer"]) == set(read_ranking(data["ranking"])["QuestionId_Answer"])
    # --quantize none serves the same adapter on full-precision weights: other scores
    result = run_cli(rerank.main, [*args, "--quantize", "none", "--out", tmp_path / "full.parquet"])
    assert result.exit_code == 0, result.output
    full = read_ranking(tmp_path / "full.parquet")
    top = lambda r: r[r["rank"] <= 3].sort_values(["QuestionId_Answer", "MisconceptionId"])["score"].to_numpy()
    assert np.abs(top(four_bit) - top(full)).max() > 1e-6
