"""Shared code of the pipeline's scripts: the data contract, atomic writes, errors, run log.

Every script in `scripts/` is one Click command that imports this module and nothing else of
the project's own, so a reader learns the contracts here once:

* Kaggle's wide CSVs (`train.csv`, `test.csv`, `misconception_mapping.csv`), validated on
  read by `read_*_csv` (one `DataError` naming file, column and row);
* the long table, one row per (question, wrong answer): `wide_to_long`;
* the ranking contract, written by every retriever, reranker and ensembler and read by the
  scorer, ensembler and submission writer: `RANKING_COLUMNS`, `ranking_from_scores`,
  `read_ranking`;
* writes that are atomic (temp file + rename) so Make never sees a half-written target:
  `atomic_write`;
* `step_timer`, which logs each step's wall time to stderr and to the run log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import click
import numpy as np
import pandas as pd

LETTERS = ("A", "B", "C", "D")
TRAIN_COLUMNS = [
    "QuestionId", "ConstructId", "ConstructName", "SubjectId", "SubjectName",
    "CorrectAnswer", "QuestionText",
    *[f"Answer{x}Text" for x in LETTERS],
    *[f"Misconception{x}Id" for x in LETTERS],
]
TEST_COLUMNS = TRAIN_COLUMNS[: -len(LETTERS)]
MAPPING_COLUMNS = ["MisconceptionId", "MisconceptionName"]
RANKING_COLUMNS = ["QuestionId_Answer", "MisconceptionId", "score", "rank"]
SUBMISSION_TOP_K = 25

log = logging.getLogger("eedi")


def setup_logging() -> None:
    """Logs go to stderr (stdout is kept for tables a user may redirect)."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


class DataError(click.ClickException):
    """Bad input: one message naming the file, the column and the row; exit code 1.

    >>> str(DataError("train.csv", "CorrectAnswer", 3, "'E' is not one of A, B, C, D"))
    "train.csv, column CorrectAnswer, row 3: 'E' is not one of A, B, C, D"

    `row` is the 1-based data row (the header is not counted; a quoted cell may span several
    lines of the file, so it is not a line number).
    """

    def __init__(self, file, column: str | None, row: int | None, message: str):
        where = [str(file)]
        if column is not None:
            where.append(f"column {column}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {message}")


# --------------------------------------------------------------------------- atomic writes

