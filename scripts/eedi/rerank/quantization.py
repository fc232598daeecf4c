"""Merge a trained (Q)LoRA reranker into its full-precision base, then quantise the merged
model's weights to 4 bits (GPTQ W4A16, llmcompressor) for serving: Kaggle's 2 x T4 (16 GB each,
fp16 only) hold a 32B model only with 4-bit weights, and vLLM serves this format as it is.

    spec = reranker_spec("models/x/qwen32b/all")          # base + adapter (QLoRA: NF4 base)
    model = merge_adapter(spec)                            # full-precision base + adapter, merged
    prompts = PromptBuilder(load_tokenizer(spec), spec.max_length)
    samples = calibration_samples(train_rows, ranking, names, prompts, n=512, top_n=25, seed=42)
    # [[token ids of prefix + suffix]] x n: the task's own (row, candidate) prompts
    quantize(model, samples, scheme="W4A16", tensor_parallel_size=2)
    # in place: MLP padded to whole groups per GPU where needed, then GPTQ (llmcompressor.oneshot)
    save_quantized(model, load_tokenizer(spec), spec, Path("models/x/qwen32b.w4a16/all"), stats)

The folder written (complete or absent, eedi.model_folder.save_model_folder):

    OUT/model*.safetensors   compressed-tensors "pack-quantized": each Linear of the decoder as
                             weight_packed (int32, 8 x 4-bit values each) + weight_scale per
                             group of 128 inputs; embeddings, norms and lm_head unquantised
    OUT/config.json          quantization_config: quant_method "compressed-tensors", W4A16
    OUT/tokenizer files      the base's tokenizer
    OUT/reranker.json        the spec: model "./" (the folder itself), adapter None,
                             quantize_4bit False, so rerank.py --model OUT (hf and vllm engines),
                             eedi.rerank.reranker.load_model and push_weights.py use it as it is
    OUT/train.json           written last: quantisation stats + the adapter's training stats

Why pad: vLLM splits o_proj's and down_proj's inputs across tensor-parallel GPUs and refuses a
layer whose slice is not a whole number of quantisation groups (verify_group_size_divides_
partition). Qwen2.5-72B's intermediate size 29,568 is 115.5 groups of 128 per GPU at
tensor_parallel_size=2, so the MLP is zero-padded to 29,696 first, as Qwen's own 72B GPTQ
release is: padded units compute act(0) * 0 = 0 and meet zero columns of down_proj, so the
model's outputs do not change. A width padding cannot fix (SmolLM2's hidden 576) stops before
GPTQ, naming the layers.

Why merge into the full-precision base and not the NF4 one QLoRA trained on: merging into
dequantised NF4 weights would stack two roundings (NF4's, then GPTQ's); from the full-precision
weights GPTQ rounds once, correcting each layer's rounding error with calibration activations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd

from eedi.errors import DataError
from eedi.long_table import gold_of
from eedi.model_folder import STATS_FILE, save_model_folder
from eedi.precision import model_dtype
from eedi.registry import VLLM_PROFILES, Reranker, vllm_settings
from eedi.rerank.prompt import PromptBuilder
from eedi.rerank.reranker import base_model_path
from eedi.rerank.reranking import top_candidates
from eedi.run_log import log

# llmcompressor's preset schemes we offer (compressed_tensors.quantization.PRESET_SCHEMES):
# int weights in groups of 128, activations left in fp16/bf16; all three are served by vLLM.
SCHEMES = ("W4A16", "W4A16_ASYM", "W8A16")
# How the int weights are found: GPTQ (error-correcting, column by column) or AWQ (activation-
# aware scales searched first, then rounded: what the 1st place served its 72B with).
METHODS = ("gptq", "awq")
# Linears whose inputs vLLM splits across tensor-parallel GPUs (RowParallelLinear in its Llama,
# Qwen2 and Gemma2 models); the others split their outputs and keep every input.
ROW_PARALLEL = ("o_proj", "down_proj")
# llmcompressor's examples calibrate on 512 samples; our prompts are short (<= max_length).
N_CALIBRATION = 512


def merge_adapter(spec: Reranker):
    """spec's base in full precision (fp32 on CPU, eedi.precision's bf16/fp16 on a GPU; never
    4-bit, whatever spec.quantize_4bit says) with spec.adapter merged in: a plain causal LM.

    Not eedi.rerank.reranker.load_model: that one puts the model on the GPU whole and keeps NF4
    weights; here the model stays in host memory and llmcompressor moves one decoder layer at
    a time to the GPU, so a 32B model (64 GB in bf16) quantises on one card.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    if not spec.adapter:
        raise click.ClickException(f"{spec.model}: the spec has no adapter, nothing to merge "
                                   "(pass a folder written by train_reranker.py)")
    if not (Path(spec.adapter) / "adapter_config.json").is_file():
        raise click.ClickException(f"{spec.adapter}: no adapter_config.json (not a peft LoRA "
                                   "adapter folder)")
    dtype = model_dtype()
    log.info("merging %s into %s (%s, not 4-bit)", spec.adapter, spec.model, dtype)
    model = AutoModelForCausalLM.from_pretrained(base_model_path(spec), dtype=dtype)
    model = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
    model.eval()
    return model


