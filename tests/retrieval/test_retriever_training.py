"""eedi.retrieval.retriever_training on tiny random models (CPU, seconds): `training_examples` has
exactly n negatives per row, never the gold; the LoRA path of an LLM embedder saves only the
adapter and reloads to the same embeddings; a re-run resumes from the last checkpoint."""

import json

import numpy as np
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from conftest import MAPPING
from conftest import NAMES
from conftest import labelled_rows
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.model_folder import save_model_folder
from eedi.negatives import top_up
from eedi.registry import Retriever
from eedi.retrieval import embedding
from eedi.retrieval.retriever_training import saved_spec
from eedi.retrieval.retriever_training import train as fit_retriever
from eedi.retrieval.retriever_training import training_examples
from eedi.retrieval.retriever_training import training_loss

TEXTS = ["Adds fractions", "Subject: Angles\nWrong answer: 250", "3 - (-2)"]


def test_training_examples_have_exactly_n_negatives_never_the_gold(kaggle_dir):
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    rows = wide_to_long(wide).dropna(subset=["MisconceptionId"])
    names = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
    mined = {"10_B": [3, 4], "11_A": [2], "12_A": [4, 1, 3]}  # golds: 0, 1, 2
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    ex = training_examples(rows, names, top_up(mined, gold, 2, names, seed=0), "P: ")
    assert list(ex) == ["anchor", "positive", "negative_1", "negative_2"]
    assert all(len(v) == len(rows) == 7 for v in ex.values())
    by_row = {qa: i for i, qa in enumerate(rows["QuestionId_Answer"])}
    for i, row in enumerate(rows.to_dict("records")):
        assert ex["anchor"][i] == "P: " + query_text(row)
        assert ex["positive"][i] == names[int(row["MisconceptionId"])]
        negs = [ex["negative_1"][i], ex["negative_2"][i]]
        assert len(set(negs)) == 2 and ex["positive"][i] not in negs
        assert set(negs) <= set(names.values())
    assert [ex["negative_1"][by_row["10_B"]], ex["negative_2"][by_row["10_B"]]] == [names[3], names[4]]
    assert ex["negative_1"][by_row["11_A"]] == names[2]  # then one random fill
    assert [ex["negative_1"][by_row["12_A"]], ex["negative_2"][by_row["12_A"]]] == [names[4], names[1]]


def random_negatives(rows) -> dict:
    """One random negative per row (seed 0), as training without a ranking to mine from."""
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    return top_up({}, gold, 1, NAMES, seed=0)


def test_lora_saves_the_adapter_only_and_reloads_to_the_same_embeddings(tmp_path, tiny_llama_dir, kaggle_dir):
    spec = Retriever(model=str(tiny_llama_dir), pooling="lasttoken", max_length=64,
                     query_prefix="Instruct: find the misconception\nQuery: ", epochs=1,
                     batch_size=4, lr=1e-3, lora=dict(r=4, lora_alpha=8, lora_dropout=0.0,
                                                      target_modules=["q_proj", "v_proj"]))
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), spec.query_prefix)
    model, result, _ = fit_retriever(spec, examples, tmp_path / "ckpt", max_steps=3, seed=0)
    assert result.global_step == 3
    out = tmp_path / "out"
    save_model_folder(out, model.save_pretrained, saved_spec(spec), stats={"steps": 3})
    assert (out / "adapter_model.safetensors").is_file()
    assert not list(out.glob("model*.safetensors"))  # no copy of the base weights
    saved = json.loads((out / Retriever.SPEC_FILE).read_text())
    assert saved["adapter"] == "./" and saved["model"] == str(tiny_llama_dir)
    assert json.loads((out / "train.json").read_text()) == {"steps": 3}

    trained = embedding.encode(model, TEXTS, progress=False)
    reloaded = embedding.encode(embedding.load_embedder(embedding.embedder_spec(str(out))), TEXTS,
                                progress=False)
    base = embedding.encode(embedding.load_embedder(spec), TEXTS, progress=False)
    np.testing.assert_allclose(reloaded, trained, atol=1e-5)
    assert np.abs(base - trained).max() > 1e-4  # the adapter changed the embeddings


