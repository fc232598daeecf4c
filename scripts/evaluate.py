"""Score out-of-fold rankings of train: Kaggle's MAP@25 and recall@K, overall, per fold, and
split by whether the gold misconception is seen in the other folds.

\b
Reads  TRAIN    train_long.parquet (the gold MisconceptionId; rows without one are skipped,
                as Kaggle skips them)
       FOLDS    the folds Parquet (make_folds.py)
       RANKING  one or more NAME=PATH rankings of train (the ranking contract); where a
                ranking names its fold models (retrieve_embed.py, rerank.py), each model's
                train.json adds its training seconds to the table
Writes OUT_JSON {name: {slice: {rows, map@25, recall@1, ...}}}; every ranking after the
                first also has delta_map@25, delta_lo, delta_hi per slice: its MAP@25 minus
                the first's on the same rows, with a 95% interval from resampling whole
                GROUP_BY groups (questions) with replacement
       OUT_TABLE the same as a text table, also printed on stdout

A labelled row its ranking does not list at all scores 0, as it would on Kaggle. "seen" rows
have a gold misconception that occurs in the other folds' rows (what a model trained on those
folds could have learnt); "unseen" rows do not: the case of 38% of Kaggle's test misconceptions.
"""

from pathlib import Path

import click
import pandas as pd

from eedi.errors import DataError
from eedi.files import write_json, write_text
from eedi.folds import FOLD_FIELD, labelled_rows
from eedi.metrics import (bootstrap_weights, cv_difference, cv_metrics, difference_text,
                          labelled_ranks)
from eedi.model_folder import fold_training_seconds
from eedi.options import parse_named
from eedi.ranking import ranking_models, read_ranking
from eedi.run_log import setup_logging, step_timer


def add_training_time(metrics: dict, models: str) -> None:
    """Put each fold model's training seconds (its train.json) beside its fold's metrics,
    and their sum beside "all", so CV tables show what each number cost."""
    per_fold = fold_training_seconds(models, [int(n[len("fold"):]) for n in metrics if n.startswith("fold")])
    for fold, seconds in per_fold.items():
        metrics[f"fold{fold}"]["train_s"] = seconds
    if per_fold:
        metrics["all"]["train_s"] = round(sum(per_fold.values()), 1)


DELTA_KEYS = ("delta_map@25", "delta_lo", "delta_hi")


def format_table(results: dict) -> str:
    """One line per (ranking, slice); rankings side by side, slices in a fixed order; the
    differences to the first ranking as one column "+0.0012 [-0.0049, +0.0079]"."""
    lines = []
    compared = any("delta_map@25" in m for by_slice in results.values() for m in by_slice.values())
    for name, by_slice in results.items():
        for slice_name, m in by_slice.items():
            line = {"ranking": name, "slice": slice_name,
                    **{k: v for k, v in m.items() if k not in DELTA_KEYS}}
            if compared:
                line[f"vs {next(iter(results))} (95%)"] = difference_text(m)
            lines.append(line)
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
@click.option("--group-by", default="QuestionId", show_default=True,
              help="TRAIN's column whose groups the bootstrap resamples whole (the folds' FOLD_BY).")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(0), default=2000,
              show_default=True, help="Resamples for the intervals of the differences (0: none).")
@click.option("--out-json", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--out-table", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(train_path: Path, folds_path: Path, rankings: tuple[str], group_by: str,
         n_resamples: int, out_json: Path, out_table: Path):
    setup_logging()
    with step_timer("evaluate", rankings=list(rankings)) as record:
        labelled = labelled_rows(train_path, folds_path)
        n_rows = len(pd.read_parquet(train_path, columns=["QuestionId_Answer"]))
        weights = None
        if len(rankings) > 1 and n_resamples:
            if group_by not in labelled:
                raise DataError(train_path, group_by, None,
                                "missing: the bootstrap resamples its groups (see --group-by)")
            weights = bootstrap_weights(labelled[group_by], n_resamples)
        results, first = {}, None
        for spec in rankings:
            name, path = parse_named(spec, "--ranking")
            ranks = labelled_ranks(read_ranking(path), labelled)
            results[name] = cv_metrics(ranks, labelled)
            if weights is not None:
                if first is None:
                    first = ranks
                else:
                    for slice_name, delta in cv_difference(ranks, first, labelled, weights).items():
                        results[name][slice_name].update(delta)
            models = ranking_models(path)
            if models and FOLD_FIELD in models:
                add_training_time(results[name], models)
            record[f"{name}_map@25"] = round(results[name]["all"]["map@25"], 4)

        table = format_table(results)
        header = (f"CV on {len(labelled)} labelled rows of {n_rows} "
                  f"({int((~labelled['seen']).sum())} unseen in other folds)\n")
        write_json(results, out_json)
        write_text(header + table + "\n", out_table)
        click.echo(header + table)


if __name__ == "__main__":
    main()
