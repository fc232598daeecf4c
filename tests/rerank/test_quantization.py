"""Merge and quantise for serving (eedi/rerank/quantization.py, scripts/quantize.py) on CPU, with the
real libraries (peft's merge, llmcompressor's GPTQ, compressed-tensors' packing) on a tiny
random Llama: the trained folder's NF4 setting is ignored (the base merges in fp32), the
adapter changes the weights, calibration prompts are the task's own and deterministic, the
saved weights are packed int4, and the folder reloads through eedi.rerank.reranker.load_model (the
reranker's own loading code) to Yes/No scores close to the merged fp32 model's. Shapes: the MLP
is zero-padded to whole groups per tensor-parallel GPU without changing the logits (Qwen2.5's
real widths checked on the meta device), and a width padding cannot fix stops the command.

Measured on this tiny model (one run, 72 (row, candidate) pairs; W4A16, groups of 128, 32
calibration prompts, deterministic): the quantised scores correlate with the merged fp32 ones
at r = 0.9965, max |gap| 0.025 and mean |gap| 0.0135 (mostly a shift shared by all pairs) on
margins with std 0.052; 11 of 12 rows keep their top candidate. The tolerances below leave
about 2x headroom on that (1 - r < 0.02, max |gap| < 0.05). `make test-qlora` runs this file.

The tiny Llama here is wider than conftest's (hidden 128, not 32): W4A16 quantises in groups
of 128 input features, so every Linear needs at least 128 inputs.
"""

import json

import click
import numpy as np
import pandas as pd
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open

import push_weights
import quantize as quantize_cli
import rerank
from conftest import MAPPING, NAMES, TINY_LORA, random_llama, ranking_of, write_dataset
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.model_folder import save_model_folder
from eedi.precision import model_dtype
from eedi.ranking import read_ranking
from eedi.registry import Reranker
from eedi.rerank.prompt import PromptBuilder
from eedi.rerank.quantization import (calibration_samples, check_servable, merge_adapter,
                                      pad_intermediate, prepare_for_serving, quantize,
                                      save_quantized, serving_shape_problems,
                                      serving_tensor_parallel)
from eedi.rerank.reranker import load_model, load_tokenizer, reranker_spec
from eedi.rerank.yes_no_scoring import score_prefix_reuse

LINEARS = 2 * 7  # q, k, v, o, gate, up, down in each of 2 layers
# Quantised vs merged fp32 scores on the 72 pairs (measured: see the module docstring)
MIN_CORRELATION = 0.98
MAX_GAP = 0.05


@pytest.fixture(scope="module")
def wide_llama_dir(tmp_path_factory):
    """conftest's random Llama at hidden 128, intermediate 256 (2 heads of 64): every Linear has
    >= 128 inputs, as W4A16's groups of 128 need."""
    return random_llama(tmp_path_factory.mktemp("wide_llama"), hidden=128, intermediate=256)


def trained_folder(base_dir, out):
    """A reranker folder as train_reranker.py writes it after QLoRA (quantize_4bit true,
    adapter "./") on base_dir, its adapter with random non-zero A and B (peft's
    init_lora_weights=False; by default B is zero and the adapter a no-op)."""
    from transformers import AutoModelForCausalLM
    spec = Reranker(model=str(base_dir), lora=TINY_LORA, max_length=192, quantize_4bit=True,
                    gradient_checkpointing=False, top_n=6)
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    lora = LoraConfig(task_type="CAUSAL_LM", init_lora_weights=False,
                      **{**TINY_LORA, "lora_alpha": TINY_LORA["r"]})
    model = get_peft_model(base, lora)
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), {"steps": 0})
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, wide_llama_dir):
    """trained_folder on the wide Llama."""
    return trained_folder(wide_llama_dir, tmp_path_factory.mktemp("models") / "tiny" / "all")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory, trained):
    """conftest's 4 train questions as a long table (12 rows, 9 labelled), a ranking of all 6
    misconceptions per row in a seeded order, the names and the PromptBuilder."""
    folder = write_dataset(tmp_path_factory.mktemp("kaggle"))
    rows = wide_to_long(read_questions_csv(folder / "train.csv", labelled=True))
    rng = np.random.default_rng(0)
    ranking = ranking_of({qa: [int(m) for m in rng.permutation(MAPPING["MisconceptionId"])]
                          for qa in rows["QuestionId_Answer"]})
    spec = reranker_spec(str(trained))
    prompts = PromptBuilder(load_tokenizer(spec), spec.max_length)
    return rows.set_index("QuestionId_Answer", drop=False), ranking, prompts


