"""eedi.retrieval.embedding on tiny random models: pooling is what the spec says (checked against the
raw HF model's hidden states of each text alone), specs load from the registry, ids and model
folders, queries get the prefix and names do not, the embedding cache hits and misses when it
should, and faiss search is exact."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from conftest import MAPPING
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.model_folder import save_spec
from eedi.registry import RETRIEVERS, Retriever
from eedi.retrieval import embedding


TEXTS = ["Adds fractions", "Believes angles on a straight line add to 360 degrees, not 180"]


def raw_states(folder, texts):
    """Last hidden states of each text on its own (no padding), from the plain HF model."""
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    with torch.no_grad():
        return [model.eval()(**tokenizer(t, return_tensors="pt")).last_hidden_state[0].numpy()
                for t in texts]


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def encode_with(spec, texts, padding_side=None):
    model = embedding.load_embedder(spec)
    if padding_side:
        model[0].tokenizer.padding_side = padding_side
    return embedding.encode(model, texts, progress=False)


@pytest.mark.parametrize("pooling, pool", [("cls", lambda h: h[0]), ("mean", lambda h: h.mean(0))])
def test_encoder_pooling_matches_the_hidden_states(tiny_bert_dir, pooling, pool):
    states = raw_states(tiny_bert_dir, TEXTS)
    assert len(states[0]) < len(states[1])  # encoded in one batch: the first one is padded
    got = encode_with(Retriever(model=str(tiny_bert_dir), pooling=pooling), TEXTS)
    np.testing.assert_allclose(got, unit(np.stack([pool(h) for h in states])), atol=1e-5)


@pytest.fixture(scope="module")
def plain_llama_dir(tiny_llama_dir, tmp_path_factory):
    """tiny_llama_dir without a chat template (like a base LLM's tokenizer)."""
    folder = tmp_path_factory.mktemp("plain_llama") / "model"
    shutil.copytree(tiny_llama_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert AutoTokenizer.from_pretrained(folder).chat_template is None
    return folder


@pytest.mark.parametrize("side", [None, "right", "left"])  # None: the tokenizer's default
def test_lasttoken_pooling_is_the_last_real_token(plain_llama_dir, side):
    states = raw_states(plain_llama_dir, TEXTS)
    assert len(states[0]) < len(states[1])
    got = encode_with(Retriever(model=str(plain_llama_dir), pooling="lasttoken"), TEXTS, side)
    np.testing.assert_allclose(got, unit(np.stack([h[-1] for h in states])), atol=1e-5)


def test_lasttoken_embeds_the_text_itself_when_the_tokenizer_has_a_chat_template(tiny_llama_dir):
    """Instruct LLMs ship a chat template; texts must still be embedded as they are."""
    states = raw_states(tiny_llama_dir, TEXTS)
    got = encode_with(Retriever(model=str(tiny_llama_dir), pooling="lasttoken"), TEXTS)
    np.testing.assert_allclose(got, unit(np.stack([h[-1] for h in states])), atol=1e-5)


def test_embedder_spec_registry_name_and_unknown_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert embedding.embedder_spec("minilm") == RETRIEVERS["minilm"]
    assert embedding.embedder_spec("some-org/some-model") == Retriever(model="some-org/some-model")


def test_embedder_spec_reads_a_saved_folder_with_paths_relative_to_it(tmp_path):
    spec = Retriever(model="./", adapter="./adapter", pooling="cls", query_prefix="Q: ",
                     max_length=64, lora=dict(r=4, target_modules=["q_proj"]))
    save_spec(spec, tmp_path / "trained")
    (tmp_path / "trained").rename(tmp_path / "moved")  # the folder can move
    folder = tmp_path / "moved"
    assert embedding.embedder_spec(str(folder)) == spec.replace(
        model=str(folder), adapter=str(folder / "adapter"))
    save_spec(Retriever(model="/abs/base", adapter="./", epochs=3), folder)
    assert embedding.embedder_spec(str(folder)) == Retriever(model="/abs/base",
                                                             adapter=str(folder), epochs=3)


def test_queries_get_the_prefix_and_names_do_not(tmp_path, tiny_bert_dir, kaggle_dir, monkeypatch):
    prefix = "Instruct: X\nQuery: "
    spec = Retriever(model=str(tiny_bert_dir), query_prefix=prefix)
    save_spec(spec, tmp_path / "spec")
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    seen, real_encode = [], embedding.encode
    monkeypatch.setattr(embedding, "encode", lambda m, texts, *a, **k: (
        seen.append(list(texts)), real_encode(m, texts, *a, **k))[1])
    loaded = embedding.embedder_spec(str(tmp_path / "spec"))
    ranking = embedding.rank_rows(loaded, embedding.load_embedder(loaded), rows, MAPPING, 25, None, 8)
    names, queries = seen
    assert names == MAPPING["MisconceptionName"].tolist()
    assert queries == [prefix + query_text(r) for _, r in rows.iterrows()]
    # the ranking's scores are the cosines of the prefixed queries with the plain names
    sims = np.sort(real_encode(embedding.load_embedder(spec), queries, progress=False)
                   @ real_encode(embedding.load_embedder(spec), names, progress=False).T)[:, ::-1]
    np.testing.assert_allclose(ranking["score"].to_numpy().reshape(len(rows), -1), sims, atol=1e-5)


def test_cached_embeddings_hit_and_miss(tmp_path, tiny_bert_dir, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, folder)
    spec = Retriever(model=str(folder))
    model, cache, calls, real_encode = embedding.load_embedder(spec), tmp_path / "cache", [], embedding.encode
    monkeypatch.setattr(embedding, "encode", lambda *a, **k: (calls.append(1), real_encode(*a, **k))[1])
    files = lambda: sorted(tmp_path.rglob("*.npy"))  # noqa: E731

    first = embedding.cached_embeddings(model, spec, TEXTS, cache)
    assert len(calls) == 1 and len(files()) == 1
    np.testing.assert_allclose(first, real_encode(model, TEXTS, progress=False), atol=1e-6)
    np.testing.assert_array_equal(embedding.cached_embeddings(model, spec, TEXTS, cache), first)
    assert len(calls) == 1 and len(files()) == 1  # hit
    embedding.cached_embeddings(model, spec, TEXTS[:1], cache)
    assert len(calls) == 2 and len(files()) == 2  # other texts: miss
    weights = folder / "model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # "retrained"
    embedding.cached_embeddings(model, spec, TEXTS, cache)
    assert len(calls) == 3 and len(files()) == 3  # changed weights: miss
    embedding.cached_embeddings(model, spec, TEXTS, None)
    embedding.cached_embeddings(model, spec, TEXTS, None)
    assert len(calls) == 5 and len(files()) == 3  # no cache: always encodes, writes nothing


def test_search_is_exact_inner_product_best_first():
    docs = np.array([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0]], dtype=np.float32)
    queries = np.array([[0.8, 0.6, 0], [0, 0.6, 0.8]], dtype=np.float32)
    scores, idx = embedding.search(queries, docs, k=2)
    assert idx.tolist() == [[2, 0], [1, 2]]  # dots: (0.8, 0.6, 0.96) and (0, 0.6, 0.48)
    np.testing.assert_allclose(scores, [[0.96, 0.8], [0.6, 0.48]], atol=1e-6)
    scores, idx = embedding.search(queries, docs, k=10)
    assert idx.tolist() == [[2, 0, 1], [1, 2, 0]]
    np.testing.assert_allclose(scores, [[0.96, 0.8, 0.6], [0.6, 0.48, 0.0]], atol=1e-6)
