"""Assign every train row to one of N cross-validation folds, grouped so no group is split.

\b
Reads  RUN_DIR/train_long.parquet
Writes OUT (Parquet): QuestionId_Answer, <group key>, fold (0..N-1)
       REPORT (text):  per fold the questions, wrong-answer pairs, labelled pairs, and how many
                       labelled pairs have a misconception that no other fold contains
                       (what CV calls "unseen", the case 38% of Kaggle's test misconceptions are)

Grouping by QuestionId (the default) keeps the three wrong answers of a question together, as
Kaggle's test holds whole questions; ConstructId or SubjectId make CV harder (new topics).
Deterministic: the same input, key, N and seed give the same folds.
"""

from pathlib import Path

import click
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

import common

GROUP_KEYS = ["QuestionId", "ConstructId", "SubjectId"]


def assign_folds(train_long: pd.DataFrame, by: str, n_folds: int, seed: int) -> pd.Series:
    """Fold number per row (Series aligned with train_long), groups kept whole.

    GroupKFold with shuffle balances fold sizes while the seed varies which groups go where.
    """
    groups = train_long[by].to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise click.ClickException(
            f"only {n_groups} distinct {by} values: cannot make {n_folds} folds grouped by {by}")
    folds = np.empty(len(train_long), dtype=np.int64)
    splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(train_long, groups=groups)):
        folds[held_out] = fold
    return pd.Series(folds, index=train_long.index, name="fold")


def fold_report(train_long: pd.DataFrame, folds: pd.Series) -> pd.DataFrame:
    """Per fold: questions, pairs, labelled pairs, labelled pairs unseen in the other folds."""
    df = train_long.assign(fold=folds)
    rows = []
    for fold, part in df.groupby("fold"):
        other_ids = set(df.loc[df["fold"] != fold, "MisconceptionId"].dropna())
        labelled = part["MisconceptionId"].dropna()
        unseen = int((~labelled.isin(other_ids)).sum())
        rows.append({"fold": fold, "questions": part["QuestionId"].nunique(), "pairs": len(part),
                     "labelled": len(labelled), "unseen": unseen,
                     "unseen_pct": round(100 * unseen / max(len(labelled), 1), 1)})
    return pd.DataFrame(rows)


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
    common.setup_logging()
    with common.step_timer("folds", by=by, n_folds=n_folds, seed=seed) as record:
        train_long = pd.read_parquet(train_path)
        folds = assign_folds(train_long, by, n_folds, seed)
        table = fold_report(train_long, folds)
        common.write_parquet(
            pd.DataFrame({"QuestionId_Answer": train_long["QuestionId_Answer"],
                          by: train_long[by], "fold": folds}), out)
        header = f"{n_folds} folds grouped by {by} (seed {seed})\n"
        common.write_text(header + table.to_string(index=False) + "\n", report)
        record["unseen_pct"] = round(100 * table["unseen"].sum() / table["labelled"].sum(), 1)


if __name__ == "__main__":
    main()
