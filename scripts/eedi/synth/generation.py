"""Writing and judging synthetic questions with an LLM (HF generate), resumable by chunks.

    messages = writer_messages(target_name, shots)   # chat turns: each shot a (misconception ->
                                                     # question) exchange, then the target
    texts = generate(model, tokenizer, [writer_prompt(tokenizer, messages)], seed=42)
    scores = judge(model, tokenizer, [(target_name, question)])   # 0-10 each
    store = PartStore(Path("synth.csv.parts"), fingerprint)       # a killed run's chunks kept

The writer's answer is prefilled with "Subject:" so even a small model starts in the format;
sampling is seeded per chunk (seed + chunk index), so a resumed run writes what an uninterrupted
one would. The judge reads the question and the misconception and its score is the expected
digit under the model's distribution over "0".."9" at the answer position, x 10/9.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from eedi.files import parts_folder, write_text
from eedi.run_log import log
from eedi.synth.question_format import render

WRITER_INSTRUCTION = (
    "You write multiple-choice maths questions for secondary-school students. Each question has "
    "four answers, A to D: one correct, and one wrong answer that a student holding the given "
    "misconception would choose. Reply in exactly the format of the earlier answers.")
JUDGE_INSTRUCTION = (
    "Here is a maths question and a misconception. Is the question correct, and would a student "
    "holding the misconception choose the wrong answer marked? Rate it from 0 (no) to 9 (yes, "
    "clearly). Answer with one digit.")
PREFILL = "Subject:"


def writer_messages(target: str, shots: list[tuple[str, dict, str]]) -> list[dict]:
    """shots: [(misconception name, its question's wide row, the wrong answer's letter)]."""
    messages = []
    for i, (name, row, letter) in enumerate(shots):
        ask = f"Misconception: {name}"
        messages += [{"role": "user", "content": f"{WRITER_INSTRUCTION}\n\n{ask}" if i == 0 else ask},
                     {"role": "assistant", "content": render(row, letter)}]
    ask = f"Misconception: {target}"
    messages.append({"role": "user", "content": f"{WRITER_INSTRUCTION}\n\n{ask}" if not shots else ask})
    return messages


def writer_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat template's text with the answer begun: PREFILL."""
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=True) + PREFILL


def judge_prompt(tokenizer, target: str, question: dict[str, str]) -> str:
    text = (f"{JUDGE_INSTRUCTION}\n\nMisconception: {target}\n\n"
            + "\n".join(f"{f}: {question[f]}" for f in question))
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], seed: int, max_new_tokens: int = 256,
             temperature: float = 0.8, top_p: float = 0.95, batch_size: int = 8) -> list[str]:
    """Sampled continuations of the prompts (left-padded batches), PREFILL put back in front:
    the text parse() reads."""
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    out = []
    for batch in _batches(prompts, batch_size):
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        ids = model.generate(**encoded, do_sample=True, temperature=temperature, top_p=top_p,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        new = ids[:, encoded["input_ids"].shape[1]:]
        out += [PREFILL + t for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return out


@torch.inference_mode()
def judge(model, tokenizer, items: list[tuple[str, dict]], batch_size: int = 8) -> list[float]:
    """0-10 per (misconception name, question): the expected digit x 10/9."""
    digits = [tokenizer.encode(str(d), add_special_tokens=False) for d in range(10)]
    if any(len(d) != 1 for d in digits):
        raise ValueError("the judge's tokenizer splits a digit; it needs one token per digit")
    digit_ids = [d[0] for d in digits]
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    scores = []
    for batch in _batches(items, batch_size):
        prompts = [judge_prompt(tokenizer, target, q) for target, q in batch]
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        logits = model(**encoded, logits_to_keep=1).logits[:, -1, digit_ids].float()
        p = torch.softmax(logits, -1)
        scores += ((p * torch.arange(10, device=device)).sum(-1) * 10 / 9).cpu().tolist()
    return [round(s, 3) for s in scores]


class PartStore:
    """Finished chunks of one synth run, kept beside its output so a killed run resumes.

    FOLDER/manifest.json     the run's fingerprint: parts of any other run are discarded
    FOLDER/<chunk>.jsonl     one record per attempt (written atomically when the chunk ends)
    """

    def __init__(self, folder: Path, fingerprint: dict):
        self.folder = folder
        if parts_folder(folder, fingerprint):
            log.info("discarded %s: written by a run with other settings or inputs", folder)

    def load(self, chunk: int, targets: list[int]) -> list[dict] | None:
        """The chunk's records if it was finished for exactly these targets (in order)."""
        path = self.folder / f"{chunk:05d}.jsonl"
        if not path.is_file():
            return None
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        return records if [r["target"] for r in records] == list(targets) else None

    def save(self, chunk: int, records: list[dict]) -> None:
        write_text("".join(json.dumps(r) + "\n" for r in records), self.folder / f"{chunk:05d}.jsonl")

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def counts(records: list[dict]) -> dict:
    """Attempts, parsed, valid, judged and kept, and the drops by reason."""
    reasons: dict[str, int] = {}
    for r in records:
        if r["status"] != "kept":
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    judged = [r["judge"] for r in records if r.get("judge") is not None]
    return {"attempts": len(records),
            "parsed": sum(r["status"] != "unparseable" for r in records),
            "valid": sum(r["status"] in ("kept", "judged out") for r in records),
            "judged": len(judged),
            "judge_mean": round(float(np.mean(judged)), 3) if judged else None,
            "kept": sum(r["status"] == "kept" for r in records),
            "dropped_by_reason": dict(sorted(reasons.items()))}
