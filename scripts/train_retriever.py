"""Fine-tune a bi-encoder retriever on (query, gold misconception) pairs with in-batch and
mined hard negatives.

\b
Reads  TRAIN          train_long.parquet (labelled rows are the training pairs)
       MISCONCEPTIONS misconceptions.parquet (names of gold and negatives)
       FOLDS + FOLD   train on the rows outside fold FOLD (a CV model); no --fold: all rows
       NEGATIVES      a ranking of train (e.g. zero-shot) to mine hard negatives from
Writes OUT/           the model folder: sentence-transformers weights (or the LoRA adapter),
                      retriever.json (how to load and prompt it), train.json (examples,
                      seconds, examples/s, loss curve): the last file written
       OUT.checkpoints/ while training: a re-run after a kill resumes from the last one;
                      deleted when the model is complete

Loss: MultipleNegativesRankingLoss: each query against its gold, the batch's other golds and
its hard negatives; CachedMultipleNegativesRankingLoss (GradCache) gives the same loss with
big batches in small memory. Batches never hold one misconception twice (that would make a
gold a false in-batch negative). LLM embedders train a LoRA adapter (peft), on a 4-bit base
where CUDA is present.
"""

import dataclasses
import shutil
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import torch

import common
import embedding


def training_examples(rows: pd.DataFrame, names: dict[int, str], negatives: dict[str, list[int]],
                      n_negatives: int, query_prefix: str, seed: int) -> dict[str, list[str]]:
    """Columns anchor, positive, negative_1..n for the trainer (MNRL reads them in order).

    Every row needs the same number of negatives: where mining found fewer (gold near the
    end of the window), random other misconceptions fill in.
    """
    rng = np.random.default_rng(seed)
    all_ids = np.array(sorted(names))
    columns = {"anchor": [], "positive": []} | {f"negative_{j + 1}": [] for j in range(n_negatives)}
    for row in rows.to_dict("records"):
        gold = int(row["MisconceptionId"])
        mined = negatives.get(row["QuestionId_Answer"], [])[:n_negatives]
        while len(mined) < n_negatives:
            pick = int(rng.choice(all_ids))
            if pick != gold and pick not in mined:
                mined.append(pick)
        columns["anchor"].append(query_prefix + common.query_text(row))
        columns["positive"].append(names[gold])
        for j, m in enumerate(mined):
            columns[f"negative_{j + 1}"].append(names[m])
    return columns