def all_pairs(rows, prompts):
    """Every (row, misconception) prompt: 12 rows x 6 candidates, as prefix-reuse rows."""
    return [prompts.encode(rows.loc[qa], list(NAMES.values())) for qa in rows.index]


def scores(model, pairs, prompts) -> np.ndarray:
    return np.concatenate(score_prefix_reuse(model, pairs, prompts.yes_no, prompts.pad_id))


def merged_and_calibration(trained, calibration):
    """The adapter merged into its fp32 base, its scores on every pair, and 32 calibration
    prompts: what each quantisation method starts from."""
    rows, ranking, prompts = calibration
    spec = reranker_spec(str(trained))
    merged = merge_adapter(spec)
    pairs = all_pairs(rows, prompts)
    samples = calibration_samples(rows, ranking, NAMES, prompts, n=32, top_n=6, seed=0)
    return spec, merged, pairs, scores(merged, pairs, prompts), samples


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, trained, calibration):
    """The merged fp32 model's scores, then the quantised folder (32 calibration prompts)."""
    prompts = calibration[2]
    spec, merged, pairs, merged_scores, samples = merged_and_calibration(trained, calibration)
    quantize(merged, samples, "W4A16")
    out = tmp_path_factory.mktemp("models") / "tiny.w4a16" / "all"
    save_quantized(merged, prompts.tokenizer, spec, out, {"calibration_samples": len(samples)})
    return out, merged_scores, pairs


# ----------------------------------------------------------------------------- merge

def test_merge_loads_the_base_in_fp32_not_4bit_and_the_adapter_changes_it(trained, wide_llama_dir, calibration):
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM
    rows, _, prompts = calibration
    spec = reranker_spec(str(trained))
    assert spec.quantize_4bit and spec.adapter  # as QLoRA training saved it
    merged = merge_adapter(spec)
    assert not isinstance(merged, PeftModel)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.modules())
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    q = merged.model.layers[0].self_attn.q_proj.weight
    assert q.dtype == model_dtype()  # fp32 on a CPU, bf16/fp16 on a GPU (eedi.precision)
    base = AutoModelForCausalLM.from_pretrained(wide_llama_dir, dtype=torch.float32)
    q = q.float().cpu()
    assert (q - base.model.layers[0].self_attn.q_proj.weight).abs().max() > 1e-2  # the adapter mattered
    pairs = all_pairs(rows, prompts)[:3]
    assert np.abs(scores(merged, pairs, prompts) - scores(base, pairs, prompts)).max() > 1e-2
    # merged == base + adapter as peft runs it unmerged (fp32: rounding only; a GPU's half
    # precision rounds the merged weights to 8 bits of mantissa)
    unmerged = PeftModel.from_pretrained(base, spec.adapter).eval()
    atol = 1e-4 if model_dtype() == torch.float32 else 5e-2
    np.testing.assert_allclose(scores(merged, pairs, prompts), scores(unmerged, pairs, prompts), atol=atol)


def test_merge_refuses_a_spec_without_adapter(wide_llama_dir):
    import click
    with pytest.raises(click.ClickException, match="no adapter"):
        merge_adapter(Reranker(model=str(wide_llama_dir)))


# ----------------------------------------------------------------------------- calibration

