"""What an LLM reranker costs on Kaggle's 2x T4, before any Kaggle run: a roofline projection.

A reranking with prefix caching runs, per test row, its prompt prefix once (P tokens) and each
of its N candidates' suffixes (S tokens each) after it: rows x (P + N x S) tokens of prefill,
the logits needed at one position per candidate. Each forward pass of B tokens on a GPU costs
at least the larger of

    compute:  2 x (non-embedding parameters on that GPU) x B / (T4 fp16 peak x MFU)
    memory:   (weight bytes on that GPU) / (T4 memory bandwidth)  [+ offloaded bytes / PCIe]

    models = QWEN25                       # 14B, 32B, 72B: shapes from their model cards
    layouts(models["32b"])                # [Layout(tp=1, ...: does not fit), Layout(tp=2, ...)]
    seconds_per_token(models["32b"], layout, batch_tokens=2048, mfu=0.35)
    rerank_seconds(...), largest_top_n(...)

Figures and their sources (stated, not measured here: no T4 was lent):
    T4 peak fp16 with tensor cores 65 TFLOPS, memory 320 GB/s, 16 GB (15 GiB usable):
    NVIDIA T4 Tensor Core GPU datasheet. PCIe 3.0 x16 host->device ~12 GB/s in practice
    (15.75 GB/s theoretical). MFU (the share of peak a 4-bit Marlin prefill reaches) is an
    ASSUMPTION (default 0.35): replace it by a measured one (make budget GPU_TIMINGS=...).
    Qwen2.5 shapes: the Qwen2.5 model cards (parameters, non-embedding parameters, hidden,
    vocab 152,064, untied embeddings from 14B up). 4-bit weights: 0.5 bytes per parameter +
    an fp16 scale per group of 128 (GPTQ/AWQ, W4A16), embeddings and lm_head left in fp16,
    as llmcompressor and AutoAWQ leave them: 14B ~9.9 GB, 32B ~19.1 GB, 72B ~41.1 GB (the
    public AWQ checkpoints weigh about that).
"""

from __future__ import annotations

from dataclasses import dataclass

T4_FP16_FLOPS = 65e12
T4_BANDWIDTH = 320e9
T4_MEMORY = 15 * 2**30           # usable of the 16 GB
PCIE_BANDWIDTH = 12e9
HOST_MEMORY = 29e9               # a T4 x2 session's RAM as Kaggle's panel shows it (29 GB)
GPUS = 2
GROUP = 128


@dataclass(frozen=True)
class Model:
    name: str
    params: float                # all parameters
    non_embedding: float         # what each token's matmuls touch
    hidden: int
    vocab: int = 152064

    @property
    def embedding(self) -> float:
        return self.params - self.non_embedding

    def weight_bytes(self) -> float:
        """4-bit linear weights with an fp16 scale per group; embeddings and lm_head in fp16."""
        return self.non_embedding * (0.5 + 2 / GROUP) + self.embedding * 2


QWEN25 = {
    "14b": Model("Qwen2.5-14B", 14.7e9, 13.1e9, 5120),
    "32b": Model("Qwen2.5-32B", 32.5e9, 31.0e9, 5120),
    "72b": Model("Qwen2.5-72B", 72.7e9, 70.0e9, 8192),
}


@dataclass(frozen=True)
class Layout:
    tp: int                      # GPUs one copy spans (vLLM's tensor_parallel_size)
    copies: int                  # copies at once, each on its own rows
    weights_per_gpu: float       # bytes
    offload_per_gpu: float       # bytes that do not fit and stream from host memory per pass

    @property
    def name(self) -> str:
        return "one copy per T4" if self.tp == 1 else f"one copy over {self.tp} T4s"

    @property
    def host_bytes(self) -> float:
        """Host memory the offloaded weights take, all copies together."""
        return self.offload_per_gpu * self.tp * self.copies

    @property
    def fits(self) -> bool:
        """Offloaded weights leave 8 GB of the session's RAM to the notebook and the OS (the
        2nd place offloaded 2 x 8 GB of its 72B this way)."""
        return self.host_bytes <= HOST_MEMORY - 8e9


def layouts(model: Model, memory_share: float = 0.92, kv_bytes: float = 2e9) -> list[Layout]:
    """One copy per T4, and one copy over both; a copy whose weights leave less than kv_bytes
    of memory_share x 15 GiB for the KV cache and activations offloads the rest to the host
    (vLLM's cpu_offload_gb, as the 2nd place ran its 72B)."""
    out = []
    for tp in (1, GPUS):
        per_gpu = model.weight_bytes() / tp
        room = memory_share * T4_MEMORY - kv_bytes
        out.append(Layout(tp, GPUS // tp, per_gpu, max(0.0, per_gpu - room)))
    return out


def seconds_per_token(model: Model, layout: Layout, batch_tokens: int = 2048,
                      mfu: float = 0.35) -> dict:
    """Seconds per prefill token of the whole 2x T4 machine (all copies), by compute at `mfu`
    of peak, by memory (weights read once per pass of batch_tokens), and the projection (the
    larger). compute_peak_s: the same at 100% of peak, a floor."""
    compute = 2 * model.non_embedding / layout.tp * batch_tokens / (T4_FP16_FLOPS * mfu)
    memory = (layout.weights_per_gpu - layout.offload_per_gpu) / T4_BANDWIDTH \
        + layout.offload_per_gpu / PCIE_BANDWIDTH
    per_pass = max(compute, memory)
    tokens_per_s = batch_tokens * layout.copies / per_pass
    return {"compute_peak_s": compute * mfu / (batch_tokens * layout.copies),
            "compute_s": compute / (batch_tokens * layout.copies),
            "memory_s": memory / (batch_tokens * layout.copies),
            "projected_s": 1 / tokens_per_s,
            "bound": "compute" if compute >= memory else "memory"}


def rerank_seconds(per_token_s: float, rows: int, prefix_tokens: float, suffix_tokens: float,
                   top_n: int, fixed_s: float) -> float:
    """fixed (loading, engine start) + rows x (P + N x S) tokens x seconds per token."""
    return fixed_s + rows * (prefix_tokens + top_n * suffix_tokens) * per_token_s


def largest_top_n(per_token_s: float, rows: int, prefix_tokens: float, suffix_tokens: float,
                  fixed_s: float, seconds: float) -> int:
    """The most candidates per row whose reranking fits in `seconds`; 0 if not even one."""
    left = seconds - fixed_s - rows * prefix_tokens * per_token_s
    if left <= 0:
        return 0
    return int(left / (rows * suffix_tokens * per_token_s))


def load_seconds(model: Model, read_bandwidth: float = 0.5e9, engine_start_s: float = 120.0) -> float:
    """Stated default for a stage's fixed part: reading the 4-bit weights from the attached
    dataset (~0.5 GB/s, an assumption) and vLLM's start (~2 min with enforce_eager)."""
    return model.weight_bytes() / read_bandwidth + engine_start_s
