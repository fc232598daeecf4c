"""Yes/No reranker scoring with vLLM: prefix caching, the adapter as a LoRARequest.

Importable only in the .venv-vllm environment (`make setup-vllm`: vLLM pins its own torch and
transformers, so it cannot share .venv). Takes the token ids that reranker.PromptBuilder
builds, so prompts are identical to the HF engine's, and returns the same score:
logprob("Yes") - logprob("No") after prefix + suffix, which equals logit("Yes") - logit("No")
(log-softmax subtracts one constant from every logit of a position).

    scorer = VllmScorer("models/base/smollm2-135m-instruct", max_length=256, max_lora_rank=16,
                        engine_args=vllm_settings(spec, "auto"))   # on a GPU: the profile's
    [scores] = scorer.score([(prefix_ids, [suffix_ids, ...])], yes_no=(yes_id, no_id),
                            adapter="models/rerankers/smollm135m/all")

One prompt per (row, candidate), all in one generate() call: vLLM commits a prompt's full KV
blocks when it schedules them, so every candidate of a row reuses its shared prefix, within the
same step too. vLLM wants the engine created under `if __name__ == "__main__":` (workers are
spawned); `scripts/vllm_score.py` is a ready-made subprocess for tests and benchmarks.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import numpy as np

from eedi.precision import vllm_dtype
from eedi.rerank.vllm_env import apply_cpu_environment

MAX_LABELS = 35  # eedi.rerank.listwise.LABELS (not imported: that module needs numpy + click only,
                 # but keeps this one free of the main venv's layout)

# vLLM's LoRA slots come in these ranks only (vllm.config.lora.MaxLoRARanks)
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def lora_rank(adapter: str) -> int:
    """The rank r of a peft LoRA folder (adapter_config.json)."""
    return int(json.loads((Path(adapter) / "adapter_config.json").read_text())["r"])


def is_quantized(model: str) -> bool:
    """Whether a local model folder holds pre-quantised weights (AWQ/GPTQ/compressed-tensors:
    config.json names a quantization_config, which vLLM reads to pick its 4-bit kernels)."""
    config = Path(model) / "config.json"
    return config.is_file() and "quantization_config" in json.loads(config.read_text())


def four_bit_args(quantize_4bit: bool, cuda: bool, model: str) -> dict:
    """vllm.LLM's arguments for a reranker trained on a 4-bit base (spec.quantize_4bit): the
    base quantised to 4 bits as it loads (bitsandbytes, NF4, as transformers' QLoRA base) with
    the LoRA adapter on top, as vLLM's LoRA-with-quantization example serves one, so vLLM and
    the HF engine score the model that was trained. Without CUDA vLLM has no bitsandbytes: an
    error, never the full-precision base served in its place."""
    if not quantize_4bit:
        return {}
    if not cuda:
        raise click.ClickException(
            f"{model}: this reranker trained on a 4-bit (NF4) base; vLLM serves that only on "
            "CUDA (quantization='bitsandbytes'). Here, score it with ENGINE=hf, which loads the "
            "same 4-bit base, or merge + quantise it (make quantize) for vLLM")
    return {"quantization": "bitsandbytes"}


def slot_rank(rank: int) -> int:
    """The smallest rank vLLM allocates LoRA slots for that holds `rank`."""
    for allowed in LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise click.ClickException(f"LoRA rank {rank} is above vLLM's largest, {LORA_RANKS[-1]}")


def make_llm(base_model: str, max_model_len: int, dtype: str = "auto", seed: int = 0,
             engine_args: dict | None = None, kv_cache_gib: float = 1.0,
             quantize_4bit: bool = False, **extra):
    """(vllm.LLM over base_model with prefix caching, the arguments it got beyond model, dtype
    and seed): what VllmScorer and the synthetic-question writer (eedi.synth.vllm_writing)
    share. dtype "auto": eedi.precision's for this device; engine_args (the registry's GPU
    profile) apply on CUDA only; on CPU the engine runs eager with a kv_cache_gib KV cache;
    extra: more vllm.LLM arguments (LoRA slots, logprobs)."""
    import torch
    from vllm import LLM

    cuda = torch.cuda.is_available()
    if dtype == "auto":  # the HF engine's dtype on this device (bf16 for 4-bit on CPU)
        dtype = vllm_dtype(quantized=is_quantized(base_model))
    kwargs = {"tensor_parallel_size": 1, "max_model_len": max_model_len,
              **four_bit_args(quantize_4bit, cuda, base_model)}
    if cuda and engine_args:
        kwargs.update(engine_args)
        if kwargs["tensor_parallel_size"] > torch.cuda.device_count():
            raise click.ClickException(
                f"{base_model}: tensor_parallel_size {kwargs['tensor_parallel_size']} needs "
                f"that many GPUs; this process sees {torch.cuda.device_count()} "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
                f"run it with more GPUs (make rerank GPUS=n) or set --tensor-parallel")
    if not cuda:
        apply_cpu_environment()
        # eager: the CPU backend's default torch.compile warm-up takes minutes; 32-token
        # KV blocks (its default is 128) so more of each shared prefix is cached and reused
        kwargs.update(enforce_eager=True, block_size=32,
                      kv_cache_memory_bytes=int(kv_cache_gib * 2**30))
    kwargs.update(extra)
    return LLM(model=str(base_model), dtype=dtype, seed=seed, enable_prefix_caching=True,
               **kwargs), kwargs


class VllmScorer:
    """One vLLM engine over a base model; score() runs it with or without a LoRA adapter.

    max_lora_rank: None = no LoRA (an adapter passed to score() is then an error); else the
    largest adapter rank to be served (rounded up to a rank vLLM supports). dtype "auto":
    eedi.precision's for this device (fp32 on CPU, bf16 from Ampere on, "half" on a T4; a
    4-bit folder on CPU: bf16, the only float type vLLM's CPU 4-bit kernel has besides fp16).
    kv_cache_gib: the KV cache's size on CPU (vLLM's default there is a share of RAM).
    quantize_4bit: the base as 4-bit NF4, as it trained (four_bit_args; CUDA only).
    engine_args: on a GPU, vllm.LLM arguments from the registry's profile (eedi.registry.
    vllm_settings: tensor_parallel_size, gpu_memory_utilization, enforce_eager, max_model_len,
    ...); a 4-bit AWQ/GPTQ/compressed-tensors folder needs none: vLLM reads its config. On CPU
    they are ignored: vLLM's CPU backend runs one process, eager, with its own memory settings.
    """

    def __init__(self, base_model: str, max_length: int, max_lora_rank: int | None = None,
                 dtype: str = "auto", kv_cache_gib: float = 1.0, seed: int = 0,
                 engine_args: dict | None = None, quantize_4bit: bool = False):
        extra = {}
        if max_lora_rank is not None:
            extra.update(enable_lora=True, max_lora_rank=slot_rank(max_lora_rank), max_loras=1)
        self.max_length = max_length
        self.max_lora_rank = None if max_lora_rank is None else slot_rank(max_lora_rank)
        self._lora_ids: dict[str, int] = {}
        started = time.perf_counter()
        # processed_logprobs: a request's logprobs after its allowed_token_ids mask (score()),
        # i.e. log-softmax over Yes and No alone; their difference is still the logit difference
        # max_logprobs: a listwise window's 35 labels all come back (vLLM's default is 20)
        self.llm, self.engine_args = make_llm(
            base_model, max_length + 8, dtype, seed, engine_args, kv_cache_gib, quantize_4bit,
            logprobs_mode="processed_logprobs", max_logprobs=MAX_LABELS, **extra)  # + 1 generated
        self.startup_s = time.perf_counter() - started

    def _lora_request(self, adapter: str | None):
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest
        path = str(Path(adapter).resolve())
        if self.max_lora_rank is None:
            raise click.ClickException(f"{adapter}: this VllmScorer was created without LoRA "
                                       f"(max_lora_rank=None); cannot serve an adapter")
        if lora_rank(path) > self.max_lora_rank:
            raise click.ClickException(f"{adapter}: LoRA rank {lora_rank(path)} > the engine's "
                                       f"max_lora_rank {self.max_lora_rank}")
        if path not in self._lora_ids:
            self._lora_ids[path] = len(self._lora_ids) + 1  # ids start at 1
        lora_id = self._lora_ids[path]
        return LoRARequest(f"adapter{lora_id}", lora_id, path)

    def score(self, rows: list[tuple[list[int], list[list[int]]]], yes_no: tuple[int, int],
              adapter: str | None = None, progress: bool = False) -> list[np.ndarray]:
        """rows: [(prefix ids, [suffix ids per candidate])] -> one float32 array per row:
        logprob(Yes) - logprob(No) after prefix + suffix (= the logit difference)."""
        from vllm import SamplingParams

        yes, no = map(int, yes_no)
        prompts = []
        for prefix, suffixes in rows:
            for suffix in suffixes:
                ids = [int(t) for t in prefix] + [int(t) for t in suffix]
                if len(ids) > self.max_length:
                    raise click.ClickException(f"a prompt of {len(ids)} tokens is longer than "
                                               f"max_length {self.max_length}")
                prompts.append({"prompt_token_ids": ids})
        out = [np.empty(len(s), dtype=np.float32) for _, s in rows]
        if not prompts:
            return out
        # Yes and No the only tokens allowed, their logprobs taken after that mask (the engine's
        # logprobs_mode): both always present, unlike a top-k over the vocabulary; greedy, one
        # token, no detokenising. Kaggle's vLLM 0.19.1 has this, not 0.32's logprob_token_ids.
        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=2,
                                allowed_token_ids=[yes, no], detokenize=False)
        results = self.llm.generate(prompts, params, use_tqdm=progress,
                                    lora_request=self._lora_request(adapter))
        margins = []
        for result in results:
            logprobs = result.outputs[0].logprobs[0]
            if yes not in logprobs or no not in logprobs:
                raise RuntimeError(f"vLLM returned logprobs for {sorted(logprobs)}, not for "
                                   f"Yes/No {yes}/{no}")
            margins.append(logprobs[yes].logprob - logprobs[no].logprob)
        k = 0
        for r, (_, suffixes) in enumerate(rows):
            out[r][:] = margins[k:k + len(suffixes)]
            k += len(suffixes)
        return out

    def label_logprobs(self, sequences: list[list[int]], label_ids: list[int], sizes: list[int],
                       adapter: str | None = None, progress: bool = False) -> list[np.ndarray]:
        """Listwise prompts (ListPromptBuilder.encode_window's ids) -> per prompt the logprobs
        of its first `size` labels at the answer position, in label order: the only tokens
        allowed, so a log-softmax over them (each = its logit minus one constant per prompt:
        the same order and differences as listwise_scoring.label_logits)."""
        from vllm import SamplingParams

        prompts, params = [], []
        for ids, size in zip(sequences, sizes):
            if len(ids) > self.max_length:
                raise click.ClickException(f"a prompt of {len(ids)} tokens is longer than "
                                           f"max_length {self.max_length}")
            allowed = [int(t) for t in label_ids[:size]]
            prompts.append({"prompt_token_ids": [int(t) for t in ids]})
            params.append(SamplingParams(max_tokens=1, temperature=0.0, logprobs=size,
                                         allowed_token_ids=allowed, detokenize=False))
        if not prompts:
            return []
        results = self.llm.generate(prompts, params, use_tqdm=progress,
                                    lora_request=self._lora_request(adapter))
        out = []
        for result, size in zip(results, sizes):
            logprobs = result.outputs[0].logprobs[0]
            missing = [t for t in label_ids[:size] if t not in logprobs]
            if missing:
                raise RuntimeError(f"vLLM returned no logprobs for labels {missing}")
            out.append(np.array([logprobs[t].logprob for t in label_ids[:size]], dtype=np.float32))
        return out
