"""Score out-of-fold rankings of train: Kaggle's MAP@25 and recall@K, overall, per fold, and
split by whether the gold misconception is seen in the other folds.

\b
Reads  TRAIN    train_long.parquet (the gold MisconceptionId; rows without one are skipped,
                as Kaggle skips them)
       FOLDS    the folds Parquet (make_folds.py)
       RANKING  one or more NAME=PATH rankings of train (the ranking contract)
       TRAINED  (optional) NAME=DIR with {fold}: the fold models behind ranking NAME; their
                train.json adds each fold's training seconds to the table
Writes OUT_JSON {name: {slice: {rows, map@25, recall@1, ...}}}
       OUT_TABLE the same as a text table, also printed on stdout

A labelled row its ranking does not list at all scores 0, as it would on Kaggle. "seen" rows
have a gold misconception that occurs in the other folds' rows (what a model trained on those
folds could have learnt); "unseen" rows do not: the case of 38% of Kaggle's test misconceptions.
"""

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd

import common

RECALL_KS = (1, 5, 25, 50, 100)


def seen_in_other_folds(labelled: pd.DataFrame) -> pd.Series:
    """For each labelled row: does its MisconceptionId occur in a row of another fold?"""
    folds_per_id = labelled.groupby("MisconceptionId")["fold"].agg(set)
    return pd.Series(
        [len(folds_per_id[m] - {f}) > 0 for m, f in zip(labelled["MisconceptionId"],
                                                        labelled["fold"])],
        index=labelled.index)


def slice_metrics(ranks: pd.Series) -> dict:
    """All metrics of one slice of rows, from the gold ranks alone."""
    out = {"rows": int(len(ranks)), "map@25": common.map_at_k(ranks)}
    out.update({f"recall@{k}": common.recall_at_k(ranks, k) for k in RECALL_KS})
    return out


def evaluate_ranking(ranking: pd.DataFrame, labelled: pd.DataFrame) -> dict:
    """{slice name: metrics} for slices all, fold0..foldN-1, seen, unseen."""
    ranks = common.gold_ranks(ranking, labelled.set_index("QuestionId_Answer")["MisconceptionId"])
    ranks.index = labelled.index
    slices = {"all": ranks}
    for fold in sorted(labelled["fold"].unique()):
        slices[f"fold{fold}"] = ranks[labelled["fold"] == fold]
    slices["seen"] = ranks[labelled["seen"]]
    slices["unseen"] = ranks[~labelled["seen"]]
    return {name: slice_metrics(r) for name, r in slices.items()}


def add_training_time(metrics: dict, model_dir: str) -> None:
    """Put each fold model's training seconds (its train.json) beside its fold's metrics,
    and their sum beside "all", so CV tables show what each number cost."""
    total = 0.0
    for name, m in metrics.items():
        if name.startswith("fold"):
            stats = Path(model_dir.format(fold=name[len("fold"):])) / "train.json"
            if stats.is_file():
                m["train_s"] = json.loads(stats.read_text())["train_seconds"]
                total += m["train_s"]
    if total:
        metrics["all"]["train_s"] = round(total, 1)


def format_table(results: dict) -> str:
    """One line per (ranking, slice); rankings side by side, slices in a fixed order."""
    lines = []
    for name, by_slice in results.items():
        for slice_name, m in by_slice.items():
            lines.append({"ranking": name, "slice": slice_name, **m})
    df = pd.DataFrame(lines)
    if "train_s" in df:  # seconds read better as whole numbers, blanks where not trained
        df["train_s"] = df["train_s"].map(lambda x: "" if pd.isna(x) else f"{x:.0f}")
    return df.to_string(index=False, float_format=lambda x: f"{x:.4f}")


@click.command(help=__doc__)
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="train_long.parquet from reshape.py.")
@click.option("--folds", "folds_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Folds Parquet from make_folds.py.")
@click.option("--ranking", "rankings", multiple=True, required=True, metavar="NAME=PATH",
              help="A ranking of train to score; repeat to compare several side by side.")
@click.option("--trained", multiple=True, metavar="NAME=DIR",
              help="Fold models of ranking NAME, DIR containing {fold}: adds training time.")
@click.option("--out-json", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--out-table", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(train_path: Path, folds_path: Path, rankings: tuple[str], trained: tuple[str],
         out_json: Path, out_table: Path):
    common.setup_logging()
    with common.step_timer("evaluate", rankings=list(rankings)) as record:
        train = pd.read_parquet(train_path)
        labelled = train.assign(fold=common.fold_of(train, folds_path))
        labelled = labelled[labelled["MisconceptionId"].notna()].reset_index(drop=True)
        labelled["MisconceptionId"] = labelled["MisconceptionId"].astype(np.int64)
        labelled["seen"] = seen_in_other_folds(labelled)

        results = {}
        for spec in rankings:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise click.BadParameter(f"{spec!r} is not NAME=PATH", param_hint="--ranking")
            results[name] = evaluate_ranking(common.read_ranking(path), labelled)
            record[f"{name}_map@25"] = round(results[name]["all"]["map@25"], 4)

        for spec in trained:
            name, _, model_dir = spec.partition("=")
            if name in results:
                add_training_time(results[name], model_dir)

        table = format_table(results)
        header = (f"CV on {len(labelled)} labelled rows of {len(train)} "
                  f"({int((~labelled['seen']).sum())} unseen in other folds)\n")
        common.write_json(results, out_json)
        common.write_text(header + table + "\n", out_table)
        click.echo(header + table)


if __name__ == "__main__":
    main()