def train(spec, examples: dict, checkpoints: Path, max_steps: int, seed: int):
    """Run the sentence-transformers trainer; resume from the newest checkpoint if any."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss, MultipleNegativesRankingLoss)
    from transformers.trainer_utils import get_last_checkpoint

    cuda = torch.cuda.is_available()
    model = embedding.load_embedder(spec)
    if spec.lora is not None:
        from peft import LoraConfig, TaskType
        model.add_adapter(LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, **spec.lora))
    if spec.loss == "cached-mnrl":
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=spec.mini_batch_size)
    elif spec.loss == "mnrl":
        loss = MultipleNegativesRankingLoss(model)
    else:
        raise click.BadParameter(f"unknown loss {spec.loss!r} (mnrl | cached-mnrl)")

    dataset = Dataset.from_dict(examples)
    steps_per_epoch = max(1, len(dataset) // spec.batch_size)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=spec.epochs,
        max_steps=max_steps,
        per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.lr,
        warmup_steps=spec.warmup_ratio,  # a float below 1 is a ratio in transformers v5
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        bf16=cuda,
        use_cpu=not cuda,
        save_strategy="steps",
        save_steps=max(10, steps_per_epoch // 4),  # ~4 checkpoints an epoch, 1 kept
        save_total_limit=1,
        logging_steps=max(1, steps_per_epoch // 10),
        report_to="none",
        seed=seed,
        disable_tqdm=False,
        **({"activation_checkpointing": True,  # LLM embedders: memory for big batches
            "activation_checkpointing_kwargs": {"use_reentrant": False}}
           if spec.gradient_checkpointing else {}),
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if last:
        common.log.info("resuming from %s", last)
    result = trainer.train(resume_from_checkpoint=last)
    return model, result, trainer.state.log_history


def save_model(model, spec, out: Path, stats: dict) -> None:
    """Write the model folder in a temp folder, then rename: OUT exists only when complete."""
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if spec.lora is not None:
        model.save_pretrained(str(tmp))  # with an adapter attached: the adapter weights only
        saved = spec.replace(adapter="./")
    else:
        model.save_pretrained(str(tmp))
        saved = dataclasses.replace(spec, model="./", adapter=None)
    embedding.save_spec(saved, tmp)
    common.write_json(stats, tmp / "train.json")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


@click.command(help=__doc__)
@click.option("--model", "model_name", default="minilm", show_default=True,
              help="Registry name, HF id or local folder to start from.")
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--misconceptions", type=click.Path(dir_okay=False, path_type=Path),
              required=True)
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fold", type=int, help="Hold this fold out (needs --folds); omit: all rows.")
@click.option("--negatives", "negatives_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Ranking of train to mine hard negatives from; omit: in-batch only.")
@click.option("--n-negatives", type=click.IntRange(0), help="Per row [registry's].")
@click.option("--negative-ranks", default="1:50", show_default=True,
              help="FIRST:LAST window of ranks that negatives are drawn from.")
@click.option("--negative-margin", type=float,
              help="Drop candidates scoring above gold's score minus this (false negatives).")
@click.option("--epochs", type=float, help="[registry's]")
@click.option("--batch-size", type=click.IntRange(2), help="[registry's]")
@click.option("--lr", type=float, help="[registry's]")
@click.option("--loss", type=click.Choice(["mnrl", "cached-mnrl"]), help="[registry's]")
@click.option("--max-steps", type=int, default=-1, show_default=True,
              help="Stop after this many steps (-1: run the epochs); for quick CPU runs.")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(model_name, train_path, misconceptions, folds_path, fold, negatives_path, n_negatives,
         negative_ranks, negative_margin, epochs, batch_size, lr, loss, max_steps, seed, out):
    common.setup_logging()
    with common.step_timer("train_retriever", model=model_name, fold=fold) as record:
        spec = embedding.embedder_spec(model_name).replace(
            epochs=epochs, batch_size=batch_size, lr=lr, loss=loss, hard_negatives=n_negatives)
        rows = common.training_rows(train_path, folds_path, fold)
        names = common.misconception_names(misconceptions)

        negatives = {}
        if negatives_path is not None and spec.hard_negatives > 0:
            first, last = (int(x) for x in negative_ranks.split(":"))
            gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
            negatives = common.mine_hard_negatives(common.read_ranking(negatives_path), gold,
                                                   spec.hard_negatives, (first, last),
                                                   negative_margin, seed)
        n_neg = spec.hard_negatives if negatives_path is not None else 0
        examples = training_examples(rows, names, negatives, n_neg, spec.query_prefix, seed)
        common.log.info("training %s on %d pairs (%s), %d hard negatives each, %s epochs",
                        model_name, len(rows), f"fold {fold} held out" if fold is not None
                        else "all rows", n_neg, spec.epochs)

        checkpoints = out.parent / f"{out.name}.checkpoints"
        start = time.time()
        model, result, history = train(spec, examples, checkpoints, max_steps, seed)
        seconds = time.time() - start
        stats = {"model": model_name, "fold": fold, "pairs": len(rows), "hard_negatives": n_neg,
                 "epochs": spec.epochs, "steps": result.global_step, "train_seconds": round(seconds, 1),
                 "examples_per_second": round(result.metrics["train_samples_per_second"], 2),
                 "final_loss": round(result.training_loss, 4),
                 "loss_curve": [(h["step"], round(h["loss"], 4)) for h in history if "loss" in h]}
        save_model(model, spec, out, stats)
        shutil.rmtree(checkpoints, ignore_errors=True)
        record.update({k: stats[k] for k in ("pairs", "train_seconds", "examples_per_second",
                                             "final_loss")})


if __name__ == "__main__":
    main()
