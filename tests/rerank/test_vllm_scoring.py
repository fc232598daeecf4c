"""eedi.rerank.vllm_scoring's pure helpers (the engine itself runs in tests/test_vllm.py, in
.venv-vllm): `is_quantized` reads config.json's quantization_config, which decides the dtype a
4-bit folder gets on CPU; `slot_rank` rounds a LoRA rank up to one vLLM allocates;
`four_bit_args` serves a reranker trained on a 4-bit base 4-bit (it was served on its
full-precision base: another model than the one trained and scored by the HF engine)."""

import json

import click
import pytest

from eedi.rerank.vllm_scoring import four_bit_args
from eedi.rerank.vllm_scoring import is_quantized
from eedi.rerank.vllm_scoring import slot_rank


def test_a_folder_is_quantized_when_its_config_names_a_quantization_config(tmp_path):
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "config.json").write_text(json.dumps(
        {"model_type": "llama", "quantization_config": {"quant_method": "compressed-tensors"}}))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert is_quantized(str(tmp_path / "q"))
    assert not is_quantized(str(tmp_path / "plain"))
    assert not is_quantized("Qwen/Qwen2.5-32B-Instruct")  # a hub id, no local folder


def test_slot_rank_rounds_up_and_refuses_above_the_largest():
    assert slot_rank(8) == 8 and slot_rank(9) == 16
    with pytest.raises(click.ClickException, match="above vLLM's largest"):
        slot_rank(10_000)


def test_a_4bit_reranker_is_served_4bit_or_refused():
    assert four_bit_args(False, cuda=False, model="m") == {}
    assert four_bit_args(True, cuda=True, model="m") == {"quantization": "bitsandbytes"}
    with pytest.raises(click.ClickException, match="ENGINE=hf"):
        four_bit_args(True, cuda=False, model="m")
