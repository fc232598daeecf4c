"""Fine-tune an LLM reranker with (Q)LoRA to answer Yes/No: "does this misconception explain
this wrong answer?", on each training row's gold misconception and hard negatives.

\b
Reads  TRAIN          train_long.parquet (labelled rows)
       MISCONCEPTIONS misconceptions.parquet (candidate names)
       RANKING        the retriever's out-of-fold ranking of train: hard negatives come from
                      its top ranks (--negative-ranks), as the reranker will see at inference
       FOLDS + FOLD   train on the rows outside fold FOLD (a CV adapter); no --fold: all rows
Writes OUT/           the LoRA adapter (adapter_model.safetensors, adapter_config.json),
                      reranker.json (base model + settings to load it), train.json (groups,
                      seconds, pairs/s, loss curve): the last file written
       OUT.checkpoints/ while training: a re-run after a kill resumes from the last one;
                      deleted when the adapter is complete

Each example is a group: one row's gold + N negatives, all sharing the row's prompt prefix,
which runs once per group unless gradient checkpointing is on (it turns the KV cache off).
Loss on the last position's logit(Yes) - logit(No): `group` = softmax cross-entropy over the
group (gold vs its negatives, a listwise loss), `bce` = pointwise binary cross-entropy.
Uses transformers' Trainer (checkpoints, resume, accumulation, bf16) and peft; gradient
checkpointing runs with use_reentrant=False (needed with frozen 4-bit weights and LoRA).
"""

import shutil
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

import common
import reranker


def training_groups(rows: pd.DataFrame, names: dict[int, str], negatives: dict[str, list[int]],
                    n_negatives: int, prompts: reranker.PromptBuilder, seed: int) -> list[dict]:
    """One group per labelled row: {"prefix", "suffixes" (gold first), "labels" [1, 0, ...]}.

    Every group has 1 + n_negatives candidates (the loss reshapes a batch to groups); where
    the ranking had too few (gold deep in the window), random misconceptions fill in.
    """
    rng = np.random.default_rng(seed)
    all_ids = np.array(sorted(names))
    groups = []
    for row in rows.to_dict("records"):
        gold = int(row["MisconceptionId"])
        picked = [m for m in negatives.get(row["QuestionId_Answer"], []) if m != gold][:n_negatives]
        while len(picked) < n_negatives:
            m = int(rng.choice(all_ids))
            if m != gold and m not in picked:
                picked.append(m)
        prefix, suffixes = prompts.encode(row, [names[gold]] + [names[m] for m in picked])
        groups.append({"prefix": prefix, "suffixes": suffixes,
                       "labels": [1.0] + [0.0] * n_negatives})
    return groups


class GroupCollator:
    """Groups -> one batch, group after group.

    shared_prefix: each group's prefix once (right-padded) + its suffixes (left-padded), for
    prefix_reuse_margin: a group of 1 + 7 candidates then costs ~1 prefix instead of 8.
    Otherwise full prefix+suffix sequences, left-padded (needed with gradient checkpointing,
    which turns the KV cache off).
    """

    def __init__(self, pad_id: int, shared_prefix: bool):
        self.pad_id, self.shared_prefix = pad_id, shared_prefix

    def __call__(self, groups: list[dict]) -> dict:
        labels = torch.tensor([x for g in groups for x in g["labels"]])
        if not self.shared_prefix:
            sequences = [g["prefix"] + s for g in groups for s in g["suffixes"]]
            ids, mask = reranker.pad(sequences, self.pad_id, "left")
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}
        prefix_ids, prefix_mask = reranker.pad([g["prefix"] for g in groups], self.pad_id, "right")
        suffix_ids, suffix_mask = reranker.pad([s for g in groups for s in g["suffixes"]],
                                               self.pad_id, "left")
        owner = torch.tensor([i for i, g in enumerate(groups) for _ in g["suffixes"]])
        return {"prefix_ids": prefix_ids, "prefix_mask": prefix_mask, "suffix_ids": suffix_ids,
                "suffix_mask": suffix_mask, "owner": owner, "labels": labels}


