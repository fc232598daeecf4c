"""Loading an LLM reranker: its base model (converted once from a GGUF where a package ships
one), its tokenizer, and its (Q)LoRA adapter.

    spec = reranker_spec("smollm135m")      # a registry name, a trained folder, an HF id
    tokenizer = load_tokenizer(spec)
    model = load_model(spec)                # adapter merged unless the base is 4-bit
    model = load_model(spec, trainable=True)    # a fresh peft LoRA on top, for training

The same code loads SmolLM2-135M on a laptop and Qwen2.5-32B on an 80 GB GPU, in the device's
dtype (eedi.precision), with 4-bit NF4 base weights when spec.quantize_4bit (CPU included).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import torch

from eedi.distributed import local_rank
from eedi.model_folder import nf4_config, one_cpu_path
from eedi.registry import load_spec
from eedi.precision import model_dtype
from eedi.registry import REPO, Reranker, resolve_model_path
from eedi.run_log import log


def reranker_spec(name_or_path: str) -> Reranker:
    """A registry name, a folder written by the reranker's training (its reranker.json says how
    to load it), or any HF id / local folder with the default settings."""
    return load_spec(Reranker, name_or_path)

def base_model_path(spec: Reranker) -> str:
    """The base model's HF id or folder; a GGUF-shipped model is converted on first use."""
    if spec.gguf is None:
        return spec.model
    folder = Path(spec.model) if Path(spec.model).is_absolute() else REPO / spec.model
    if not (folder / "config.json").is_file():
        convert_gguf(Path(resolve_model_path(spec.gguf)), folder)
    return str(folder)


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF checkpoint into a plain HF folder (fp32 safetensors + tokenizer), once.

    transformers loads GGUF by dequantising it; saving needs the quantizer markers cleared,
    or save_pretrained refuses ("quantized model").
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    log.info("converting %s -> %s (once)", gguf, out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def load_tokenizer(spec: Reranker):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(base_model_path(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: Reranker, trainable: bool = False, fsdp: bool = False):
    """The causal LM in eedi.precision's dtype for this device (bf16 from Ampere on, fp16 on a
    T4, fp32 on CPU), with 4-bit NF4 base weights when spec.quantize_4bit (bitsandbytes: on
    CUDA, and on CPU too, so CI runs the QLoRA path).

    trainable: wrap in a fresh peft LoRA (spec.lora), the 4-bit base prepared for k-bit
    training; else load spec.adapter if set: merged into the weights unless they are 4-bit
    (4-bit + adapter stays a PeftModel, as trained). The same code loads SmolLM2 on a laptop and
    Qwen2.5-32B on an 80 GB GPU.

    fsdp (training sharded over processes, peft's FSDP-QLoRA recipe): no device map (FSDP
    places the shards), 4-bit weights stored in the compute dtype, and no
    prepare_model_for_kbit_training, whose fp32 upcast of the other weights would leave FSDP
    layers of mixed dtypes; the Trainer checkpoints activations.
    """
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    dtype = model_dtype()
    kwargs = {"dtype": dtype}
    if fsdp:
        pass
    elif torch.cuda.device_count() > 1 and not trainable:
        # inference on a model split over the GPUs this process sees (Make's GPUS / TENSOR_
        # PARALLEL gives each process its group), layer by layer
        kwargs["device_map"] = "auto"
    elif torch.cuda.is_available():
        # this process's GPU: under torchrun/accelerate each rank its own (LOCAL_RANK); the
        # current device is still GPU 0 for every rank before TrainingArguments sets it
        kwargs["device_map"] = {"": local_rank()}
    if spec.quantize_4bit:
        kwargs["quantization_config"] = nf4_config(dtype, sharded=fsdp)
    model = one_cpu_path(AutoModelForCausalLM.from_pretrained(base_model_path(spec), **kwargs))
    if trainable:
        if spec.lora is None:
            raise click.UsageError(f"{spec.model}: no LoRA settings to train with")
        if fsdp:
            model.enable_input_require_grads()  # checkpointed layers need a grad at their input
        elif spec.quantize_4bit:
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=spec.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, **spec.lora))
    elif spec.adapter:
        model = PeftModel.from_pretrained(model, spec.adapter)
        if not spec.quantize_4bit:
            # LoRA as separate small matmuls costs 2-3x on CPU; merged, it costs nothing
            model = model.merge_and_unload()
        model.eval()
    else:
        model.eval()
    return model