@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it onto `path` only if the block succeeds.

    A step killed half-way (Ctrl-C, OOM, preemption) leaves at most a `.tmp` file, never a
    target that Make would take for finished work.

    >>> with atomic_write("out/ranking.parquet") as tmp:   # doctest: +SKIP
    ...     df.to_parquet(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs should read like any file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        df.to_csv(tmp, index=False)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


# --------------------------------------------------------------------------- run log

@contextlib.contextmanager
def step_timer(step: str, **details) -> Iterator[dict]:
    """Time one pipeline step; log it to stderr and append one JSON line to the run log.

    The run log is `$RUN_LOG` (the Makefile points it at the run's folder); unset, only
    stderr gets the line. The yielded dict can take extra fields (row counts, scores).
    Failed steps are logged too, with their status, so a night's log shows what broke.
    """
    record = {"step": step, **details}
    start = time.time()
    status = "ok"
    try:
        yield record
    except BaseException as e:
        status = f"failed: {type(e).__name__}"
        raise
    finally:
        record["seconds"] = round(time.time() - start, 3)
        record["status"] = status
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        log.info("%s %s in %.1fs", step, status, record["seconds"])
        run_log = os.environ.get("RUN_LOG")
        if run_log:
            Path(run_log).parent.mkdir(parents=True, exist_ok=True)
            with open(run_log, "a") as f:  # one short append: atomic enough for a log
                f.write(json.dumps(record, default=_json_default) + "\n")


# --------------------------------------------------------------------------- Kaggle's CSVs

def _read_csv(path: str | os.PathLike, columns: list[str]) -> pd.DataFrame:
    """Read a Kaggle CSV as strings (we parse ids ourselves, to name the bad row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(path, None, None, "file is empty (no header)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(path, None, None, f"not a readable CSV ({e})") from None
    for column in columns:
        if column not in df.columns:
            raise DataError(path, column, None,
                            f"missing column (expected Kaggle's columns: {', '.join(columns)})")
    return df[columns]


def _parse_int_column(df: pd.DataFrame, column: str, path, *, allow_empty: bool) -> pd.Series:
    """Strings -> nullable Int64. Accepts "12" and "12.0" (pandas round-trips ids through
    float when a column has gaps); anything else names its row."""
    text = df[column].str.strip()
    empty = text == ""
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = (~empty & (numbers.isna() | (numbers % 1 != 0))) | (empty & (not allow_empty))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        what = "is empty" if empty.iloc[i] else f"{df[column].iloc[i]!r} is not an integer id"
        raise DataError(path, column, i + 1, what)
    return numbers.astype("Int64")


def _check_unique(values: pd.Series, column: str, path) -> None:
    dup = values.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((values == values.iloc[i]).to_numpy())[0])
        raise DataError(path, column, i + 1,
                        f"duplicate {column} {values.iloc[i]} (first at row {first + 1})")


def read_mapping_csv(path) -> pd.DataFrame:
    """misconception_mapping.csv -> DataFrame[MisconceptionId: int64, MisconceptionName: str]."""
    df = _read_csv(path, MAPPING_COLUMNS)
    if df.empty:
        raise DataError(path, None, None, "no misconceptions (file has a header only)")
    df["MisconceptionId"] = _parse_int_column(df, "MisconceptionId", path, allow_empty=False)
    df["MisconceptionId"] = df["MisconceptionId"].astype("int64")
    _check_unique(df["MisconceptionId"], "MisconceptionId", path)
    return df


def read_questions_csv(path, *, labelled: bool, known_ids=None) -> pd.DataFrame:
    """train.csv (labelled=True) or test.csv -> the wide DataFrame, validated.

    Checks: Kaggle's columns present; at least one row; QuestionId, ConstructId, SubjectId
    integers; QuestionId unique; CorrectAnswer one of A-D; misconception ids (train) empty or
    integers found in `known_ids`. The first problem raises a `DataError`.
    """
    df = _read_csv(path, TRAIN_COLUMNS if labelled else TEST_COLUMNS)
    if df.empty:
        raise DataError(path, None, None, "no questions (file has a header only)")
    for column in ("QuestionId", "ConstructId", "SubjectId"):
        df[column] = _parse_int_column(df, column, path, allow_empty=False).astype("int64")
    _check_unique(df["QuestionId"], "QuestionId", path)
    df["CorrectAnswer"] = df["CorrectAnswer"].str.strip()
    bad = ~df["CorrectAnswer"].isin(LETTERS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(path, "CorrectAnswer", i + 1,
                        f"{df['CorrectAnswer'].iloc[i]!r} is not one of {', '.join(LETTERS)}")
    if labelled:
        known = None if known_ids is None else set(int(x) for x in known_ids)
        for x in LETTERS:
            column = f"Misconception{x}Id"
            ids = _parse_int_column(df, column, path, allow_empty=True)
            if known is not None:
                unknown = ids.notna() & ~ids.isin(known)
                if unknown.any():
                    i = int(np.flatnonzero(unknown.to_numpy())[0])
                    raise DataError(path, column, i + 1,
                                    f"misconception id {ids.iloc[i]} is not in the mapping")
            df[column] = ids
    return df


def wide_to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per (question, wrong answer); the correct answer's row is dropped.

    In:  the wide frame of `read_questions_csv` (train or test).
    Out: QuestionId_Answer ("12_B"), QuestionId, Answer ("B"), ConstructId, ConstructName,
         SubjectId, SubjectName, QuestionText, CorrectAnswer, CorrectAnswerText, AnswerText
         (the wrong answer), MisconceptionId (Int64; <NA> when the cell is empty or for test),
         ordered by QuestionId then Answer.
    """
    labelled = "MisconceptionAId" in wide.columns
    keep = ["QuestionId", "ConstructId", "ConstructName", "SubjectId", "SubjectName",
            "QuestionText", "CorrectAnswer"]
    parts = []
    for x in LETTERS:
        part = wide[keep].copy()
        part["Answer"] = x
        part["AnswerText"] = wide[f"Answer{x}Text"]
        part["MisconceptionId"] = (wide[f"Misconception{x}Id"] if labelled
                                   else pd.Series(pd.NA, index=wide.index, dtype="Int64"))
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)
    correct_text = wide.set_index("QuestionId").apply(
        lambda r: r[f"Answer{r['CorrectAnswer']}Text"], axis=1)
    long["CorrectAnswerText"] = long["QuestionId"].map(correct_text)
    long = long[long["Answer"] != long["CorrectAnswer"]]
    long["QuestionId_Answer"] = long["QuestionId"].astype(str) + "_" + long["Answer"]
    long = long.sort_values(["QuestionId", "Answer"], ignore_index=True)
    return long[["QuestionId_Answer", "QuestionId", "Answer", "ConstructId", "ConstructName",
                 "SubjectId", "SubjectName", "QuestionText", "CorrectAnswer",
                 "CorrectAnswerText", "AnswerText", "MisconceptionId"]]