def test_rerun_resumes_from_the_last_checkpoint(tmp_path, tiny_bert_dir, kaggle_dir, monkeypatch):
    spec = Retriever(model=str(tiny_bert_dir), epochs=1, batch_size=4, lr=1e-4)
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), "")
    checkpoints = tmp_path / "out.checkpoints"
    fit_retriever(spec, examples, checkpoints, max_steps=2, seed=0)
    assert (checkpoints / "checkpoint-2").is_dir()  # the trainer saves when it stops

    # a step computes the loss once (the fast path's LengthSortedMNRL and MNRL alike)
    steps, loss = [], MultipleNegativesRankingLoss.compute_loss_from_embeddings
    monkeypatch.setattr(MultipleNegativesRankingLoss, "compute_loss_from_embeddings",
                        lambda self, *a, **k: (steps.append(1), loss(self, *a, **k))[1])
    _, result, _ = fit_retriever(spec, examples, checkpoints, max_steps=3, seed=0)
    assert result.global_step == 3 and len(steps) == 1  # steps 1-2 came from the checkpoint


def test_accumulation_of_cached_mnrl_chunks_gives_the_full_batch_loss_and_gradients(tiny_bert_dir, kaggle_dir):
    """The retriever's accumulation: cached-mnrl accumulates gradients chunk by chunk (GradCache),
    and gives the loss and gradients of the whole batch whatever the chunk, so it buys memory
    only (dropout off: the two losses draw their masks in a different order). Plain gradient
    accumulation would not: each micro-batch would lose the others as in-batch negatives."""
    import torch

    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), "")
    grads = {}
    for loss_name, chunk in [("mnrl", 16), ("cached-mnrl", 2), ("cached-mnrl", 3)]:
        spec = Retriever(model=str(tiny_bert_dir), loss=loss_name, mini_batch_size=chunk)
        model = embedding.load_embedder(spec).eval()
        loss = training_loss(spec, model, sorted_chunks=False)  # sentence-transformers' MNRL
        features = [model.preprocess(texts) for texts in examples.values()]  # 7 rows, 3 columns
        value = loss(features, labels=None)
        value.backward()
        grads[loss_name, chunk] = (value.item(), {n: p.grad.clone() for n, p in
                                                  model.named_parameters() if p.grad is not None})

    (plain, plain_grads), *cached = grads.values()
    assert plain > 0 and len(plain_grads) > 10  # the encoder's layers (not the unused pooler)
    for value, chunk_grads in cached:
        assert abs(value - plain) < 1e-5
        assert chunk_grads.keys() == plain_grads.keys()
        for name, grad in chunk_grads.items():
            torch.testing.assert_close(grad, plain_grads[name], atol=1e-6, rtol=1e-4)


def test_an_llm_embedders_lora_trains_in_fp32_over_a_bf16_base(tiny_llama_dir, monkeypatch):
    """A GPU loads the LLM in bf16; the adapter's weights must still be fp32 (they were bf16:
    sentence-transformers' add_adapter keeps the base's dtype)."""
    import torch

    from eedi.retrieval import retriever_training
    monkeypatch.setattr(embedding, "model_dtype", lambda: torch.bfloat16)
    spec = Retriever(model=str(tiny_llama_dir), pooling="lasttoken",
                     lora={"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    model = retriever_training.trainable_embedder(spec)
    trainable = {n: p.dtype for n, p in model.named_parameters() if p.requires_grad}
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert set(trainable.values()) == {torch.float32} and frozen == {torch.bfloat16}
    emb = model.encode(["3 - (-2)"], convert_to_tensor=True)  # bf16 states through fp32 LoRA
    assert torch.isfinite(emb).all()
