"""Fine-tuning an LLM reranker with (Q)LoRA to answer Yes/No: "does this misconception explain
this wrong answer?", on each training row's gold misconception and hard negatives.

    groups = training_groups(rows, names, negatives, prompts)
    # [{"prefix": ids, "suffixes": [gold ids, negative ids, ...], "labels": [1, 0, ...]}, ...]
    model, result, history, state = train(spec, groups, prompts, checkpoints_of(out), max_steps, seed)
    save_model_folder(out, model.save_pretrained, spec.replace(adapter="./"), stats)

Each example is a group: one row's gold + N negatives, all sharing the row's prompt prefix,
which runs once per group: the group is packed in one sequence (GroupCollator), so this holds
with gradient checkpointing too.
Loss on the last position's logit(Yes) - logit(No): `group` = softmax cross-entropy over the
group (gold vs its negatives, a listwise loss), `bce` = pointwise binary cross-entropy.
Uses transformers' Trainer (checkpoints, resume, accumulation, bf16) and peft; gradient
checkpointing runs with use_reentrant=False (needed with frozen 4-bit weights and LoRA).

A listwise reranker (spec.listwise) trains through the same train(): each example is one
prompt listing the gold among its row's hard negatives in a shuffled order, the loss the
cross-entropy of the window's label logits against the gold's label:

    windows = training_windows(rows, names, negatives, prompts, size=spec.window, seed=42)
    # [{"input_ids": ids of one listwise prompt, "gold_at": the gold's position}, ...]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import Trainer, TrainingArguments

from eedi.model_folder import last_checkpoint
from eedi.rerank.listwise import training_window
from eedi.rerank.listwise_scoring import last_label_logits, listwise_loss
from eedi.rerank.prompt import ListPromptBuilder, PromptBuilder
from eedi.rerank.reranker import load_model
from eedi.rerank.yes_no_scoring import pack_groups, packed_margin, pad, yes_no_margin
from eedi.training_args import trainer_arguments

def training_groups(rows: pd.DataFrame, names: dict[int, str], negatives: dict[str, list[int]],
                    prompts: PromptBuilder) -> list[dict]:
    """One group per labelled row: {"prefix", "suffixes" (gold first), "labels" [1, 0, ...]}.

    negatives: the same number of ids for every row (negatives.top_up makes it so), as the
    loss reshapes a batch into groups of one size.
    """
    groups = []
    for row in rows.to_dict("records"):
        gold = int(row["MisconceptionId"])
        picked = negatives[row["QuestionId_Answer"]]
        prefix, suffixes = prompts.encode(row, [names[gold]] + [names[m] for m in picked])
        groups.append({"prefix": prefix, "suffixes": suffixes,
                       "labels": [1.0] + [0.0] * len(picked)})
    return groups


def training_windows(rows: pd.DataFrame, names: dict[int, str], negatives: dict[str, list[int]],
                     prompts: ListPromptBuilder, size: int, seed: int) -> list[dict]:
    """One listwise prompt per labelled row: its gold and its first size - 1 hard negatives in
    a random order (seeded), so the gold is behind every label about equally often.
    Out: [{"input_ids": prompt ids, "gold_at": the gold's position}]."""
    rng = np.random.default_rng(seed)
    examples = []
    for row in rows.to_dict("records"):
        window, gold_at = training_window(int(row["MisconceptionId"]),
                                          negatives[row["QuestionId_Answer"]], size, rng)
        examples.append({"input_ids": prompts.encode_window(row, [names[m] for m in window]),
                         "gold_at": gold_at, "size": len(window)})
    return examples


class WindowCollator:
    """Listwise prompts -> one left-padded batch; labels: each gold's position."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: list[dict]) -> dict:
        ids, mask = pad([x["input_ids"] for x in examples], self.pad_id, "left")
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([x["gold_at"] for x in examples])}


class ListwiseTrainer(Trainer):
    """Trainer whose loss is the cross-entropy of a window's label logits at the last position
    against the gold's label (every window of one size: label_ids holds that many)."""

    loss_is_scaled_for_ga = False  # a mean over the micro-batch, as YesNoTrainer's

    def __init__(self, *args, label_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.label_ids = label_ids

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        logits = last_label_logits(model, inputs["input_ids"], inputs["attention_mask"],
                                   self.label_ids)
        loss = listwise_loss(logits, labels.to(logits.device))
        return (loss, {"logits": logits}) if return_outputs else loss


class GroupCollator:
    """Groups -> one batch, group after group.

    shared_prefix: each group packed in one sequence, its prefix once and then its suffixes,
    each suffix seeing the prefix and itself only (yes_no_scoring.pack_groups): a group of 1 + 7
    candidates costs ~1 prefix instead of 8, with or without gradient checkpointing. Otherwise
    full prefix+suffix sequences, left-padded (the reference; make bench-rerank compares them).
    """

    def __init__(self, pad_id: int, shared_prefix: bool):
        self.pad_id, self.shared_prefix = pad_id, shared_prefix

    def __call__(self, groups: list[dict]) -> dict:
        labels = torch.tensor([x for g in groups for x in g["labels"]])
        if not self.shared_prefix:
            sequences = [g["prefix"] + s for g in groups for s in g["suffixes"]]
            ids, mask = pad(sequences, self.pad_id, "left")
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}
        packed = pack_groups([(g["prefix"], g["suffixes"]) for g in groups], self.pad_id)
        return {**packed, "labels": labels}


class YesNoTrainer(Trainer):
    """Trainer whose loss is on the Yes-No logit margin of the last position."""

    # The loss is a mean over the micro-batch's groups, not normalised by num_items_in_batch:
    # the Trainer must divide it by the accumulation steps. Left to its default (None) it
    # skips the division whenever the batch has "labels" and the model's forward takes
    # **kwargs (Llama, Qwen2), so grad_accum=16 gave 16x the gradients and logged loss.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, yes_no: tuple[int, int], group_size: int, loss_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.yes_no, self.group_size, self.loss_name = yes_no, group_size, loss_name

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        margin = batch_margin(model, inputs, self.yes_no)
        loss = group_loss(margin, labels, self.group_size, self.loss_name)
        return (loss, {"margin": margin}) if return_outputs else loss


def batch_margin(model, batch: dict, yes_no) -> torch.Tensor:
    """The Yes-No margin of every candidate of a GroupCollator batch (labels removed)."""
    if "last" in batch:
        return packed_margin(model, yes_no=yes_no, **batch)
    return yes_no_margin(model, batch["input_ids"], batch["attention_mask"], yes_no)


def group_loss(margin: torch.Tensor, labels: torch.Tensor, group_size: int, loss_name: str):
    """`group`: cross-entropy of the gold (first in every group) among its negatives, a mean over
    the groups; `bce`: pointwise binary cross-entropy on the labels."""
    if loss_name == "group":
        logits = margin.view(-1, group_size)
        target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        return torch.nn.functional.cross_entropy(logits, target)
    return torch.nn.functional.binary_cross_entropy_with_logits(margin, labels.to(margin))


def train(spec, groups: list[dict], prompts, checkpoints: Path, max_steps: int, seed: int,
          fsdp: bool = False):
    """Run the Trainer on the groups (listwise: training_windows' prompts); resume from the
    newest checkpoint if any. Returns (model,
    TrainOutput, log history, state): state is the full weights gathered from FSDP's shards (a
    collective, so on every rank) for model.save_pretrained(state_dict=state); None otherwise."""
    torch.manual_seed(seed)
    steps_per_epoch = max(1, len(groups) // (spec.batch_size * spec.grad_accum))
    total = max_steps if max_steps > 0 else int(np.ceil(steps_per_epoch * spec.epochs))
    # before the model loads: under FSDP, TrainingArguments tells from_pretrained (through the
    # environment) to load the weights on rank 0 only
    args = TrainingArguments(
        **trainer_arguments(spec, checkpoints, max_steps, seed,
                            save_steps=max(5, total // 4),  # ~4 checkpoints a run
                            logging_steps=max(1, total // 20), fsdp=fsdp),
        lr_scheduler_type="cosine",
        weight_decay=0.0,
        activation_checkpointing=spec.gradient_checkpointing,  # v5's name for it
        activation_checkpointing_kwargs={"use_reentrant": False},
        remove_unused_columns=False,  # the collator needs the group fields
    )
    model = load_model(spec, trainable=True, fsdp=fsdp)
    if spec.listwise:
        trainer = ListwiseTrainer(model=model, args=args, train_dataset=groups,
                                  data_collator=WindowCollator(prompts.pad_id),
                                  label_ids=prompts.label_ids[:groups[0]["size"]])
    else:
        trainer = YesNoTrainer(model=model, args=args, train_dataset=groups,
                               data_collator=GroupCollator(prompts.pad_id, shared_prefix=True),
                               yes_no=prompts.yes_no,
                               group_size=len(groups[0]["labels"]), loss_name=spec.loss)
    result = trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints))
    state = trainer.accelerator.get_state_dict(trainer.model) if fsdp else None
    return model, result, trainer.state.log_history, state
