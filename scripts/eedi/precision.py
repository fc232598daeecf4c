"""Which float type a model runs in, by device, in one place for both engines and training:

    CPU                               float32
    CUDA, compute capability >= 8.0   bfloat16   (A100, H100, L4, RTX 30xx/40xx)
    CUDA, compute capability <  8.0   float16    (T4 = 7.5, V100 = 7.0: no bf16; vLLM refuses it)

    dtype = model_dtype()              # torch.float32 / torch.bfloat16 / torch.float16
    trainer_precision()                # {"bf16": ..., "fp16": ..., "use_cpu": ...} for TrainingArguments
    vllm_dtype()                       # "float32" / "bfloat16" / "half" for vllm.LLM(dtype=...)
    vllm_dtype(quantized=True)         # the same on a GPU; "bfloat16" on CPU (see below)
    sorted_chunk_rows()                # 16 on CPU, 64 on CUDA: rows per length-sorted forward

A 4-bit folder (quantize.py's W4A16) served by vLLM on CPU runs in bfloat16: vLLM's CPU kernel
for those layers (torch.ops._C.cpu_gemm_wna16) is built for bfloat16 and float16 only, and
float32 fails at the first forward pass ('"cpu_gemm_wna16" not implemented for 'Float'').
"""

from __future__ import annotations

import torch

BF16_CAPABILITY = (8, 0)  # Ampere and later


def model_dtype() -> torch.dtype:
    if not torch.cuda.is_available():
        return torch.float32
    if tuple(torch.cuda.get_device_capability()) >= BF16_CAPABILITY:
        return torch.bfloat16
    return torch.float16


def trainer_precision() -> dict:
    """Mixed-precision flags of transformers' TrainingArguments for this device."""
    dtype = model_dtype()
    return {"bf16": dtype == torch.bfloat16, "fp16": dtype == torch.float16,
            "use_cpu": not torch.cuda.is_available()}


def vllm_dtype(quantized: bool = False) -> str:
    dtype = model_dtype()
    if quantized and dtype == torch.float32:
        dtype = torch.bfloat16
    return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "half"}[dtype]


def sorted_chunk_rows() -> int:
    """Rows per forward pass of the retriever's length-sorted chunks (retrieval.length_batching).

    A CPU computes every padded token, so small chunks of near-equal length pay: on the real
    data 16 rows trained 1.63x the examples/s of 64 (padding 1.12 tokens per real one against
    1.57; 8 rows: 1.66x; docs/results.md, "CPU speed"). A GPU runs a chunk's rows side by side,
    where fewer, larger launches pay: 64 there, as before.
    """
    return 64 if torch.cuda.is_available() else 16