def calibration_samples(rows: pd.DataFrame, ranking: pd.DataFrame, names: dict[int, str],
                        prompts: PromptBuilder, n: int = N_CALIBRATION, top_n: int = 25,
                        seed: int = 0, ranking_path="the ranking",
                        window: int | None = None) -> list[list[int]]:
    """n of the task's own prompts, as token ids (prefix + suffix), the same for the same inputs.

    rows: the train long table indexed by QuestionId_Answer (every ranked row in it).
    ranking: a ranking of those rows; a row's candidates are its top_n there plus its gold
    (when labelled), so the samples hold the "Yes" prompts as well as the hard "No" ones the
    reranker meets at inference. n pairs (row, candidate) are drawn without replacement with
    numpy's seeded generator; fewer when there are fewer pairs. Each is encoded by the same
    PromptBuilder as training and reranking, so calibration sees exactly their tokens.
    ranking_path: names the ranking in errors (an id missing from `names`).
    window (a listwise reranker, prompts a ListPromptBuilder): n rows instead, each one prompt
    of its top `window` candidates (the gold in place of the last when labelled and missing),
    in a seeded random order: the prompts that reranker trains and reranks on.
    """
    candidates = top_candidates(ranking, top_n)
    gold = gold_of(rows.reset_index(drop=True))
    if window is not None:
        return _window_samples(rows, candidates, gold, names, prompts, n, window, seed, ranking_path)
    pairs = []
    for qa in sorted(candidates.index):
        ids = [int(m) for m in candidates[qa]]
        if qa in gold.index and int(gold[qa]) not in ids:
            ids.append(int(gold[qa]))
        for m in ids:
            if m not in names:
                raise DataError(ranking_path, "MisconceptionId", qa,
                                f"{m} is not in the misconceptions file")
        pairs += [(qa, m) for m in ids]
    if not pairs:
        raise click.ClickException("no (row, candidate) pairs to calibrate on: the ranking "
                                   "has no rows")
    if n > len(pairs):
        log.warning("only %d calibration prompts available (asked for %d): using all",
                    len(pairs), n)
    chosen = sorted(np.random.default_rng(seed).choice(len(pairs), min(n, len(pairs)),
                                                       replace=False))
    by_row: dict[str, list[int]] = {}
    for i in chosen:
        qa, m = pairs[i]
        by_row.setdefault(qa, []).append(m)
    samples = []
    for qa, ids in by_row.items():  # one encode per row: its candidates share the prefix
        prefix, suffixes = prompts.encode(rows.loc[qa], [names[m] for m in ids])
        samples += [prefix + s for s in suffixes]
    return samples


def _window_samples(rows, candidates, gold, names, prompts, n, window, seed, ranking_path):
    rng = np.random.default_rng(seed)
    ids = sorted(candidates.index)
    if not ids:
        raise click.ClickException("no rows to calibrate on: the ranking has no rows")
    samples = []
    for qa in sorted(rng.choice(len(ids), min(n, len(ids)), replace=False)):
        qa = ids[qa]
        shown = [int(m) for m in candidates[qa]][:window]
        if qa in gold.index and int(gold[qa]) not in shown:
            shown[-1:] = [int(gold[qa])]
        missing = [m for m in shown if m not in names]
        if missing:
            raise DataError(ranking_path, "MisconceptionId", qa,
                            f"{missing[0]} is not in the misconceptions file")
        shown = [shown[i] for i in rng.permutation(len(shown))]
        samples.append(prompts.encode_window(rows.loc[qa], [names[m] for m in shown]))
    return samples