def query_parts(row) -> tuple[str, str, str]:
    """query_text cut in three: (text before the question, the question, text after it).

    The LLM reranker's prompt truncates only the middle part when a prompt is too long, so
    the subject, construct and both answers always survive.
    """
    return (f"Subject: {row['SubjectName']}\n"
            f"Construct: {row['ConstructName']}\n"
            f"Question: ",
            str(row["QuestionText"]),
            f"\nCorrect answer: {row['CorrectAnswerText']}\n"
            f"Wrong answer: {row['AnswerText']}")


def query_text(row) -> str:
    """The text that stands for one (question, wrong answer) row, for every retriever.

    One layout, shared by training and inference, most general first:

        Subject: Adding and Subtracting Fractions
        Construct: Add fractions with different denominators
        Question: \\( \\frac{1}{3}+\\frac{1}{4} \\)
        Correct answer: \\( \\frac{7}{12} \\)
        Wrong answer: \\( \\frac{2}{7} \\)

    `row` is anything indexable by the long table's column names (a Series, a dict).
    """
    return "".join(query_parts(row))


# --------------------------------------------------------------------------- rankings

def ranking_from_scores(row_ids, misconception_ids, scores: np.ndarray, top_k: int) -> pd.DataFrame:
    """A (rows x misconceptions) score matrix -> the ranking contract, top_k per row.

    In:  row_ids (n QuestionId_Answer), misconception_ids (m ints), scores (n, m) floats,
         higher is better.
    Out: DataFrame[QuestionId_Answer, MisconceptionId, score, rank] with rank 1..top_k per row,
         ties broken by the smaller MisconceptionId so output is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float32)
    misconception_ids = np.asarray(misconception_ids, dtype=np.int64)
    n, m = scores.shape
    k = min(top_k, m)
    # Sort by (-score, id): a stable argsort on ids-ordered columns gives the tie-break.
    by_id = np.argsort(misconception_ids, kind="stable")
    s = scores[:, by_id]
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return ranking_from_topk(row_ids, misconception_ids[by_id][top],
                             np.take_along_axis(s, top, axis=1))


def ranking_from_topk(row_ids, topk_ids: np.ndarray, topk_scores: np.ndarray) -> pd.DataFrame:
    """Per-row top-k ids and scores (n, k), best first -> the ranking contract."""
    n, k = topk_ids.shape
    return pd.DataFrame({
        "QuestionId_Answer": np.repeat(np.asarray(row_ids, dtype=object), k),
        "MisconceptionId": topk_ids.reshape(-1).astype(np.int64),
        "score": topk_scores.reshape(-1).astype(np.float32),
        "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
    })


def read_ranking(path) -> pd.DataFrame:
    """Read and check a ranking Parquet: the contract's columns, one entry per (row, id),
    ranks 1..n in order of descending score. Returns it sorted by (QuestionId_Answer, rank)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "file not found")
    df = pd.read_parquet(path)
    for column in RANKING_COLUMNS:
        if column not in df.columns:
            raise DataError(path, column, None,
                            f"missing column (a ranking has {', '.join(RANKING_COLUMNS)})")
    df = df[RANKING_COLUMNS].sort_values(["QuestionId_Answer", "rank"], ignore_index=True)
    dup = df.duplicated(["QuestionId_Answer", "MisconceptionId"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(path, "MisconceptionId", i + 1,
                        f"{df['QuestionId_Answer'].iloc[i]} lists misconception "
                        f"{df['MisconceptionId'].iloc[i]} twice")
    expected_rank = df.groupby("QuestionId_Answer", sort=False).cumcount() + 1
    bad = df["rank"].to_numpy() != expected_rank.to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, "rank", i + 1,
                        f"{df['QuestionId_Answer'].iloc[i]}: ranks must run 1, 2, 3, ... per row")
    same_row = df["QuestionId_Answer"].to_numpy()[1:] == df["QuestionId_Answer"].to_numpy()[:-1]
    rises = same_row & (df["score"].to_numpy()[1:] > df["score"].to_numpy()[:-1])
    if rises.any():
        i = int(np.flatnonzero(rises)[0]) + 1
        raise DataError(path, "score", i + 1,
                        f"{df['QuestionId_Answer'].iloc[i]}: rank {df['rank'].iloc[i]} scores "
                        f"higher than rank {df['rank'].iloc[i] - 1} (scores must not rise with rank)")
    return df


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


def training_rows(train_path, folds_path=None, fold: int | None = None) -> pd.DataFrame:
    """The labelled rows of train_long.parquet a model may train on: all of them, or (a CV
    model) those outside fold `fold` of the folds file."""
    rows = pd.read_parquet(train_path)
    rows = rows[rows["MisconceptionId"].notna()]
    if fold is not None:
        if folds_path is None:
            raise click.UsageError("--fold needs --folds")
        rows = rows[fold_of(rows, folds_path) != fold]
    return rows


def misconception_names(path) -> dict[int, str]:
    """misconceptions.parquet -> {MisconceptionId: MisconceptionName}."""
    mis = pd.read_parquet(path)
    return dict(zip(mis["MisconceptionId"].astype(int), mis["MisconceptionName"]))


# --------------------------------------------------------------------------- metrics

def gold_ranks(ranking: pd.DataFrame, gold: pd.Series) -> pd.Series:
    """The rank of each row's gold misconception in `ranking` (inf where it is not ranked).

    In:  ranking (contract), gold: Series MisconceptionId indexed by QuestionId_Answer
         (labelled rows only).
    Out: Series float indexed like `gold`. Every metric below is a function of it.
    """
    rank_of = gold_hits(ranking, gold)["rank"].astype(float)
    return rank_of.reindex(gold.index, fill_value=np.inf)


def gold_hits(ranking: pd.DataFrame, gold: pd.Series) -> pd.DataFrame:
    """The ranking's entries that are a row's gold misconception, indexed by
    QuestionId_Answer (rows whose gold is not ranked are absent)."""
    pairs = pd.DataFrame({"QuestionId_Answer": gold.index,
                          "MisconceptionId": np.asarray(gold, dtype=np.int64)})
    return ranking.merge(pairs, on=["QuestionId_Answer", "MisconceptionId"]).set_index(
        "QuestionId_Answer")


def map_at_k(ranks: pd.Series, k: int = SUBMISSION_TOP_K) -> float:
    """Kaggle's MAP@25 with one gold id per row: mean of 1/rank when rank <= k, else 0."""
    r = np.asarray(ranks, dtype=float)
    return float(np.where(r <= k, 1.0 / r, 0.0).mean()) if len(r) else float("nan")


def recall_at_k(ranks: pd.Series, k: int) -> float:
    """Share of rows whose gold id is in the top k."""
    r = np.asarray(ranks, dtype=float)
    return float((r <= k).mean()) if len(r) else float("nan")


# --------------------------------------------------------------------------- Kaggle CLI

def kaggle_credentials_source(env=None, home=None) -> str | None:
    """Where the kaggle CLI will find credentials (a description, never the secret), or None.

    Mirrors kaggle 2.x's own lookup: an API token (KAGGLE_API_TOKEN or ~/.kaggle/access_token),
    or a legacy key (KAGGLE_USERNAME + KAGGLE_KEY, or kaggle.json in KAGGLE_CONFIG_DIR,
    ~/.kaggle or $XDG_CONFIG_HOME/kaggle).
    """
    env = os.environ if env is None else env
    home = Path.home() if home is None else Path(home)
    if env.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for name in ("access_token", "access_token.txt"):  # kagglesdk reads only ~/.kaggle's
        if (home / ".kaggle" / name).is_file():
            return str(home / ".kaggle" / name)
    if env.get("KAGGLE_CONFIG_DIR"):  # when set, the CLI reads kaggle.json from there only
        config_dirs = [Path(env["KAGGLE_CONFIG_DIR"])]
    else:
        config_dirs = [home / ".kaggle",
                       Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"]
    for folder in config_dirs:
        if (folder / "kaggle.json").is_file():
            return str(folder / "kaggle.json")
    return None


def require_kaggle_credentials() -> str:
    source = kaggle_credentials_source()
    if source is None:
        raise click.ClickException(
            "no Kaggle credentials: create an API token at kaggle.com -> Settings -> API and "
            "save it as ~/.kaggle/access_token (or set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and "
            "KAGGLE_KEY, or put kaggle.json in ~/.kaggle)")
    return source


def mine_hard_negatives(ranking: pd.DataFrame, gold: pd.Series, n: int,
                        ranks: tuple[int, int] = (1, 50), margin: float | None = None,
                        seed: int = 0) -> dict[str, list[int]]:
    """Hard negatives per labelled row, from a previous ranking (the contract).

    In:  ranking; gold: MisconceptionId per QuestionId_Answer (labelled rows); n per row;
         ranks: the window (first, last) of ranks to draw from; margin: where the gold is in
         the ranking, drop candidates scoring above gold_score - margin (they look as right as
         the gold: likely false negatives, near-duplicate names); None keeps them.
    Out: {QuestionId_Answer: up to n MisconceptionIds, never the gold}, drawn at random
         (seeded) from the window, so repeated epochs do not see only the top-1 confusions.
    """
    rng = np.random.default_rng(seed)
    window = ranking[(ranking["rank"] >= ranks[0]) & (ranking["rank"] <= ranks[1])]
    window = window[window["QuestionId_Answer"].isin(gold.index)]
    gold_of = window["QuestionId_Answer"].map(gold)
    gold_score = gold_hits(ranking, gold)["score"]
    keep = window["MisconceptionId"].to_numpy() != gold_of.to_numpy()
    if margin is not None:
        limit = window["QuestionId_Answer"].map(gold_score - margin)  # NaN: gold not ranked
        keep &= ~(window["score"].to_numpy() > limit.to_numpy())
    negatives = {}
    for qa, ids in window[keep].groupby("QuestionId_Answer", sort=False)["MisconceptionId"]:
        ids = ids.to_numpy()
        negatives[qa] = [int(i) for i in rng.choice(ids, size=min(n, len(ids)), replace=False)]
    return negatives
