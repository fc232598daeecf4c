"""Cross-validation folds and everything that depends on a row's fold.

    folds = assign_folds(train_long, by="QuestionId", n_folds=5, seed=42)   # Series 0..4
    fold = fold_of(rows, "folds-QuestionId-5-42.parquet")    # each row's fold, checked
    rows = training_rows("train_long.parquet", folds_path, fold=2)   # labelled, not fold 2
    seen = seen_in_other_folds(labelled["MisconceptionId"], labelled["fold"])   # bool per row
    for k, model, part in models_by_fold("models/x/fold{fold}", rows, folds_path): ...

"Seen" is one idea everywhere: a row's gold misconception occurs in another fold's labelled
rows, so a model trained on the other folds could have learnt it. Unseen rows are the case of
38% of Kaggle's test misconceptions, which never occur in train.
"""

from __future__ import annotations

import click
import numpy as np
import pandas as pd

from eedi.errors import DataError

GROUP_KEYS = ["QuestionId", "ConstructId", "SubjectId"]
FOLD_FIELD = "{fold}"  # in a model path: "models/x/fold{fold}" names one model per fold


def assign_folds(train_long: pd.DataFrame, by: str, n_folds: int, seed: int) -> pd.Series:
    """Fold number per row (Series aligned with train_long), groups kept whole.

    GroupKFold with shuffle balances fold sizes while the seed varies which groups go where.
    """
    from sklearn.model_selection import GroupKFold  # here: .venv-vllm, which imports this
    # module for the {fold} lookup, has no scikit-learn
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


def seen_in_other_folds(misconception_ids: pd.Series, folds: pd.Series) -> pd.Series:
    """For each labelled row: does its MisconceptionId occur in a row of another fold?

    In:  misconception_ids and folds, aligned (labelled rows only).
    Out: bool Series aligned with them. An id is seen from every fold as soon as it occurs
         in two folds, and from no fold while it lives in one.
    """
    folds_per_id = pd.DataFrame({"m": np.asarray(misconception_ids), "f": np.asarray(folds)}) \
        .groupby("m")["f"].nunique()
    return pd.Series(np.asarray(misconception_ids.map(folds_per_id) > 1), index=misconception_ids.index)


def fold_report(train_long: pd.DataFrame, folds: pd.Series) -> pd.DataFrame:
    """Per fold: questions, pairs, labelled pairs, labelled pairs unseen in the other folds."""
    df = train_long.assign(fold=folds)
    labelled = df[df["MisconceptionId"].notna()]
    unseen = ~seen_in_other_folds(labelled["MisconceptionId"], labelled["fold"])
    rows = []
    for fold, part in df.groupby("fold"):
        n_labelled = int(part["MisconceptionId"].notna().sum())
        n_unseen = int(unseen[labelled["fold"] == fold].sum())
        rows.append({"fold": fold, "questions": part["QuestionId"].nunique(), "pairs": len(part),
                     "labelled": n_labelled, "unseen": n_unseen,
                     "unseen_pct": round(100 * n_unseen / max(n_labelled, 1), 1)})
    return pd.DataFrame(rows)


def fold_of(rows: pd.DataFrame, folds_path) -> pd.Series:
    """Each row's fold (int64, aligned with rows) from a folds Parquet. A row without one
    means the folds are stale (built from another train.csv): an error, never a silent
    'not in fold k' that would leak held-out rows into training."""
    folds = pd.read_parquet(folds_path).set_index("QuestionId_Answer")["fold"]
    fold = rows["QuestionId_Answer"].map(folds)
    if fold.isna().any():
        qa = rows.loc[fold.isna(), "QuestionId_Answer"].iloc[0]
        raise DataError(folds_path, "QuestionId_Answer", None,
                        f"row {qa} has no fold: rebuild the folds (make folds)")
    return fold.astype("int64")


def folds_by_row(rows: pd.DataFrame, folds_path) -> pd.Series:
    """fold_of, indexed by QuestionId_Answer instead of aligned with rows."""
    return pd.Series(fold_of(rows, folds_path).to_numpy(), index=rows["QuestionId_Answer"], name="fold")


def rows_outside_fold(rows: pd.DataFrame, folds_path, fold: int) -> pd.DataFrame:
    """The rows of every fold but `fold`: what fold `fold`'s model was trained on (labelled or
    not). A fold that does not exist is an error, not an empty exclusion."""
    of = fold_of(rows, folds_path)
    if fold not in set(of):
        raise click.BadParameter(f"no fold {fold} in {folds_path} (folds {sorted(set(of))})",
                                 param_hint="--outside-fold")
    return rows[of != fold]


def training_rows(train_path, folds_path=None, fold: int | None = None, synth_path=None,
                  known_ids=None) -> pd.DataFrame:
    """The labelled rows of train_long.parquet a model may train on: all of them, or (a CV
    model) those outside fold `fold` of the folds file; then, with synth_path, every
    synthetic question's rows (make synth's CSV: training only, whatever the fold; their
    misconception ids checked against known_ids)."""
    rows = pd.read_parquet(train_path)
    rows = rows[rows["MisconceptionId"].notna()]
    if fold is not None:
        if folds_path is None:
            raise click.UsageError("--fold needs --folds")
        rows = rows[fold_of(rows, folds_path) != fold]
    if synth_path is not None:
        from eedi.synth.synthetic_rows import read_synthetic
        extra = read_synthetic(synth_path, known_ids)
        rows = pd.concat([rows, extra[rows.columns]], ignore_index=True)
    return rows


def model_of_fold(model: str, fold: int | None) -> str:
    """"models/x/fold{fold}" and 3 -> "models/x/fold3"; a model without {fold} is itself."""
    return model.format(fold=fold) if FOLD_FIELD in model and fold is not None else model


def models_by_fold(model: str, rows: pd.DataFrame, folds_path) -> list[tuple[int | None, str, pd.DataFrame]]:
    """Which model ranks which rows: [(fold, model, rows of that fold)].

    A model with "{fold}" plus a folds file: each fold's rows go to the model that never saw
    them (out-of-fold CV), folds in order. A plain model: [(None, model, rows)]. One without
    the other is a usage error: CV must never silently score rows with a model trained on them.
    """
    per_fold = FOLD_FIELD in model
    if per_fold != (folds_path is not None):
        raise click.UsageError(f"a model with {FOLD_FIELD} and --folds go together "
                               f"(got {model!r} {'with' if folds_path else 'without'} --folds)")
    if not per_fold:
        return [(None, model, rows)]
    fold = fold_of(rows, folds_path)
    return [(int(k), model_of_fold(model, int(k)), rows[fold == k]) for k in sorted(fold.unique())]


def labelled_rows(train_path, folds_path) -> pd.DataFrame:
    """The labelled rows of train with their fold and whether their gold is seen in the other
    folds: what the CV metrics (eedi.metrics.cv_metrics) read."""
    train = pd.read_parquet(train_path)
    labelled = train.assign(fold=fold_of(train, folds_path))
    labelled = labelled[labelled["MisconceptionId"].notna()].reset_index(drop=True)
    labelled["MisconceptionId"] = labelled["MisconceptionId"].astype(np.int64)
    labelled["seen"] = seen_in_other_folds(labelled["MisconceptionId"], labelled["fold"])
    return labelled
