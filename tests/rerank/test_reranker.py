"""eedi.rerank.reranker's specs: the registry's rerankers are QLoRA on GPU and fp32 LoRA on CPU (the
SmolLM2 one from a GGUF), and any HF id gets a trainable LoRA. Loading a trained adapter is
checked in test_reranker_training.py, scoring in test_yes_no_scoring.py."""

from eedi.registry import RERANKERS
from eedi.rerank.reranker import reranker_spec


def test_registry_rerankers_are_qlora_on_gpu_and_fp32_lora_on_cpu():
    for name in ("qwen32b", "qwen14b", "qwen72b", "gemma9b"):
        assert RERANKERS[name].quantize_4bit and RERANKERS[name].lora["r"] >= 16
    assert RERANKERS["qwen32b"].model == "Qwen/Qwen2.5-32B-Instruct"
    small = RERANKERS["smollm135m"]
    assert not small.quantize_4bit and small.gguf.endswith(".gguf")
    assert reranker_spec("some/hf-model").lora is not None