def quantization_scheme(scheme: str, group_size: int | None = None):
    """The preset as a compressed_tensors QuantizationScheme over every Linear, its weight
    group size replaced by group_size (64 keeps Qwen2.5-72B's 14,784 MLP columns per GPU
    at tensor parallel 2 whole groups, without padding)."""
    from compressed_tensors.quantization import preset_name_to_scheme
    if scheme not in SCHEMES:
        raise click.BadParameter(f"{scheme!r} is not one of {', '.join(SCHEMES)}",
                                 param_hint="--scheme")
    quant = preset_name_to_scheme(scheme, ["Linear"])
    if group_size is not None:
        quant.weights.group_size = group_size
    return quant


def scheme_group_size(scheme: str, group_size: int | None = None) -> int | None:
    """The weight group size (the presets': 128; or group_size), None if not grouped."""
    weights = quantization_scheme(scheme, group_size).weights
    return weights.group_size if weights.strategy == "group" else None


def serving_tensor_parallel(spec: Reranker) -> int:
    """The tensor_parallel_size every vLLM profile of spec divides (their lcm): qwen32b's
    t4 profile splits over 2 GPUs, so 2; a one-GPU model 1."""
    return math.lcm(*(vllm_settings(spec, p)["tensor_parallel_size"] for p in VLLM_PROFILES))


def pad_intermediate(model, multiple: int) -> int:
    """Zero-pad every decoder MLP (gate_proj, up_proj rows; down_proj columns) so its width is a
    multiple of `multiple`; config.intermediate_size follows. Returns the new width (the old one
    when nothing needed padding). The outputs do not change: a padded unit's up_proj output is
    0, so act(gate) * up is 0 whatever act is, and down_proj's padded columns are 0 too.
    Models whose MLPs differ in width (config.intermediate_size not an int) are left as they are.
    """
    import torch
    width = getattr(model.config, "intermediate_size", None)
    if not isinstance(width, int) or width % multiple == 0:
        return width
    padded = math.ceil(width / multiple) * multiple
    mlps = [m for m in model.modules()
            if all(isinstance(getattr(m, n, None), torch.nn.Linear)
                   for n in ("gate_proj", "up_proj", "down_proj"))]

    def zero_padded(tensor, pad):  # a frozen copy with `pad` (torch.nn.functional.pad) zeros
        return torch.nn.Parameter(torch.nn.functional.pad(tensor, pad), requires_grad=False)

    extra = padded - width
    with torch.no_grad():
        for mlp in mlps:
            for linear in (mlp.gate_proj, mlp.up_proj):  # [width, hidden] -> [padded, hidden]
                linear.weight = zero_padded(linear.weight, (0, 0, 0, extra))
                if linear.bias is not None:
                    linear.bias = zero_padded(linear.bias, (0, extra))
                linear.out_features = padded
            mlp.down_proj.weight = zero_padded(mlp.down_proj.weight, (0, extra))  # [hidden, padded]
            mlp.down_proj.in_features = padded
    model.config.intermediate_size = padded
    log.info("padded the MLP width %d -> %d (a multiple of %d) in %d layers: vLLM needs whole "
             "quantisation groups per GPU", width, padded, multiple, len(mlps))
    return padded


def serving_shape_problems(model, tensor_parallel_size: int, group_size: int) -> list[str]:
    """Why vLLM could not load model's quantised Linears split over tensor_parallel_size GPUs:
    one line per kind of layer (model.layers.*.mlp.down_proj) whose inputs per GPU are not a
    whole number of group_size groups. Empty: it can. lm_head is not quantised, so not checked.
    """
    import torch
    problems = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        split = tensor_parallel_size if name.rsplit(".", 1)[-1] in ROW_PARALLEL else 1
        per_gpu = module.in_features / split
        if per_gpu % group_size:
            problems.setdefault(re.sub(r"\.\d+\.", ".*.", name), (
                f"{module.in_features} inputs" + (f" / {split} GPUs = {per_gpu:g}" if split > 1
                                                  else "")
                + f" is not a multiple of the group size {group_size}"))
    return [f"{kind}: {why}" for kind, why in problems.items()]


