"""eedi.registry's vLLM settings per GPU profile (the Kaggle 2x T4 profile: fp16 cards of 16 GB,
so 32B and 72B span both GPUs by tensor parallelism and 14B runs one copy per GPU), the "auto"
profile by faked compute capability, and scripts/show_spec.py, which Make asks how many GPUs one
copy of a reranker spans and, with --stamp, what each model rule in Make depends on."""

import dataclasses
import json

import pytest
import torch

import show_spec
from eedi.model_folder import save_spec
from eedi.registry import load_spec
from eedi.registry import (RERANKERS, RETRIEVERS, VLLM_PROFILES, Reranker, lookup, training_fields,
                           vllm_profile, vllm_settings)


@pytest.mark.parametrize("name, t4_copies_per_2_gpus", [
    ("qwen32b", 1), ("qwen72b", 1), ("qwen14b", 2), ("gemma9b", 2), ("smollm135m", 2)])
def test_t4_profile_splits_only_the_models_that_do_not_fit_one_t4(name, t4_copies_per_2_gpus):
    t4 = vllm_settings(RERANKERS[name], "t4")
    assert 2 // t4["tensor_parallel_size"] == t4_copies_per_2_gpus
    # the 2nd place's T4 settings: eager (no CUDA graphs), most of the memory, long context
    assert t4["enforce_eager"] is True and t4["gpu_memory_utilization"] >= 0.95
    assert t4["max_model_len"] > RERANKERS[name].max_length
    # one 80 GB card holds every 4-bit model: one copy per GPU, CUDA graphs on
    gpu = vllm_settings(RERANKERS[name], "gpu")
    assert gpu["tensor_parallel_size"] == 1 and gpu["enforce_eager"] is False


def test_an_entry_overrides_its_profile_only_where_it_says():
    spec = Reranker(model="x", vllm={"t4": {"tensor_parallel_size": 2, "cpu_offload_gb": 8}})
    assert vllm_settings(spec, "t4") == {**VLLM_PROFILES["t4"], "tensor_parallel_size": 2,
                                         "cpu_offload_gb": 8}
    assert vllm_settings(spec, "gpu") == {**VLLM_PROFILES["gpu"], "max_model_len": 392}


def test_max_model_len_defaults_to_the_prompt_and_must_hold_it():
    spec = Reranker(model="x", max_length=300)
    assert vllm_settings(spec, "gpu")["max_model_len"] == 308
    with pytest.raises(ValueError, match="max_model_len 256 must exceed .* max_length 300"):
        vllm_settings(spec.replace(vllm={"t4": {"max_model_len": 256}}), "t4")
    with pytest.raises(ValueError, match="not one of"):
        vllm_profile("a100")


@pytest.mark.parametrize("capability, profile", [((7, 5), "t4"), ((7, 0), "t4"), ((8, 0), "gpu"),
                                                 ((9, 0), "gpu")])
def test_auto_profile_follows_the_gpu(monkeypatch, capability, profile):
    assert vllm_profile("auto") == "gpu"  # this machine: no GPU; CPU ignores the settings
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    assert vllm_profile("auto") == profile
    assert vllm_settings(RERANKERS["qwen32b"])["tensor_parallel_size"] == (2 if profile == "t4" else 1)


def test_the_settings_travel_with_a_trained_model(tmp_path):
    spec = RERANKERS["qwen72b"].replace(adapter=str(tmp_path))
    save_spec(spec, tmp_path)
    assert load_spec(Reranker, str(tmp_path)).vllm == spec.vllm
    old = json.loads((tmp_path / Reranker.SPEC_FILE).read_text())
    del old["vllm"]  # a folder saved before the field existed: the profile's defaults
    (tmp_path / Reranker.SPEC_FILE).write_text(json.dumps(old))
    assert vllm_settings(load_spec(Reranker, str(tmp_path)), "t4")["tensor_parallel_size"] == 1
    assert lookup(Reranker, "someone/unknown-model").vllm == {}


