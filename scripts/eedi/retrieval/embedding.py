"""Bi-encoder retrieval: load an embedder from a registry spec, encode, cache, search.

Shared by `retrieve_embed.py` (zero-shot and fine-tuned rankings), the retriever's training
and its benchmark, so a model is loaded, pooled and prompted the same way everywhere.

    spec = embedder_spec("minilm")                 # or an HF id, or a trained model folder
    model = load_embedder(spec)
    docs = cached_embeddings(model, spec, names, cache_dir)   # (m, d), L2-normalised
    queries = encode(model, [spec.query_prefix + t for t in texts])
    scores, idx = search(queries, docs, k=100)     # exact inner product = cosine
    ranking = rank_rows(spec, model, rows, mis, top_k=100, cache_dir=...)   # all of it
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

from eedi.files import atomic_write
from eedi.long_table import query_text
from eedi.model_folder import nf4_config, one_cpu_path
from eedi.registry import load_spec
from eedi.precision import model_dtype
from eedi.ranking import ranking_from_topk
from eedi.registry import Retriever, resolve_model_path
from eedi.run_log import log


def embedder_spec(name_or_path: str) -> Retriever:
    """A registry name, a folder written by the retriever's training (its retriever.json says
    how to load it), or any HF id / local folder with the default settings."""
    return load_spec(Retriever, name_or_path)


def load_embedder(spec: Retriever, device: str | None = None) -> SentenceTransformer:
    """Transformer -> Pooling(spec.pooling) -> Normalize, plus the LoRA adapter if trained.

    LLM embedders (LoRA) load in the device's dtype (eedi.precision: fp32 on CPU), with 4-bit
    NF4 weights when spec.quantize_4bit; encoders load in fp32. The same code everywhere.
    """
    model_kwargs = {}
    if spec.lora is not None:  # LLM embedders: the device's dtype (encoders stay fp32)
        model_kwargs["dtype"] = model_dtype()
    if spec.quantize_4bit:
        model_kwargs["quantization_config"] = nf4_config(model_dtype())
    transformer = Transformer(
        resolve_model_path(spec.model), max_seq_length=spec.max_length, model_kwargs=model_kwargs,
        # Plain text in, token states out. Without this, sentence-transformers 6 wraps every text
        # of a tokenizer that has a chat template (any instruct LLM) in that template, and
        # last-token pooling would read the template's closing tokens, not the text's.
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="token_embeddings")
    tokenizer = transformer.tokenizer
    if tokenizer.pad_token is None:  # decoder LLMs ship without one; last-token pooling
        tokenizer.pad_token = tokenizer.eos_token  # reads the attention mask, not the pad id
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=spec.pooling)
    model = SentenceTransformer(modules=[transformer, pooling, Normalize()], device=device)
    if spec.adapter:
        model.load_adapter(spec.adapter)
    return one_cpu_path(model)


def encode(model: SentenceTransformer, texts: list[str], batch_size: int = 64,
           progress: bool = True) -> np.ndarray:
    """Texts -> (n, d) float32, L2-normalised, with a tqdm bar."""
    emb = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                       normalize_embeddings=True, show_progress_bar=progress)
    return np.ascontiguousarray(emb, dtype=np.float32)


def model_fingerprint(spec: Retriever) -> dict:
    """What identifies a model's embeddings: its spec, plus size and mtime of local weight
    files, so retraining into the same folder invalidates the cache."""
    weights = []
    for location in (resolve_model_path(spec.model), spec.adapter):
        if location and Path(location).is_dir():
            for f in sorted(Path(location).rglob("*")):
                if f.suffix in (".safetensors", ".bin", ".pt"):
                    st = f.stat()
                    weights.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return {"spec": dataclasses.asdict(spec), "weights": weights}


def cached_embeddings(model: SentenceTransformer, spec: Retriever, texts: list[str],
                      cache_dir: Path | None, batch_size: int = 64) -> np.ndarray:
    """encode(texts), memoised on disk under cache_dir, keyed by the model and the texts.

    The 2,587 misconception names are embedded once per model, not once per run or fold.
    cache_dir=None disables the cache.
    """
    if cache_dir is None:
        return encode(model, texts, batch_size)
    key = hashlib.sha256(json.dumps([model_fingerprint(spec), list(texts)]).encode())
    path = Path(cache_dir) / f"{key.hexdigest()[:24]}.npy"
    if path.is_file():
        log.info("embeddings of %d texts from cache %s", len(texts), path)
        return np.load(path)
    emb = encode(model, texts, batch_size)
    with atomic_write(path) as tmp:
        with open(tmp, "wb") as f:  # np.save(path) would append ".npy" to the temp name
            np.save(f, emb)
    return emb


def search(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search (cosine on normalised vectors): (scores, doc indices),
    each (n_queries, min(k, n_docs)), best first."""
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(np.ascontiguousarray(docs, dtype=np.float32))
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(docs)))


def rank_rows(spec: Retriever, model: SentenceTransformer, rows: pd.DataFrame, mis: pd.DataFrame,
              top_k: int, cache_dir: Path | None, batch_size: int = 64) -> pd.DataFrame:
    """The ranking (contract) of the long table's `rows` over all misconceptions `mis`.

    Each query is query_text(row) behind the model's query prefix (an instruction, for LLM
    embedders); misconception names are embedded as they are (and cached).
    """
    docs = cached_embeddings(model, spec, mis["MisconceptionName"].tolist(), cache_dir, batch_size)
    texts = [spec.query_prefix + query_text(r) for r in rows.to_dict("records")]
    queries = encode(model, texts, batch_size)
    scores, idx = search(queries, docs, top_k)
    ids = mis["MisconceptionId"].to_numpy(dtype=np.int64)
    return ranking_from_topk(rows["QuestionId_Answer"], ids[idx], scores)