class YesNoTrainer(Trainer):
    """Trainer whose loss is on the Yes-No logit margin of the last position."""

    def __init__(self, *args, yes_no: tuple[int, int], group_size: int, loss_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.yes_no, self.group_size, self.loss_name = yes_no, group_size, loss_name

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        if "owner" in inputs:
            margin = reranker.prefix_reuse_margin(model, yes_no=self.yes_no, **inputs)
        else:
            margin = reranker.yes_no_margin(model, inputs["input_ids"], inputs["attention_mask"],
                                            self.yes_no)
        if self.loss_name == "group":
            # gold is first in every group: cross-entropy of the gold among its negatives
            logits = margin.view(-1, self.group_size)
            target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
            loss = torch.nn.functional.cross_entropy(logits, target)
        else:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(margin, labels.to(margin))
        return (loss, {"margin": margin}) if return_outputs else loss


def train(spec, groups: list[dict], prompts, checkpoints: Path, max_steps: int, seed: int):
    """Run the Trainer on the groups; resume from the newest checkpoint if any."""
    cuda = torch.cuda.is_available()
    torch.manual_seed(seed)
    model = reranker.load_model(spec, trainable=True)
    steps_per_epoch = max(1, len(groups) // (spec.batch_size * spec.grad_accum))
    total = max_steps if max_steps > 0 else int(np.ceil(steps_per_epoch * spec.epochs))
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=spec.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=spec.batch_size,
        gradient_accumulation_steps=spec.grad_accum,
        learning_rate=spec.lr,
        warmup_steps=spec.warmup_ratio,  # a float below 1 is a ratio in transformers v5
        lr_scheduler_type="cosine",
        weight_decay=0.0,
        bf16=cuda,
        use_cpu=not cuda,
        activation_checkpointing=spec.gradient_checkpointing,  # v5's name for it
        activation_checkpointing_kwargs={"use_reentrant": False},
        save_strategy="steps",
        save_steps=max(5, total // 4),  # ~4 checkpoints a run, 1 kept
        save_total_limit=1,
        logging_steps=max(1, total // 20),
        remove_unused_columns=False,  # the collator needs the group fields
        report_to="none",
        seed=seed,
        disable_tqdm=False,
    )
    trainer = YesNoTrainer(model=model, args=args, train_dataset=groups,
                           data_collator=GroupCollator(prompts.pad_id,
                                                       shared_prefix=not spec.gradient_checkpointing),
                           yes_no=prompts.yes_no,
                           group_size=len(groups[0]["labels"]), loss_name=spec.loss)
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        common.log.info("resuming from %s", last)
    result = trainer.train(resume_from_checkpoint=last)
    return model, result, trainer.state.log_history


def save_adapter(model, spec, out: Path, stats: dict) -> None:
    """Write the adapter folder in a temp folder, then rename: OUT exists only when complete."""
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))  # a PeftModel: the adapter weights and config only
    reranker.save_spec(spec.replace(adapter="./"), tmp)
    common.write_json(stats, tmp / "train.json")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


@click.command(help=__doc__)
@click.option("--model", "model_name", default="smollm135m", show_default=True,
              help="Registry name (scripts/registry.py), HF id or local folder of the base LLM.")
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--ranking", "ranking_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The retriever's out-of-fold ranking of train (negatives).")
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fold", type=int, help="Hold this fold out (needs --folds); omit: all rows.")
@click.option("--negatives", "n_negatives", type=click.IntRange(1), help="Per row [registry's].")
@click.option("--negative-ranks", help="FIRST:LAST window of ranks [registry's].")
@click.option("--loss", type=click.Choice(["group", "bce"]), help="[registry's]")
@click.option("--epochs", type=float, help="[registry's]")
@click.option("--batch-size", type=click.IntRange(1), help="Groups per device step [registry's].")
@click.option("--grad-accum", type=click.IntRange(1), help="[registry's]")
@click.option("--lr", type=float, help="[registry's]")
@click.option("--max-length", type=click.IntRange(32), help="[registry's]")
@click.option("--max-steps", type=int, default=-1, show_default=True,
              help="Stop after this many optimiser steps (-1: run the epochs); a CPU budget.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(model_name, train_path, misconceptions, ranking_path, folds_path, fold, n_negatives,
         negative_ranks, loss, epochs, batch_size, grad_accum, lr, max_length, max_steps, seed, out):
    common.setup_logging()
    with common.step_timer("train_reranker", model=model_name, fold=fold) as record:
        spec = reranker.reranker_spec(model_name).replace(
            negatives=n_negatives, negative_ranks=negative_ranks, loss=loss, epochs=epochs,
            batch_size=batch_size, grad_accum=grad_accum, lr=lr, max_length=max_length)
        rows = common.training_rows(train_path, folds_path, fold)
        names = common.misconception_names(misconceptions)
        first, last = (int(x) for x in spec.negative_ranks.split(":"))
        gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
        negatives = common.mine_hard_negatives(common.read_ranking(ranking_path), gold,
                                               spec.negatives, (first, last), None, seed)
        prompts = reranker.PromptBuilder(reranker.load_tokenizer(spec), spec.max_length, model_name)
        groups = training_groups(rows, names, negatives, spec.negatives, prompts, seed)
        common.log.info("training reranker %s on %d groups of %d (%s), loss %s", model_name,
                        len(groups), spec.negatives + 1,
                        f"fold {fold} held out" if fold is not None else "all rows", spec.loss)

        checkpoints = out.parent / f"{out.name}.checkpoints"
        start = time.time()
        model, result, history = train(spec, groups, prompts, checkpoints, max_steps, seed)
        seconds = time.time() - start
        groups_per_second = result.metrics["train_samples_per_second"]
        stats = {"model": model_name, "fold": fold, "groups": len(groups),
                 "group_size": spec.negatives + 1, "loss": spec.loss, "steps": result.global_step,
                 "train_seconds": round(seconds, 1),
                 "pairs_per_second": round(groups_per_second * (spec.negatives + 1), 2),
                 "final_loss": round(result.training_loss, 4),
                 "loss_curve": [(h["step"], round(h["loss"], 4)) for h in history if "loss" in h]}
        save_adapter(model, spec, out, stats)
        shutil.rmtree(checkpoints, ignore_errors=True)
        record.update({k: stats[k] for k in ("groups", "train_seconds", "pairs_per_second",
                                             "final_loss")})


if __name__ == "__main__":
    main()
