"""Assign every train row to one of N cross-validation folds, grouped so no group is split.

\b
Reads  TRAIN   train_long.parquet
Writes OUT     (Parquet) QuestionId_Answer, <group key>, fold (0..N-1)
       REPORT  (text) per fold the questions, wrong-answer pairs, labelled pairs, and how many
               labelled pairs have a misconception that no other fold contains (what CV
               calls "unseen", the case 38% of Kaggle's test misconceptions are)

Grouping by QuestionId (the default) keeps the three wrong answers of a question together, as
Kaggle's test holds whole questions; ConstructId or SubjectId make CV harder (new topics).
Deterministic: the same input, key, N and seed give the same folds.
"""

from pathlib import Path

import click
import pandas as pd

from eedi.files import write_parquet, write_text
from eedi.folds import GROUP_KEYS, assign_folds, fold_report
from eedi.run_log import setup_logging, step_timer


@click.command(help=__doc__)
@click.option("--train", "train_path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="train_long.parquet from reshape.py.")
@click.option("--by", type=click.Choice(GROUP_KEYS), default="QuestionId", show_default=True,
              help="Group key: rows sharing it stay in one fold.")
@click.option("--n-folds", type=click.IntRange(2), default=5, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Folds Parquet to write.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Text table of fold sizes and unseen misconceptions to write.")
def main(train_path: Path, by: str, n_folds: int, seed: int, out: Path, report: Path):
    setup_logging()
    with step_timer("folds", by=by, n_folds=n_folds, seed=seed) as record:
        train_long = pd.read_parquet(train_path)
        folds = assign_folds(train_long, by, n_folds, seed)
        table = fold_report(train_long, folds)
        write_parquet(pd.DataFrame({"QuestionId_Answer": train_long["QuestionId_Answer"],
                                    by: train_long[by], "fold": folds}), out)
        header = f"{n_folds} folds grouped by {by} (seed {seed})\n"
        write_text(header + table.to_string(index=False) + "\n", report)
        record["unseen_pct"] = round(100 * table["unseen"].sum() / table["labelled"].sum(), 1)


if __name__ == "__main__":
    main()