def prepare_for_serving(model, scheme: str, tensor_parallel_size: int = 1,
                        group_size: int | None = None) -> dict:
    """Pad the MLP (pad_intermediate) so vLLM can split the quantised model over
    tensor_parallel_size GPUs; a ClickException naming the layers when padding cannot do it.
    Returns what was done: {"tensor_parallel_size", "group_size", "intermediate_size",
    "padded_from"} (padded_from None when nothing was padded)."""
    group = scheme_group_size(scheme, group_size)
    width = getattr(model.config, "intermediate_size", None)
    done = {"tensor_parallel_size": tensor_parallel_size, "group_size": group,
            "intermediate_size": width, "padded_from": None}
    if group is None:
        return done
    done["intermediate_size"] = pad_intermediate(model, group * tensor_parallel_size)
    if done["intermediate_size"] != width:
        done["padded_from"] = width
    problems = serving_shape_problems(model, tensor_parallel_size, group)
    if problems:
        raise click.ClickException(
            f"vLLM could not serve this model in {scheme} (groups of {group}) at "
            f"tensor_parallel_size={tensor_parallel_size}: a quantised layer's inputs per GPU "
            "must be whole groups, and padding the MLP does not fix these:\n  "
            + "\n  ".join(problems))
    return done


def check_servable(spec: Reranker, scheme: str, tensor_parallel_size: int,
                   group_size: int | None = None) -> dict:
    """prepare_for_serving on spec's base built from its config alone (torch's meta device: no
    weights read), so a model vLLM could not serve stops before a long merge and GPTQ."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(base_model_path(spec))
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    return prepare_for_serving(skeleton, scheme, tensor_parallel_size, group_size)


def recipe(method: str, quant) -> list:
    """llmcompressor modifiers quantising every Linear but lm_head (it scores Yes vs No) to
    `quant` (quantization_scheme's): GPTQ, or AWQ's scale search (its default mappings for
    Llama / Qwen2 / Gemma, both scalings tried) then plain rounding."""
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
    groups = {"group_0": quant}
    if method == "gptq":
        return [GPTQModifier(config_groups=groups, ignore=["lm_head"])]
    if method == "awq":
        from llmcompressor.modifiers.transform.awq import AWQModifier
        return [AWQModifier(duo_scaling="both"),
                QuantizationModifier(config_groups=groups, ignore=["lm_head"])]
    raise click.BadParameter(f"{method!r} is not one of {', '.join(METHODS)}",
                             param_hint="--method")


def quantize(model, samples: list[list[int]], scheme: str = "W4A16",
             tensor_parallel_size: int = 1, method: str = "gptq",
             group_size: int | None = None) -> dict:
    """Quantise model's Linear weights in place with GPTQ or AWQ (llmcompressor's oneshot),
    keeping lm_head in full precision, calibrated on samples (token ids). First
    prepare_for_serving, whose record it returns: vLLM must be able to split the model over
    tensor_parallel_size GPUs.

    llmcompressor's sequential pipeline runs the samples through one decoder layer at a time
    (on the GPU when there is one), quantising each layer's Linears from the activations that
    reach it through the already-quantised layers before it.
    """
    from datasets import Dataset
    from llmcompressor import oneshot
    modifiers = recipe(method, quantization_scheme(scheme, group_size))
    if not samples:
        raise click.ClickException("no calibration samples")
    serving = prepare_for_serving(model, scheme, tensor_parallel_size, group_size)
    dataset = Dataset.from_dict({"input_ids": samples,
                                 "attention_mask": [[1] * len(s) for s in samples]})
    log.info("%s %s (groups of %s) on %d calibration prompts (%d tokens on average)",
             method.upper(), scheme, serving["group_size"], len(samples),
             round(np.mean([len(s) for s in samples])))
    # batch_size 1: samples differ in length, and padding would calibrate on pad tokens
    with no_pinning_without_accelerator():
        oneshot(model=model, dataset=dataset, recipe=modifiers,
                num_calibration_samples=len(samples), max_seq_length=max(map(len, samples)),
                shuffle_calibration_samples=False, batch_size=1)
    return serving


def no_pinning_without_accelerator():
    """llmcompressor 0.14's AWQ pins its cached activations in page-locked memory before each
    layer's scale search (pipelines/cache.py: for faster host-to-GPU copies), which raises
    "Cannot access accelerator device when none is available" on a machine without one, so AWQ
    could not run on CPU at all. Pinning is only a copy speed-up: with no accelerator it is
    skipped, for the duration of the call. With a GPU nothing changes."""
    import contextlib
    from unittest import mock

    import torch
    if torch.cuda.is_available():
        return contextlib.nullcontext()
    from llmcompressor.pipelines.cache import IntermediatesCache
    return mock.patch.object(IntermediatesCache, "pin_memory", lambda self, *a, **k: None)


def served_spec(spec: Reranker) -> Reranker:
    """The spec of the quantised folder: the folder itself is the model, nothing to add.
    (dataclasses.replace, as Reranker.replace leaves fields it is given None unchanged.)"""
    return dataclasses.replace(spec, model="./", gguf=None, adapter=None, quantize_4bit=False)


def save_quantized(model, tokenizer, spec: Reranker, out: Path, stats: dict) -> None:
    """Write OUT whole (temp folder + rename): compressed weights, tokenizer, reranker.json
    (served_spec), then train.json = stats."""
    def save_weights(folder: str) -> None:
        model.save_pretrained(folder, save_compressed=True)  # packed int4, compressed-tensors
        # llmcompressor rewrites config.json from the base's own file (vLLM reads that layout
        # best), which would undo pad_intermediate's width and leave weights and config apart
        config_path = Path(folder) / "config.json"
        config = json.loads(config_path.read_text())
        text = config.get("text_config", config)
        width = model.config.get_text_config().intermediate_size
        if text.get("intermediate_size", width) != width:
            text["intermediate_size"] = width
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tokenizer.save_pretrained(folder)
    save_model_folder(Path(out), save_weights, served_spec(spec), stats)


def quantization_stats(source: Path, spec: Reranker, scheme: str, samples: list[list[int]],
                       seconds: dict[str, float], serving: dict | None = None,
                       method: str = "gptq") -> dict:
    """train.json of the quantised folder: what it was made from and how (serving: what
    prepare_for_serving did), and the adapter's own training stats (its train.json) under
    "training"."""
    import compressed_tensors
    import llmcompressor
    trained = Path(source) / STATS_FILE
    return {"source": str(source), "base_model": spec.model, "adapter": spec.adapter,
            "scheme": scheme, "method": f"{method.upper()} (llmcompressor oneshot)",
            "ignore": ["lm_head"],
            "merge_dtype": str(model_dtype()).removeprefix("torch."),
            "serving": serving,
            "calibration_samples": len(samples),
            "calibration_tokens_mean": round(float(np.mean([len(s) for s in samples])), 1),
            "llmcompressor": llmcompressor.__version__,
            "compressed_tensors": compressed_tensors.__version__,
            **{f"{k}_seconds": round(v, 1) for k, v in seconds.items()},
            "training": json.loads(trained.read_text()) if trained.is_file() else None}



def weight_scheme(folder: str | Path) -> dict | None:
    """A quantised folder's weight scheme from its config.json (compressed-tensors'
    quantization_config, as quantize.py writes it): {"method", "bits", "symmetric",
    "group_size"} of its first config group; None for a folder that is not quantised.

        weight_scheme("models/x/qwen32b.w4a16/all")
        # {"method": "compressed-tensors", "bits": 4, "symmetric": True, "group_size": 128}
    """
    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    quant = json.loads(config.read_text()).get("quantization_config")
    if not quant:
        return None
    groups = list((quant.get("config_groups") or {}).values())
    weights = (groups[0].get("weights") if groups else None) or {}
    return {"method": quant.get("quant_method"), "bits": weights.get("num_bits", quant.get("bits")),
            "symmetric": weights.get("symmetric", quant.get("sym")),
            "group_size": weights.get("group_size", quant.get("group_size"))}
