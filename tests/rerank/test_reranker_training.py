"""eedi.rerank.reranker_training on a tiny random Llama with SmolLM2's tokenizer (CPU, seconds): LoRA
steps lower the group loss and the saved adapter reloads (eedi.rerank.reranker) to the same scores,
shared-prefix training gives the naive margins and gradients, and a re-run resumes from the
last checkpoint."""

import numpy as np
import pytest
import torch

from conftest import NAMES
from conftest import TINY_LORA
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.model_folder import save_model_folder
from eedi.negatives import top_up
from eedi.rerank.reranker import load_model
from eedi.rerank.reranker import reranker_spec
from eedi.rerank.reranker_training import GroupCollator
from eedi.rerank.reranker_training import YesNoTrainer
from eedi.rerank.reranker_training import train as fit_reranker
from eedi.rerank.reranker_training import training_groups
from eedi.rerank.yes_no_scoring import packed_margin
from eedi.rerank.yes_no_scoring import score_naive
from eedi.rerank.yes_no_scoring import yes_no_margin


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

    model, result, history, _ = fit_reranker(spec, groups, prompts, tmp_path / "ckpt",
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


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_shared_prefix_training_gives_the_naive_margins_and_gradients(spec, prompts, kaggle_dir,
                                                                       checkpointing, attention):
    """Each group packed in one sequence (its prefix once, then its suffixes, each seeing the
    prefix and itself only) gives every candidate's full-sequence margin and gradients, with
    gradient checkpointing too: qwen32b's checkpointing used to switch the sharing off (the
    prefix's KV cache needs use_cache), re-running its ~170-token prefix for all 8 candidates."""
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    labelled = rows.dropna(subset=["MisconceptionId"])
    groups = training_groups(labelled, NAMES, full_negatives(labelled, {}, spec), prompts)[:3]
    torch.manual_seed(0)  # a random (non-zero) adapter, so every LoRA weight gets a gradient
    model = load_model(spec.replace(lora=dict(TINY_LORA, init_lora_weights=False),
                                    gradient_checkpointing=checkpointing), trainable=True)
    model.config._attn_implementation = attention
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    results = []
    for shared in (False, True):
        batch = GroupCollator(prompts.pad_id, shared_prefix=shared)(groups)
        labels = batch.pop("labels")
        if shared:
            width = max(len(g["prefix"]) + sum(map(len, g["suffixes"])) for g in groups)
            assert batch["input_ids"].shape == (3, width) and batch["last"].shape == (3, 3)
            margin = packed_margin(model, yes_no=prompts.yes_no, **batch)
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
    _, result, _, _ = fit_reranker(spec, groups, prompts, checkpoints, max_steps=3, seed=0)
    assert result.global_step == 3 and len(calls) == 1  # steps 1-2 came from the checkpoint


# --------------------------------------------------------------------------- listwise

def window_loss(model, windows, list_prompts) -> float:
    from eedi.rerank.listwise_scoring import label_logits
    logits = label_logits(model, [w["input_ids"] for w in windows], list_prompts.label_ids,
                          list_prompts.pad_id, sizes=[w["size"] for w in windows])
    return float(np.mean([-torch.log_softmax(torch.tensor(l), 0)[w["gold_at"]]
                          for l, w in zip(logits, windows)]))


@pytest.fixture(scope="module")
def list_spec(spec):
    return spec.replace(reranking="listwise", window=3, stride=2, max_length=384)


@pytest.fixture(scope="module")
def list_prompts(list_spec, prompts):
    from eedi.rerank.prompt import prompt_builder
    return prompt_builder(list_spec, prompts.tokenizer, "tiny")


def test_listwise_lora_steps_lower_the_label_loss_and_the_adapter_reloads_identically(
        tmp_path, list_spec, list_prompts, kaggle_dir):
    """The same train() on listwise windows: the gold among its row's negatives, shuffled (so
    its label varies), the loss the cross-entropy of the label logits; 24 steps lower it, and
    the saved adapter reloads to the trained model's label logits."""
    from eedi.rerank.listwise_scoring import label_logits
    from eedi.rerank.reranker_training import training_windows
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    rows = rows.dropna(subset=["MisconceptionId"])
    negatives = {qa: [m for m in (4, 5, 2) if m != gold][:2]
                 for qa, gold in zip(rows["QuestionId_Answer"], rows["MisconceptionId"].astype(int))}
    windows = training_windows(rows, NAMES, full_negatives(rows, negatives, list_spec),
                               list_prompts, size=3, seed=0)
    assert len(windows) == len(rows) and {w["size"] for w in windows} == {3}
    assert len({w["gold_at"] for w in windows}) == 3          # the gold behind every label
    text = list_prompts.tokenizer.decode(windows[0]["input_ids"])
    gold = NAMES[int(rows["MisconceptionId"].iloc[0])]
    assert f"\n{'123'[windows[0]['gold_at']]}. {gold}\n" in text
    before = window_loss(load_model(list_spec), windows, list_prompts)

    model, result, _, _ = fit_reranker(list_spec, windows, list_prompts, tmp_path / "ckpt",
                                       max_steps=24, seed=0)
    assert result.global_step == 24
    out = tmp_path / "adapter"
    save_model_folder(out, model.save_pretrained, list_spec.replace(adapter="./"), {"steps": 24})
    reloaded_spec = reranker_spec(str(out))
    assert reloaded_spec.listwise and reloaded_spec.window == 3
    reloaded = load_model(reloaded_spec)
    model.eval()
    after = window_loss(reloaded, windows, list_prompts)
    assert after < before - 0.05, (before, after)
    seqs = [w["input_ids"] for w in windows[:3]]
    np.testing.assert_allclose(
        label_logits(reloaded, seqs, list_prompts.label_ids[:3], list_prompts.pad_id),
        label_logits(model, seqs, list_prompts.label_ids[:3], list_prompts.pad_id), atol=1e-4)


@pytest.mark.parametrize("reranking", ["pointwise", "listwise"])
def test_accumulation_of_k_steps_of_b_gives_the_update_of_one_batch_of_k_times_b(
        reranking, tmp_path, spec, prompts, list_spec, list_prompts, kaggle_dir):
    """grad_accum=2 at batch 1 and grad_accum=1 at batch 2: the same first optimiser step, i.e.
    the same logged loss and pre-clipping gradient norm (transformers leaves a loss unscaled for
    accumulation when the batch carries "labels" and the model takes **kwargs, as Llama's and
    Qwen2's forward do; YesNoTrainer's and ListwiseTrainer's losses are means per micro-batch
    and must be divided by the accumulation steps)."""
    from eedi.rerank.reranker_training import training_windows
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    rows = rows.dropna(subset=["MisconceptionId"]).head(4)
    if reranking == "listwise":
        spec, prompts = list_spec, list_prompts
        examples = training_windows(rows, NAMES, full_negatives(rows, {}, spec), prompts, size=3,
                                    seed=0)
    else:
        examples = training_groups(rows, NAMES, full_negatives(rows, {}, spec), prompts)
    first_step = {}
    for batch_size, grad_accum in ((2, 1), (1, 2)):
        _, _, history, _ = fit_reranker(spec.replace(batch_size=batch_size, grad_accum=grad_accum),
                                        examples, prompts, tmp_path / f"ckpt{grad_accum}",
                                        max_steps=1, seed=0)
        first_step[grad_accum] = (history[0]["loss"], history[0]["grad_norm"])
    np.testing.assert_allclose(first_step[2], first_step[1], rtol=1e-3)