def test_show_spec_prints_a_setting_or_the_whole_spec(run_cli):
    result = run_cli(show_spec.main, ["--model", "qwen32b", "--vllm-profile", "t4",
                                      "--vllm-setting", "tensor_parallel_size"])
    assert result.exit_code == 0 and result.output == "2\n"
    result = run_cli(show_spec.main, ["--model", "qwen14b", "--vllm-profile", "t4"])
    spec = json.loads(result.output)
    assert spec["model"] == "Qwen/Qwen2.5-14B-Instruct" and spec["vllm_settings"]["tensor_parallel_size"] == 1
    result = run_cli(show_spec.main, ["--model", "qwen32b", "--vllm-setting", "nope"])
    assert result.exit_code == 2 and "not one of" in result.output


def test_gpu_rerankers_name_their_kaggle_models_base_and_it_is_no_training_field():
    """make kernel attaches the base model from Kaggle Models by the registry's handle
    (OWNER/MODEL/FRAMEWORK/VARIATION/VERSION); the handle is a serving setting, so Make's stamp
    (training_fields) leaves it out and changing it retrains nothing, while lr is in it."""
    for name, spec in RERANKERS.items():
        if spec.gguf is None:  # the GPU entries
            assert len(spec.kaggle_model.split("/")) == 5, name
    assert RERANKERS["smollm135m"].kaggle_model is None  # shipped in a PyPI package instead
    spec = RERANKERS["qwen32b"]
    assert "kaggle_model" not in training_fields(spec) and training_fields(spec)["lr"] == spec.lr
    assert training_fields(spec.replace(kaggle_model="a/b/c/d/2")) == training_fields(spec)
    assert training_fields(spec.replace(lr=3e-4)) != training_fields(spec)
    # a retriever's negatives_from is a Make prerequisite (the ranking's file), not a stamp field:
    # a new default retrains through that file; everything else is stamped
    minilm = RETRIEVERS["minilm"]
    assert training_fields(minilm) == {k: v for k, v in dataclasses.asdict(minilm).items()
                                       if k != "negatives_from"}
    assert training_fields(minilm.replace(negatives_from="tfidf")) == training_fields(minilm)


def test_show_spec_stamp_is_the_sorted_training_fields_of_either_kind(run_cli):
    result = run_cli(show_spec.main, ["--kind", "retriever", "--model", "minilm", "--stamp"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == training_fields(RETRIEVERS["minilm"])
    assert list(json.loads(result.output)) == sorted(training_fields(RETRIEVERS["minilm"]))
    result = run_cli(show_spec.main, ["--model", "qwen32b", "--stamp"])
    assert "kaggle_model" not in json.loads(result.output)
    result = run_cli(show_spec.main, ["--kind", "retriever", "--model", "minilm", "--vllm-setting", "x"])
    assert result.exit_code == 2 and "only rerankers" in result.output


def test_a_listwise_window_needs_window_minus_one_negatives_and_a_stride_within_it():
    """Training shows the gold among window - 1 negatives: fewer would train smaller windows
    than inference reads (labels never trained); a stride wider than the window skips ranks."""
    import pytest
    from eedi.registry import RERANKERS, Reranker
    for name, spec in RERANKERS.items():
        assert not spec.listwise or spec.n_negatives + 1 >= spec.window, name
    with pytest.raises(ValueError, match="n_negatives is 7 .raise it to 9"):
        Reranker(model="m", reranking="listwise", window=10)
    with pytest.raises(ValueError, match="stride = 6 > window 5"):
        Reranker(model="m", reranking="listwise", window=5, stride=6, n_negatives=4)
    with pytest.raises(ValueError, match="at most 35"):
        Reranker(model="m", reranking="listwise", window=36, n_negatives=35)
    assert Reranker(model="m", window=3).reranking == "pointwise"  # pointwise: never checked