def test_calibration_samples_are_the_task_prompts_drawn_deterministically(calibration):
    rows, ranking, prompts = calibration
    first = calibration_samples(rows, ranking, NAMES, prompts, n=20, top_n=3, seed=0)
    assert first == calibration_samples(rows, ranking, NAMES, prompts, n=20, top_n=3, seed=0)
    assert first != calibration_samples(rows, ranking, NAMES, prompts, n=20, top_n=3, seed=1)
    assert len(first) == 20 and len({tuple(s) for s in first}) == 20
    # each sample is PromptBuilder's prefix + suffix of a row and one of its top 3 or its gold
    top = ranking[ranking["rank"] <= 3].groupby("QuestionId_Answer")["MisconceptionId"].agg(list)
    allowed = set()
    for qa, row in rows.iterrows():
        ids = set(top[qa]) | ({int(row["MisconceptionId"])} if pd.notna(row["MisconceptionId"]) else set())
        prefix, suffixes = prompts.encode(row, [NAMES[m] for m in ids])
        allowed |= {tuple(prefix + s) for s in suffixes}
    assert {tuple(s) for s in first} <= allowed
    assert all(len(s) <= prompts.max_length for s in first)
    # the golds are among the pairs: with every pair drawn, each labelled row's gold is in
    everything = {tuple(s) for s in calibration_samples(rows, ranking, NAMES, prompts, n=10**6, top_n=3)}
    assert everything == allowed  # more than there are: all of them, no error


# ----------------------------------------------------------------------------- quantise

