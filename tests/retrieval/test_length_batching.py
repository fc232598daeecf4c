"""Batching by length (eedi.retrieval.length_batching): the fast path's loss equals
sentence-transformers' MNRL, and its batches keep every row exactly once an epoch, with no
misconception twice in a batch."""

import numpy as np
import pytest
import torch
from conftest import NAMES, labelled_rows
from datasets import Dataset
from eedi.registry import Retriever
from eedi.retrieval import embedding
from eedi.retrieval.length_batching import (LengthBucketedSampler, LengthSortedMNRL,
                                            bucketed_order, embed_by_length)
from eedi.retrieval.retriever_training import training_examples, training_loss
from test_retriever_training import random_negatives


def loss_and_grads(model, loss, features):
    model.zero_grad()
    value = loss(features, labels=None)
    value.backward()
    return value.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                          if p.grad is not None}


@pytest.mark.parametrize("chunk", [2, 3, 64])
def test_length_sorted_mnrl_gives_mnrls_loss_and_gradients(tiny_bert_dir, kaggle_dir, chunk):
    """Tolerance 1e-5 on the loss, 1e-5 + 1e-4 relative on every gradient (float rounding:
    the chunks' matrix products sum in another order). Dropout off: the two draw their masks
    in a different order. Rows of different lengths, so chunks are cut to different widths."""
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), "")
    examples["anchor"] = [t * (1 + i % 3) for i, t in enumerate(examples["anchor"])]
    spec = Retriever(model=str(tiny_bert_dir), loss="mnrl")
    model = embedding.load_embedder(spec).eval()
    features = [model.preprocess(texts) for texts in examples.values()]  # 7 rows, 3 columns
    assert len(set(features[0]["attention_mask"].sum(1).tolist())) > 2

    reference = training_loss(spec, model, sorted_chunks=False)
    fast = training_loss(spec, model)
    assert isinstance(fast, LengthSortedMNRL) and not isinstance(reference, LengthSortedMNRL)
    fast.chunk = chunk
    plain, plain_grads = loss_and_grads(model, reference, features)
    value, grads = loss_and_grads(model, fast, features)
    assert plain > 0 and len(plain_grads) > 10
    assert abs(value - plain) < 1e-5
    assert grads.keys() == plain_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], atol=1e-5, rtol=1e-4)


def test_embed_by_length_cuts_each_chunk_to_its_longest_row(tiny_bert_dir):
    model = embedding.load_embedder(Retriever(model=str(tiny_bert_dir))).eval()
    texts = ["a", "a b c d e f g h i j k l", "b c", "d e f g", "x y z w v u t s r q p o n m"]
    features = model.preprocess(texts)
    widths = []
    handle = model[0].register_forward_pre_hook(
        lambda module, args: widths.append(args[0]["input_ids"].shape[1]))
    with torch.no_grad():
        fast = embed_by_length(model, features, chunk=2)
        handle.remove()
        reference = model(features)["sentence_embedding"]
    lengths = sorted(features["attention_mask"].sum(1).tolist())
    assert widths == [lengths[1], lengths[3], lengths[4]]  # pairs of the sorted rows, then one
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-4)


def dataset_of(n: int, seed: int = 0) -> Dataset:
    """n rows whose anchors run 1..300 characters and whose positives repeat (7 misconceptions
    each in many rows), so the no-duplicates rule has work to do."""
    rng = np.random.default_rng(seed)
    return Dataset.from_dict({"anchor": [f"q{i} " + "x" * int(rng.integers(1, 300)) for i in range(n)],
                              "positive": [f"m{i % (n // 7)}" for i in range(n)]})


def padded_share(dataset, batches) -> float:
    lengths = np.array([len(t) for t in dataset["anchor"]])
    return sum(lengths[b].max() * len(b) for b in batches) / lengths.sum()


def test_bucketed_batches_hold_every_row_once_no_duplicate_and_pad_less(tmp_path):
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
    data = dataset_of(700)
    sampler = LengthBucketedSampler(data, batch_size=32, drop_last=False,
                                    generator=torch.Generator(), seed=3)
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        flat = sorted(i for b in batches for i in b)
        assert flat == list(range(len(data)))  # each row exactly once an epoch
        sizes = [len(b) for b in batches]
        first_short = next(i for i, n in enumerate(sizes) if n < 32)
        assert first_short > 0 and all(n < 32 for n in sizes[first_short:])  # short ones last
        for b in batches:
            assert len({data[i]["positive"] for i in b}) == len(b)  # no misconception twice
        epochs.append(batches)
    assert epochs[0] != epochs[1]  # batches drawn anew each epoch
    plain = NoDuplicatesBatchSampler(data, batch_size=32, drop_last=False,
                                     generator=torch.Generator(), seed=3)
    # random batches pad anchors to 1.85x their characters here; length buckets less than
    # half as much (1.34x)
    assert padded_share(data, epochs[0]) - 1 < (padded_share(data, list(plain)) - 1) / 2


def test_bucketed_order_is_a_permutation_sorted_within_each_window():
    lengths = np.random.default_rng(0).integers(1, 100, 50)
    order = bucketed_order(lengths, 8, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(50))
    windows = np.array_split(order, 7)
    assert all((np.diff(lengths[w]) >= 0).all() for w in windows)


@pytest.mark.parametrize("batching, bucketed", [("random", False), ("length", True)])
def test_the_spec_chooses_the_batches_random_by_default(tmp_path, tiny_bert_dir, kaggle_dir,
                                                       monkeypatch, batching, bucketed):
    """Length buckets cost 0.02 MAP@25 on the real data (docs/results.md, "CPU speed"): the
    default is sentence-transformers' random no-duplicates batches, --batching length opts in."""
    from eedi.retrieval.retriever_training import train
    assert Retriever(model="x").batching == "random"
    passes, one_pass = [], LengthBucketedSampler._iter_one_pass
    monkeypatch.setattr(LengthBucketedSampler, "_iter_one_pass",
                        lambda self, *a: (passes.append(1), one_pass(self, *a))[1])
    rows = labelled_rows(kaggle_dir)
    spec = Retriever(model=str(tiny_bert_dir), batching=batching, batch_size=2, epochs=1)
    train(spec, training_examples(rows, NAMES, random_negatives(rows), ""), tmp_path / "ckpt",
          max_steps=2, seed=0)
    assert bool(passes) == bucketed


@pytest.mark.parametrize("cuda, rows_per_pass", [(False, 16), (True, 64)])
def test_the_sorted_chunks_size_follows_the_device(tiny_bert_dir, kaggle_dir, monkeypatch, cuda,
                                                   rows_per_pass):
    """eedi.precision.sorted_chunk_rows: small chunks on a CPU (each padded token costs), large
    on a GPU; LengthSortedMNRL without a chunk of its own runs its columns in those."""
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), "")
    examples = {k: (v * 20)[:80] for k, v in examples.items()}  # 80 rows, 3 columns
    spec = Retriever(model=str(tiny_bert_dir), loss="mnrl")
    model = embedding.load_embedder(spec).eval()
    features = [model.preprocess(texts) for texts in examples.values()]
    passes = []
    handle = model[0].register_forward_pre_hook(
        lambda module, args: passes.append(args[0]["input_ids"].shape[0]))
    loss = training_loss(spec, model)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)  # the model stays on the CPU
    with torch.no_grad():
        loss(features, labels=None)
    handle.remove()
    # the anchors (80 rows), then the positives and negatives merged (160 rows)
    assert max(passes) == rows_per_pass
    assert len(passes) == -(-160 // rows_per_pass) + -(-80 // rows_per_pass)
