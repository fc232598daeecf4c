"""LLM reranking: the Yes/No prompt, loading a (Q)LoRA reranker, and scoring with prefix reuse.

Shared by `train_reranker.py`, `rerank.py` (hf and vllm engines) and `bench_rerank.py`, so a
prompt is built, tokenised and scored the same way everywhere:

    spec = reranker_spec("smollm135m")           # a registry name, a trained folder, an HF id
    tokenizer = load_tokenizer(spec)
    prompts = PromptBuilder(tokenizer, spec.max_length)
    prefix, suffixes = prompts.encode(row, ["Adds the numerators", "Confuses ..."])  # token ids
    model = load_model(spec)
    [scores] = score_prefix_reuse(model, [(prefix, suffixes)], prompts.yes_no, prompts.pad_id)
    # scores[j] = logit("Yes") - logit("No") after prefix + suffixes[j]; higher = more likely

The prompt puts the question first and the candidate last, so every candidate of a row shares
the longest possible token prefix (the chat template's head, the task, the question and both
answers); only the candidate, the instruction and the template's tail differ:

    <chat head>Here is a maths question and a student's wrong answer.
    Subject: ...
    Construct: ...
    Question: ...                      <- cut here (only here) when too long
    Correct answer: ...
    Wrong answer: ...
    Misconception:                     <- the shared prefix ends here
     <candidate>

    Does this misconception explain the wrong answer? Answer Yes or No.<chat tail>
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import click
import numpy as np
import torch

import common
from registry import Reranker, reranker, resolve_model_path

SPEC_FILE = "reranker.json"  # written beside a trained adapter: how to load and prompt it
REPO = Path(__file__).resolve().parent.parent  # relative registry paths are relative to this
TASK = "Here is a maths question and a student's wrong answer.\n"
INSTRUCTION = "Does this misconception explain the wrong answer? Answer Yes or No."
_MARK = "\x00CONTENT\x00"


# --------------------------------------------------------------------------- specs and loading

def reranker_spec(name_or_path: str) -> Reranker:
    """A registry name, a folder written by train_reranker.py (its reranker.json says how to load
    it), or any HF id / local folder with the default settings."""
    folder = Path(name_or_path)
    if (folder / SPEC_FILE).is_file():
        saved = json.loads((folder / SPEC_FILE).read_text())
        if saved.get("adapter") and saved["adapter"].startswith("./"):
            saved["adapter"] = str(folder / saved["adapter"][2:])
        return Reranker(**saved)
    return reranker(name_or_path)


def save_spec(spec: Reranker, folder: Path) -> None:
    common.write_json(dataclasses.asdict(spec), folder / SPEC_FILE)


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
    common.log.info("converting %s -> %s (once)", gguf, out)
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


def load_model(spec: Reranker, trainable: bool = False):
    """The causal LM: bf16 on CUDA (4-bit NF4 when spec.quantize_4bit), fp32 on CPU.

    trainable: wrap in a fresh peft LoRA (spec.lora); else load spec.adapter if set (merged
    into the weights unless they are 4-bit). The same code loads SmolLM2 on a laptop and
    Qwen2.5-32B on an 80 GB GPU.
    """
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    kwargs = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if cuda:
        kwargs["device_map"] = {"": torch.cuda.current_device()}
        if spec.quantize_4bit:
            from transformers import BitsAndBytesConfig
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(base_model_path(spec), **kwargs)
    if trainable:
        if cuda and spec.quantize_4bit:
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=spec.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})
        if spec.lora is None:
            raise click.UsageError(f"{spec.model}: no LoRA settings to train with")
        model = get_peft_model(model, LoraConfig(task_type=TaskType.CAUSAL_LM, **spec.lora))
    elif spec.adapter:
        model = PeftModel.from_pretrained(model, spec.adapter)
        if not (cuda and spec.quantize_4bit):
            # LoRA as separate small matmuls costs 2-3x on CPU; merged, it costs nothing
            model = model.merge_and_unload()
        model.eval()
    else:
        model.eval()
    return model


# --------------------------------------------------------------------------- the prompt

def yes_no_ids(tokenizer, name: str = "the model") -> tuple[int, int]:
    """Token ids of "Yes" and "No": the score is their logit difference at the last position,
    so each must be exactly one token (true of Qwen2.5, Gemma-2, Llama-3, SmolLM2)."""
    ids = []
    for word in ("Yes", "No"):
        tokens = tokenizer.encode(word, add_special_tokens=False)
        if len(tokens) != 1:
            raise click.ClickException(
                f"{name}: {word!r} is {len(tokens)} tokens {tokens} for its tokenizer; the Yes/No "
                f"reranker needs single tokens. Pick another model.")
        ids.append(tokens[0])
    return ids[0], ids[1]


class PromptBuilder:
    """(row, candidates) -> token ids: one shared prefix + one suffix per candidate.

    Pieces are tokenised separately and concatenated, so a prefix's ids are the same whatever
    candidate follows (vLLM's prefix cache and our KV reuse both need exactly that).
    """

    def __init__(self, tokenizer, max_length: int, name: str = "the model"):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.yes_no = yes_no_ids(tokenizer, name)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": _MARK}],
                                                 tokenize=False, add_generation_prompt=True)
        if rendered.count(_MARK) != 1:
            raise click.ClickException(f"{name}: its chat template does not place the user "
                                       f"message once; cannot build the Yes/No prompt")
        self.head, self.tail = rendered.split(_MARK)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(self, row, candidates: list[str]) -> tuple[list[int], list[list[int]]]:
        """Token ids (prefix, [suffix per candidate]); prefix + suffix <= max_length for all.

        The question text is cut (at its end) to make the longest candidate fit; if that is not
        enough, the end of the answers too. Subject, construct, candidate and instruction are
        never cut. A leading space stays with the word after it, as BPE tokenisers expect.
        """
        before, question, after = common.query_parts(row)
        head = self._ids(self.head + TASK + before.rstrip(" "))
        question_ids = self._ids(" " + question)
        answers = self._ids(after)
        label = self._ids("\nMisconception:")
        suffixes = [self._ids(" " + c + "\n\n" + INSTRUCTION + self.tail) for c in candidates]
        room = (self.max_length - len(head) - len(answers) - len(label)
                - max(map(len, suffixes), default=0))
        if room < 0 and len(answers) + room > 0:
            # very long answer texts (a few real rows): cut their end too, rather than fail
            answers, room = answers[:len(answers) + room], 0
        if room < 0:
            raise click.ClickException(
                f"row {row['QuestionId_Answer']}: the prompt needs {self.max_length - room} tokens "
                f"without the question, more than max_length {self.max_length}; raise it")
        return head + question_ids[:room] + answers + label, suffixes

    def text(self, row, candidate: str) -> str:
        """The full prompt as text (for reading and tests), untruncated."""
        before, question, after = common.query_parts(row)
        return (self.head + TASK + before + question + after + "\nMisconception: " + candidate
                + "\n\n" + INSTRUCTION + self.tail)


# --------------------------------------------------------------------------- scoring

def _positions(mask: torch.Tensor, start: torch.Tensor | int = 0) -> torch.Tensor:
    """Position ids that skip padding: 0, 1, 2 ... over the real tokens (+ start)."""
    return (mask.cumsum(-1) - 1).clamp(min=0) + (start[:, None] if torch.is_tensor(start) else start)


def pad(sequences: list[list[int]], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to one length: (ids, mask). Left padding puts every last token at position -1."""
    width = max(map(len, sequences))
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        if side == "left":
            ids[i, width - len(s):], mask[i, width - len(s):] = torch.tensor(s), 1
        else:
            ids[i, :len(s)], mask[i, :len(s)] = torch.tensor(s), 1
    return ids, mask


def yes_no_margin(model, input_ids, attention_mask, yes_no, position_ids=None,
                  past_key_values=None) -> torch.Tensor:
    """logit(Yes) - logit(No) at the last position of each (left-padded) sequence.

    Only the last position goes through the LM head (logits_to_keep=1): with a 150k-token
    vocabulary the full logits would be most of the memory.
    """
    if position_ids is None:
        position_ids = _positions(attention_mask)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                past_key_values=past_key_values, use_cache=past_key_values is not None,
                logits_to_keep=1)
    last = out.logits[:, -1, :].float()
    return last[:, yes_no[0]] - last[:, yes_no[1]]