def test_quantised_folder_holds_packed_int4_weights_and_a_spec_that_serves_it(quantized):
    out, _, _ = quantized
    config = json.loads((out / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["format"] == "pack-quantized"
    [group] = config["config_groups"].values()
    assert group["weights"]["num_bits"] == 4 and group["weights"]["group_size"] == 128
    assert group["input_activations"] is None and config["ignore"] == ["lm_head"]
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    packed = {k: v for k, v in tensors.items() if k.endswith(".weight_packed")}
    assert len(packed) == LINEARS and all(v.dtype == torch.int32 for v in packed.values())
    down = tensors["model.layers.0.mlp.down_proj.weight_packed"]
    assert tuple(down.shape) == (128, 256 // 8)  # 8 4-bit values per int32
    assert not [k for k in tensors if k.endswith("_proj.weight")]  # no full-precision copy left
    assert tensors["model.embed_tokens.weight"].dtype == model_dtype()  # (tied lm_head) kept
    saved = json.loads((out / Reranker.SPEC_FILE).read_text())
    assert saved["model"] == "./" and saved["adapter"] is None and saved["quantize_4bit"] is False
    spec = reranker_spec(str(out))
    assert spec.model == str(out) and spec.adapter is None
    assert (out / "tokenizer.json").is_file() and (out / "train.json").is_file()


def test_quantised_model_reloads_through_load_model_to_scores_close_to_the_merged_ones(quantized, calibration):
    out, merged_scores, pairs = quantized
    _, _, prompts = calibration
    model = load_model(reranker_spec(str(out)))  # the reranker's loading code, as rerank.py
    got = scores(model, pairs, prompts)
    gap = np.abs(got - merged_scores)
    corr = np.corrcoef(got, merged_scores)[0, 1]
    same_top = np.mean(got.reshape(-1, 6).argmax(1) == merged_scores.reshape(-1, 6).argmax(1))
    print(f"\nquantised vs merged: r={corr:.4f} max|gap|={gap.max():.4f} "
          f"mean|gap|={gap.mean():.4f} score std={merged_scores.std():.4f} same top-1 {same_top:.2f}")
    assert gap.max() > 1e-4, "scores identical: the weights were not really quantised"
    assert corr > MIN_CORRELATION, f"r={corr:.4f} (measured 0.9965)"
    assert gap.max() < MAX_GAP, f"max|gap|={gap.max():.4f} (measured 0.025)"


def test_awq_with_groups_of_64_writes_a_folder_that_reloads_to_close_scores(tmp_path, trained, calibration):
    """AWQ beside GPTQ: llmcompressor's scale search on the same calibration prompts, then
    symmetric int4 in groups of 64 (what splits Qwen2.5-72B's MLP over 2 GPUs unpadded)."""
    from eedi.rerank.quantization import weight_scheme
    prompts = calibration[2]
    spec, merged, pairs, merged_scores, samples = merged_and_calibration(trained, calibration)
    serving = quantize(merged, samples, "W4A16", method="awq", group_size=64)
    assert serving["group_size"] == 64 and serving["padded_from"] is None
    out = tmp_path / "tiny.awq-w4a16-g64" / "all"
    save_quantized(merged, prompts.tokenizer, spec, out, {})
    assert weight_scheme(out) == {"method": "compressed-tensors", "bits": 4, "symmetric": True,
                                  "group_size": 64}
    got = scores(load_model(reranker_spec(str(out))), pairs, prompts)
    corr = np.corrcoef(got, merged_scores)[0, 1]
    print(f"\nAWQ g64 vs merged: r={corr:.4f} max|gap|={np.abs(got - merged_scores).max():.4f}")
    # a random model (no outlier channels for AWQ to protect) at 32 prompts: measured r=0.887
    assert np.abs(got - merged_scores).max() > 1e-4 and corr > 0.85, corr


# ----------------------------------------------------------------------------- the command

def cli_args(model, data, out, *extra):
    return ["--model", model, "--train", data["train"], "--misconceptions", data["mis"],
            "--ranking", data["ranking"], "--n-calibration", 16, "--out", out, *extra]


def test_cli_writes_a_served_folder_that_rerank_and_push_weights_use_as_it_is(tmp_path, trained, data, run_cli):
    out = tmp_path / "models" / "tiny.w4a16" / "all"
    result = run_cli(quantize_cli.main, cli_args(trained, data, out))
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "train.json").read_text())
    assert stats["scheme"] == "W4A16" and stats["calibration_samples"] == 16
    assert stats["serving"] == {"tensor_parallel_size": 1, "group_size": 128,
                                "intermediate_size": 256, "padded_from": None}
    assert stats["merge_dtype"] == str(model_dtype()).removeprefix("torch.")
    assert stats["training"] == {"steps": 0}
    assert not list(out.parent.glob(".*tmp*"))  # the temp folder was renamed, nothing left
    reranked = tmp_path / "reranked.parquet"
    result = run_cli(rerank.main, ["--model", out, "--ranking", data["ranking"], "--queries", data["train"],
                                   "--misconceptions", data["mis"], "--top-n", 3, "--out", reranked])
    assert result.exit_code == 0, result.output
    assert set(read_ranking(reranked)["QuestionId_Answer"]) == set(read_ranking(data["ranking"])["QuestionId_Answer"])
    result = run_cli(push_weights.main, ["--model-dir", out.parent, "--dataset", "someone/eedi-tiny-w4a16",
                                         "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "all/model.safetensors" in result.output and "all/reranker.json" in result.output


def test_cli_pads_the_mlp_for_the_gpus_vllm_splits_it_over(tmp_path, data, run_cli):
    """hidden 256, intermediate 384 over 2 GPUs: down_proj gets 192 inputs each, not whole groups
    of 128, so the command pads the MLP to 512 before GPTQ; the folder says so and reranks."""
    base = random_llama(tmp_path / "base", hidden=256, intermediate=384)
    trained = trained_folder(base, tmp_path / "trained" / "all")
    out = tmp_path / "q" / "all"
    result = run_cli(quantize_cli.main, cli_args(trained, data, out, "--tensor-parallel", 2))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "train.json").read_text())["serving"] == {
        "tensor_parallel_size": 2, "group_size": 128, "intermediate_size": 512,
        "padded_from": 384}
    assert json.loads((out / "config.json").read_text())["intermediate_size"] == 512
    with safe_open(out / "model.safetensors", "pt") as f:
        assert f.get_slice("model.layers.0.mlp.down_proj.weight_packed").get_shape() == [256, 64]
    reranked = tmp_path / "reranked.parquet"
    result = run_cli(rerank.main, ["--model", out, "--ranking", data["ranking"], "--queries",
                                   data["train"], "--misconceptions", data["mis"], "--top-n", 3,
                                   "--out", reranked])
    assert result.exit_code == 0, result.output


def test_cli_bad_input_is_one_clear_error_and_writes_nothing(tmp_path, trained, wide_llama_dir, data, run_cli):
    out = tmp_path / "q" / "all"

    def fails(args, message):
        result = run_cli(quantize_cli.main, args)
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
        assert not out.parent.exists() or not any(out.parent.iterdir())  # no output, no temp

    fails(cli_args(wide_llama_dir, data, out), "has no reranker.json")  # a base, not a trained folder
    served = tmp_path / "served"
    save_model_folder(served, lambda f: None, Reranker(model=str(wide_llama_dir)), {})
    fails(cli_args(served, data, out), "names no adapter")
    fails(cli_args(trained, data, trained / "q"), "overlaps the model folder")
    fails(cli_args(trained, data, out, "--scheme", "W3A16"), "Invalid value for '--scheme'")
    # a base no padding makes servable (hidden 96: q_proj's inputs are not whole groups of 128)
    narrow = random_llama(tmp_path / "narrow", hidden=96, intermediate=256)
    narrow_trained = tmp_path / "narrow_trained"
    save_model_folder(narrow_trained, lambda f: None,
                      Reranker(model=str(narrow), lora=TINY_LORA, adapter="./"), {})
    fails(cli_args(narrow_trained, data, out), "model.layers.*.self_attn.q_proj: 96 inputs")
    # a ranking row missing from --train: DataError naming the file, column and row
    ranking = read_ranking(data["ranking"])
    extra = ranking[ranking["QuestionId_Answer"] == ranking["QuestionId_Answer"].iloc[0]].assign(QuestionId_Answer="99_A")
    bad = tmp_path / "bad_ranking.parquet"
    pd.concat([ranking, extra]).to_parquet(bad, index=False)
    fails(cli_args(trained, {**data, "ranking": bad}, out), "QuestionId_Answer, row 99_A")
    # a candidate the misconceptions file does not know
    unknown = tmp_path / "unknown.parquet"
    ranking.assign(MisconceptionId=ranking["MisconceptionId"].replace(0, 77)).to_parquet(unknown, index=False)
    fails(cli_args(trained, {**data, "ranking": unknown}, out), "77 is not in the misconceptions file")


# ------------------------------------------------------------------ shapes vLLM can serve


def test_padding_the_mlp_to_whole_groups_per_gpu_leaves_the_outputs_unchanged(tmp_path):
    """hidden 256, intermediate 384 split over 2 GPUs: down_proj gets 192 inputs each, not whole
    groups of 128. Padded to 512, the logits stay the same and vLLM's constraint holds."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(
        random_llama(tmp_path / "llama", hidden=256, intermediate=384), dtype=torch.float32).eval()
    ids = torch.tensor([[1, 5, 9, 200, 31, 7]])
    with torch.no_grad():
        before = model(ids).logits
    assert serving_shape_problems(model, 2, 128) == [
        "model.layers.*.mlp.down_proj: 384 inputs / 2 GPUs = 192 is not a multiple of the group "
        "size 128"]
    assert serving_shape_problems(model, 1, 128) == []  # 384 = 3 whole groups on one GPU
    done = prepare_for_serving(model, "W4A16", tensor_parallel_size=2)
    assert done == {"tensor_parallel_size": 2, "group_size": 128, "intermediate_size": 512,
                    "padded_from": 384}
    assert model.config.intermediate_size == 512
    mlp = model.model.layers[0].mlp
    assert mlp.gate_proj.weight.shape == mlp.up_proj.weight.shape == (512, 256)
    assert mlp.down_proj.weight.shape == (256, 512)
    assert serving_shape_problems(model, 2, 128) == []
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, before, atol=1e-6, rtol=0)
    assert pad_intermediate(model, 256) == 512  # already whole: nothing to do


def test_the_registry_qwen_shapes_from_their_configs_alone():
    """Qwen2.5's real widths, on torch's meta device (no weights): 32B splits over 2 T4s as it
    is; 72B's MLP (29,568 = 115.5 groups per GPU) is padded to 29,696, as Qwen's own GPTQ
    release of it is."""
    from transformers import AutoModelForCausalLM, Qwen2Config
    qwen = dict(num_hidden_layers=1, num_attention_heads=40, num_key_value_heads=8,
                vocab_size=1024)
    for hidden, width, heads, want in [(5120, 27648, 40, None), (8192, 29568, 64, 29696)]:
        config = Qwen2Config(**{**qwen, "num_attention_heads": heads}, hidden_size=hidden,
                             intermediate_size=width)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        done = prepare_for_serving(model, "W4A16", tensor_parallel_size=2)
        assert done["padded_from"] == (want and width)
        assert done["intermediate_size"] == (want or width)
    assert serving_tensor_parallel(reranker_spec("qwen72b")) == 2  # its t4 profile's 2 GPUs
    assert serving_tensor_parallel(reranker_spec("qwen14b")) == 1


def test_check_servable_reads_the_config_only(tmp_path, wide_llama_dir):
    spec = Reranker(model=str(wide_llama_dir))
    assert check_servable(spec, "W4A16", 1)["padded_from"] is None
    wider = Reranker(model=str(random_llama(tmp_path / "wider", hidden=256, intermediate=384)))
    assert check_servable(wider, "W4A16", 2) == {"tensor_parallel_size": 2, "group_size": 128,
                                                 "intermediate_size": 512, "padded_from": 384}
    narrow = Reranker(model=str(random_llama(tmp_path / "narrow", hidden=96, intermediate=256)))
    with pytest.raises(click.ClickException, match=r"(?s)tensor_parallel_size=1.*q_proj: 96 inputs"):
        check_servable(narrow, "W4A16", 1)


def test_cli_fold_calibrates_on_the_rows_outside_its_fold_only(tmp_path, trained, data, run_cli,
                                                               monkeypatch):
    """A CV adapter's quantisation (make evaluate of RERANKED.w4a16) never calibrates on the rows
    that adapter scores; --fold without --folds is a usage error."""
    import pandas as pd
    seen = {}

    def capture(rows, ranking, *args, **kwargs):
        seen["rows"], seen["ranked"] = set(rows.index), set(ranking["QuestionId_Answer"])
        raise RuntimeError("calibration reached")
    monkeypatch.setattr(quantize_cli, "calibration_samples", capture)
    with pytest.raises(RuntimeError, match="calibration reached"):
        run_cli(quantize_cli.main, cli_args(trained, data, tmp_path / "q", "--folds", data["folds"],
                                            "--fold", 1))
    folds = pd.read_parquet(data["folds"])
    held_out = set(folds.loc[folds["fold"] == 1, "QuestionId_Answer"])
    assert held_out and seen["ranked"] and not (seen["ranked"] | seen["rows"]) & held_out
    assert seen["ranked"] == set(read_ranking(data["ranking"])["QuestionId_Answer"]) - held_out
    result = run_cli(quantize_cli.main, cli_args(trained, data, tmp_path / "q", "--fold", 1))
    assert result.exit_code == 2 and "--fold needs --folds" in result.output


def test_a_listwise_reranker_calibrates_on_its_window_prompts(calibration):
    """window (a listwise spec): one ListPromptBuilder prompt per drawn row, its top `window`
    candidates with the gold among them, in a seeded order; the same for the same seed."""
    from eedi.rerank.prompt import ListPromptBuilder
    rows, ranking, prompts = calibration
    listing = ListPromptBuilder(prompts.tokenizer, 512)
    first = calibration_samples(rows, ranking, NAMES, listing, n=5, top_n=6, seed=0, window=3)
    assert first == calibration_samples(rows, ranking, NAMES, listing, n=5, top_n=6, seed=0, window=3)
    assert len(first) == 5
    top = ranking[ranking["rank"] <= 3].groupby("QuestionId_Answer")["MisconceptionId"].agg(list)
    for sample in first:
        text = prompts.tokenizer.decode(sample)
        qa = next(qa for qa in rows.index if rows.loc[qa, "QuestionText"] in text
                  and f"\nWrong answer: {rows.loc[qa, 'AnswerText']}" in text)
        listed = [m for m in NAMES if f". {NAMES[m]}\n" in text]
        gold = rows.loc[qa, "MisconceptionId"]
        expected = set(top[qa]) if pd.isna(gold) or int(gold) in top[qa] else {*top[qa][:2], int(gold)}
        assert set(listed) == expected and "\n3. " in text and "\n4. " not in text
