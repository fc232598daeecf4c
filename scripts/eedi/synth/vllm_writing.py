"""The synthetic-question writer on vLLM: the prompts synth.py builds, sampled as HF generate
samples them (temperature, top-p, the answer prefilled with PREFILL), batched by vLLM with
prefix caching (a chunk's prompts share the instruction and often their shots).

Importable only in the .venv-vllm environment (`make setup-vllm`); `scripts/vllm_generate.py`
is the subprocess synth.py --engine vllm starts once for all its missing chunks.

    writer = VllmWriter("models/base/smollm2-135m-instruct", max_model_len=2048)
    texts = writer.generate([prompt_ids, ...], seed=42, max_new_tokens=256, temperature=0.8)
    # ["Subject: ...", ...]: PREFILL + each continuation, the text question_format.parse reads

On a GPU every prompt gets its own sampling seed (seed * 100,003 + its index): a chunk's texts
do not depend on how vLLM batches it, and two prompts for one target (--per 2) differ. vLLM's
CPU build crashes on per-request seeds once a prefill is split across scheduler steps ("CPU
Generator does not use offset": a chunk of few-shot prompts always is), so there the engine is
seeded instead (VllmWriter(seed=...)): the same job on the same build gives the same texts.
"""

from __future__ import annotations

from eedi.rerank.vllm_scoring import make_llm
from eedi.synth.generation import PREFILL


class VllmWriter:
    """One vLLM engine over the writer's base model (no adapter)."""

    def __init__(self, base_model: str, max_model_len: int, dtype: str = "auto",
                 engine_args: dict | None = None, kv_cache_gib: float = 1.0,
                 quantize_4bit: bool = False, seed: int = 0):
        import torch
        self.max_model_len = max_model_len
        self.seed_per_prompt = torch.cuda.is_available()
        self.llm, self.engine_args = make_llm(base_model, max_model_len, dtype, seed=seed,
                                              engine_args=engine_args, kv_cache_gib=kv_cache_gib,
                                              quantize_4bit=quantize_4bit)

    def generate(self, prompts: list[list[int]], seed: int, max_new_tokens: int = 256,
                 temperature: float = 0.8, top_p: float = 0.95,
                 progress: bool = True) -> list[str]:
        """Token-id prompts (the chat template's text + PREFILL, tokenised without special
        tokens, as HF generate reads them) -> PREFILL + the sampled continuation of each."""
        from vllm import SamplingParams

        too_long = [len(p) for p in prompts if len(p) + max_new_tokens > self.max_model_len]
        if too_long:
            raise ValueError(f"a prompt of {max(too_long)} tokens + {max_new_tokens} new is longer "
                             f"than max_model_len {self.max_model_len}")
        params = [SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_new_tokens,
                                 seed=seed * 100_003 + i if self.seed_per_prompt else None,
                                 skip_special_tokens=True)
                  for i in range(len(prompts))]
        results = self.llm.generate([{"prompt_token_ids": [int(t) for t in p]} for p in prompts],
                                    params, use_tqdm=progress)
        return [PREFILL + r.outputs[0].text for r in results]