def prefix_reuse_margin(model, prefix_ids, prefix_mask, suffix_ids, suffix_mask, owner,
                        yes_no) -> torch.Tensor:
    """logit(Yes) - logit(No) of each suffix, continuing the prefix of row owner[i].

    The prefixes (right-padded) run once with the KV cache on; the cache is gathered once per
    suffix and the suffixes (left-padded) run on top of it, with position ids that continue
    each prefix. Differentiable: training uses it too (without gradient checkpointing, which
    turns the cache off).
    """
    cache = model(input_ids=prefix_ids, attention_mask=prefix_mask,
                  position_ids=_positions(prefix_mask), use_cache=True,
                  logits_to_keep=1).past_key_values
    cache.batch_select_indices(owner)
    mask = torch.cat([prefix_mask[owner], suffix_mask], dim=1)
    positions = _positions(suffix_mask, start=prefix_mask.sum(-1)[owner])
    return yes_no_margin(model, suffix_ids, mask, yes_no, position_ids=positions,
                         past_key_values=cache)


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def score_naive(model, sequences: list[list[int]], yes_no, pad_id: int,
                batch_size: int = 16) -> np.ndarray:
    """Score full sequences (prefix + suffix each), batched by length: the reference."""
    device = _device(model)
    order = np.argsort([len(s) for s in sequences], kind="stable")
    scores = np.empty(len(sequences), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids, mask = pad([sequences[i] for i in idx], pad_id, "left")
        scores[idx] = yes_no_margin(model, ids.to(device), mask.to(device), yes_no).cpu().numpy()
    return scores


@torch.inference_mode()
def score_prefix_reuse(model, rows: list[tuple[list[int], list[list[int]]]], yes_no, pad_id: int,
                       pairs_per_batch: int = 64, progress: bool = False) -> list[np.ndarray]:
    """Score each row's candidates, running its shared prefix through the model once.

    rows: [(prefix ids, [suffix ids per candidate])]. Rows of similar prefix length are batched
    (up to pairs_per_batch candidates a batch): their prefixes run right-padded with the KV
    cache on, the cache is gathered once per candidate, and the left-padded suffixes run on
    top of it with position ids that continue each prefix. Equals score_naive up to float
    rounding (tested), at a fraction of the cost when a row has many candidates.
    Out: one array of scores per row, in candidate order.
    """
    from tqdm import tqdm
    device = _device(model)
    out = [np.empty(len(s), dtype=np.float32) for _, s in rows]
    order = np.argsort([len(p) for p, _ in rows], kind="stable")
    batches, batch, pairs = [], [], 0
    for r in order:
        n = len(rows[r][1])
        if batch and pairs + n > pairs_per_batch:
            batches.append(batch)
            batch, pairs = [], 0
        batch.append(r)
        pairs += n
    if batch:
        batches.append(batch)
    for batch in tqdm(batches, desc="rerank", unit="batch", disable=not progress):
        batch = [r for r in batch if rows[r][1]]
        if not batch:
            continue
        prefix_ids, prefix_mask = pad([rows[r][0] for r in batch], pad_id, "right")
        suffix_ids, suffix_mask = pad([s for r in batch for s in rows[r][1]], pad_id, "left")
        owner = torch.tensor([b for b, r in enumerate(batch) for _ in rows[r][1]])
        scores = prefix_reuse_margin(model, prefix_ids.to(device), prefix_mask.to(device),
                                     suffix_ids.to(device), suffix_mask.to(device),
                                     owner.to(device), yes_no).cpu().numpy()
        k = 0
        for r in batch:
            n = len(rows[r][1])
            out[r][:] = scores[k:k + n]
            k += n
    return out
