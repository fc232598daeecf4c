"""CUDA-only checks of the GPU paths, skipped without a GPU (CI has none; run them on a lent
H100/H200, or any CUDA box: `pytest -s tests/test_gpu.py`). The model is SmolLM2-135M's
architecture (30 layers, hidden 576, GQA 9/3 heads) with random weights and its real tokenizer,
so no weights need downloading: the shapes, kernels and memory are the real model's.

Checks, in bf16 and in fp16 (a T4 faked by its compute capability 7.5, as eedi.precision
decides by it): 4-bit NF4 QLoRA training steps lower the group loss; the adapter reloads
(4-bit base + adapter, unmerged) to the trained scores within half precision's rounding (3% of
the margins' scale, the same best candidate per group); prefix reuse equals full sequences.
Each case's seconds, pairs/s and peak memory go to $GPU_REPORT (JSON) when it is set."""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

REPORT: dict = {}


@pytest.fixture(scope="module")
def smollm_shape_dir(tmp_path_factory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from conftest import smollm2_tokenizer
    tokenizer = smollm2_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("smollm_shape")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def write_report():
    yield
    if os.environ.get("GPU_REPORT"):
        Path(os.environ["GPU_REPORT"]).write_text(json.dumps(REPORT, indent=2))


@pytest.mark.parametrize("capability", [None, (7, 5)], ids=["native", "t4-fp16"])
def test_qlora_on_cuda_trains_reloads_and_reuses_prefixes(tmp_path, smollm_shape_dir, kaggle_dir,
                                                          monkeypatch, capability):
    from conftest import NAMES
    from eedi.kaggle_csv import read_questions_csv
    from eedi.long_table import wide_to_long
    from eedi.model_folder import save_model_folder
    from eedi.negatives import top_up
    from eedi.precision import model_dtype
    from eedi.registry import LLM_LORA_TARGETS, Reranker
    from eedi.rerank.prompt import PromptBuilder
    from eedi.rerank.reranker import load_model, load_tokenizer, reranker_spec
    from eedi.rerank.reranker_training import train, training_groups
    from eedi.rerank.yes_no_scoring import score_naive, score_prefix_reuse

    if capability is not None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    dtype = model_dtype()
    assert dtype == (torch.float16 if capability else torch.bfloat16)
    spec = Reranker(model=str(smollm_shape_dir), quantize_4bit=True, max_length=256,
                    lora=dict(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LLM_LORA_TARGETS),
                    gradient_checkpointing=True, batch_size=4, grad_accum=1, lr=2e-4, n_negatives=3)
    prompts = PromptBuilder(load_tokenizer(spec), spec.max_length)
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    rows = rows.dropna(subset=["MisconceptionId"])
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    negatives = {qa: [m for m in (4, 5, 2, 3) if m != g][:3] for qa, g in gold.items()}
    groups = training_groups(rows, NAMES, top_up(negatives, gold, 3, NAMES, seed=0), prompts)

    def group_loss(model):
        margins = [score_naive(model, [g["prefix"] + s for s in g["suffixes"]], prompts.yes_no,
                               prompts.pad_id) for g in groups]
        return float(np.mean([-torch.log_softmax(torch.tensor(m), 0)[0] for m in margins]))

    torch.cuda.reset_peak_memory_stats()
    before = group_loss(load_model(spec))
    start = time.perf_counter()
    model, result, _, _ = train(spec, groups, prompts, tmp_path / "ckpt", max_steps=30, seed=0)
    train_s = time.perf_counter() - start
    model.eval()
    after = group_loss(model)
    assert after < before - 0.05, (before, after)
    out = tmp_path / "adapter"
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), {})
    reloaded = load_model(reranker_spec(str(out)))
    seqs = [g["prefix"] + s for g in groups for s in g["suffixes"]]
    trained_scores = score_naive(model, seqs, prompts.yes_no, prompts.pad_id)
    reloaded_scores = score_naive(reloaded, seqs, prompts.yes_no, prompts.pad_id)
    # k-bit training keeps norms and embeddings in fp32; inference reloads them in half
    # precision, so the margins differ by rounding (bf16 keeps ~3 digits): within 3% of their
    # scale, and each group's best candidate the same (the CPU fp32 test holds 1e-4)
    gap = float(np.abs(trained_scores - reloaded_scores).max())
    scale = float(np.abs(trained_scores).max())
    assert gap < 0.03 * scale, (gap, scale)
    size = len(groups[0]["suffixes"])
    assert (trained_scores.reshape(-1, size).argmax(1) == reloaded_scores.reshape(-1, size).argmax(1)).all()

    # prefix reuse on the GPU: the same scores, and its speed over naive (4 rows x 25 candidates)
    cands = [NAMES[i % len(NAMES)] + f" (variant {i})" for i in range(25)]
    encoded = [prompts.encode(r, cands) for r in rows.head(4).to_dict("records")]
    flat = [p + s for p, ss in encoded for s in ss]
    score_naive(reloaded, flat[:25], prompts.yes_no, prompts.pad_id)  # warm-up
    t0 = time.perf_counter(); naive = score_naive(reloaded, flat, prompts.yes_no, prompts.pad_id, batch_size=25)
    torch.cuda.synchronize(); t1 = time.perf_counter()
    reuse = np.concatenate(score_prefix_reuse(reloaded, encoded, prompts.yes_no, prompts.pad_id, pairs_per_batch=100))
    torch.cuda.synchronize(); t2 = time.perf_counter()
    reuse_gap = float(np.abs(naive - reuse).max())
    assert reuse_gap < 0.03 * float(np.abs(naive).max()), reuse_gap
    REPORT[f"{torch.cuda.get_device_name()} {'fp16 (T4 faked)' if capability else 'bf16'}"] = {
        "dtype": str(dtype), "loss_before": round(before, 4), "loss_after_30_steps": round(after, 4),
        "train_seconds_30_steps": round(train_s, 2), "groups": len(groups),
        "reload_max_abs_gap": gap, "margin_scale": scale, "naive_pairs_per_s": round(len(flat) / (t1 - t0), 1),
        "prefix_reuse_pairs_per_s": round(len(flat) / (t2 - t1), 1), "prefix_vs_naive_max_gap": reuse_gap,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3),
        "torch": torch.__version__}


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs (DDP / FSDP)")
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_distributed_qlora_on_two_gpus_trains_like_one(tmp_path, smollm_shape_dir, data, mode):
    """train_reranker.py under torchrun on 2 GPUs (make DISTRIBUTED=ddp|fsdp GPUS=2), 4-bit base:
    each rank on its own GPU (LOCAL_RANK's device map; FSDP: shards, 4-bit weights stored as
    bf16), the processes sharing the batch, so the loss curve stays within bf16 noise of one
    GPU's at the same settings; rank 0 writes one adapter that loads and scores."""
    import subprocess
    import sys

    import train_reranker
    from eedi.rerank.reranker import load_model, reranker_spec

    args = ["--model", smollm_shape_dir, "--train", data["train"], "--misconceptions", data["mis"],
            "--negatives", data["ranking"], "--n-negatives", 2, "--negative-ranks", "1:6",
            "--max-steps", 4, "--max-length", 192, "--batch-size", 1, "--grad-accum", 2,
            "--lr", 1e-3, "--quantize", "4bit"]
    script = Path(train_reranker.__file__)
    runs = {"one": ([sys.executable], {"CUDA_VISIBLE_DEVICES": "0"}),
            mode: ([Path(sys.executable).parent / "torchrun", "--nproc_per_node", 2,
                    "--master_port", 29521], {"CUDA_VISIBLE_DEVICES": "0,1"})}
    curves = {}
    for name, (launcher, env) in runs.items():
        start = time.time()
        extra = ["--fsdp"] if name == "fsdp" else []
        done = subprocess.run([str(c) for c in [*launcher, script, *args, *extra,
                                                "--out", tmp_path / name]],
                              capture_output=True, text=True, env={**os.environ, **env}, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        stats = json.loads((tmp_path / name / "train.json").read_text())
        curves[name] = np.array(stats["loss_curve"])
        REPORT[f"distributed-{mode}-{name}"] = {"seconds": round(time.time() - start, 1),
                                                "loss_curve": stats["loss_curve"]}
    assert len(curves[mode]) == len(curves["one"])
    np.testing.assert_allclose(curves[mode][:, 1], curves["one"][:, 1], rtol=0.05)
    model = load_model(reranker_spec(str(tmp_path / mode)))
    ids = torch.tensor([[1, 2, 3, 4, 5]], device=next(model.parameters()).device)
    with torch.no_grad():
        tuned = model(input_ids=ids).logits.float()
        with model.disable_adapter():  # the same weights without rank 0's adapter
            base = model(input_ids=ids).logits.float()
    assert torch.isfinite(tuned).all()
    assert (tuned - base).abs().max() > 1e-4  # the adapter it wrote loads and changes the scores
