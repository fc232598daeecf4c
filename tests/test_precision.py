"""eedi.precision: the dtype by device, with the GPU faked (T4 = compute capability 7.5 has no
bf16; vLLM refuses bf16 there), and its use by both engines' loaders and the trainers."""

import bitsandbytes  # noqa: F401  before any test fakes CUDA: it picks its backend on import
import pytest
import torch

from eedi import precision
from eedi.registry import Reranker
from eedi.training_args import trainer_arguments


@pytest.fixture
def gpu(monkeypatch):
    """gpu((7, 5)) fakes a CUDA device of that compute capability; gpu(None) hides CUDA, so the
    CPU cases hold on a GPU machine too (tests/test_gpu.py runs beside them there)."""
    def fake(capability):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: capability is not None)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    return fake


def test_cpu_is_fp32(gpu):
    gpu(None)
    assert precision.model_dtype() == torch.float32 and precision.vllm_dtype() == "float32"
    assert precision.trainer_precision() == {"bf16": False, "fp16": False, "use_cpu": True}


@pytest.mark.parametrize("capability, dtype, vllm, flags", [
    ((7, 5), torch.float16, "half", {"bf16": False, "fp16": True, "use_cpu": False}),      # T4
    ((7, 0), torch.float16, "half", {"bf16": False, "fp16": True, "use_cpu": False}),      # V100
    ((8, 0), torch.bfloat16, "bfloat16", {"bf16": True, "fp16": False, "use_cpu": False}),  # A100
    ((9, 0), torch.bfloat16, "bfloat16", {"bf16": True, "fp16": False, "use_cpu": False}),  # H100
])
def test_gpus_without_bf16_get_fp16(gpu, capability, dtype, vllm, flags):
    gpu(capability)
    assert precision.model_dtype() == dtype and precision.vllm_dtype() == vllm
    assert precision.vllm_dtype(quantized=True) == vllm  # a 4-bit folder keeps the GPU's type
    assert precision.trainer_precision() == flags


def test_4bit_folder_served_by_vllm_on_cpu_is_bf16(gpu):
    """vLLM's CPU W4A16 kernel has no float32 build (tests/test_vllm.py serves such a folder)."""
    gpu(None)
    assert precision.vllm_dtype(quantized=True) == "bfloat16"


def test_the_trainers_arguments_follow_the_device(gpu, tmp_path):
    spec = Reranker(model="x")
    gpu(None)
    cpu = trainer_arguments(spec, tmp_path, 5, 0, save_steps=5, logging_steps=1)
    assert (cpu["bf16"], cpu["fp16"], cpu["use_cpu"]) == (False, False, True)
    gpu((7, 5))
    t4 = trainer_arguments(spec, tmp_path, 5, 0, save_steps=5, logging_steps=1)
    assert (t4["bf16"], t4["fp16"], t4["use_cpu"]) == (False, True, False)


def test_the_reranker_loads_in_the_devices_dtype_with_nf4_computing_in_it(gpu, monkeypatch, tiny_llama_dir):
    """load_model's arguments to from_pretrained on a faked T4: fp16, and NF4 computing in fp16
    (bf16 compute would fail there). No GPU runs: from_pretrained is intercepted."""
    from transformers import AutoModelForCausalLM

    from eedi.rerank.reranker import load_model
    seen = {}

    class Stop(Exception):
        pass

    def grab(path, **kwargs):
        seen.update(kwargs)
        raise Stop
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", grab)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    gpu((7, 5))
    with pytest.raises(Stop):
        load_model(Reranker(model=str(tiny_llama_dir), quantize_4bit=True))
    assert seen["dtype"] == torch.float16 and seen["device_map"] == {"": 0}
    assert seen["quantization_config"].bnb_4bit_compute_dtype == torch.float16
    gpu((9, 0))
    with pytest.raises(Stop):
        load_model(Reranker(model=str(tiny_llama_dir)))
    assert seen["dtype"] == torch.bfloat16
