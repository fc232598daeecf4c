"""The ranking contract: what every retriever, reranker and ensembler writes, and what the
scorer, the ensembler and the submission writer read.

    QuestionId_Answer  str      the row, e.g. "1869_B"
    MisconceptionId    int64    a candidate
    score              float32  higher is better (comparable within a row only)
    rank               int32    1, 2, 3, ... per row, in order of descending score

    ranking = ranking_from_scores(row_ids, misconception_ids, scores, top_k=100)
    ranking = read_ranking("rankings/train_tfidf.parquet")   # checked on read
    ranking = reorder_top(ranking, scores={"12_B": np.array([...its first 25 candidates' new scores])})
    mine = shard_rows(ranking["QuestionId_Answer"], "0/2")   # one GPU's half of the rows
    merged = merge_shards([(path, shard), ...], expected_rows, reference=path)
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from eedi.errors import DataError

RANKING_COLUMNS = ["QuestionId_Answer", "MisconceptionId", "score", "rank"]


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


def reorder_top(ranking: pd.DataFrame, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ranking with each scored row's first candidates re-sorted by new scores (a later
    stage's: a reranker, a cascade's next model).

    scores: {QuestionId_Answer: new scores of its first len(scores) candidates, in the
    ranking's order}; the length may differ from row to row (a cascade's threshold). Rows not
    in `scores` keep their order and scores. The candidates below follow the rescored ones with
    scores below the lowest new score, so scores never rise with rank.
    """
    ranking = ranking.sort_values(["QuestionId_Answer", "rank"]).reset_index(drop=True)
    lengths = pd.Series({qa: len(s) for qa, s in scores.items()}, dtype="int64")
    n_new = ranking["QuestionId_Answer"].map(lengths)
    scored = n_new.notna().to_numpy()
    top = scored & (ranking["rank"].to_numpy() <= n_new.fillna(0).to_numpy())
    new_score = ranking["score"].to_numpy(dtype=np.float64).copy()
    if top.any():
        rows = ranking.loc[top, "QuestionId_Answer"]
        counts = rows.value_counts().reindex(lengths.index, fill_value=0)
        if (counts < lengths).any():
            raise ValueError(f"row {counts.index[counts < lengths][0]} has more new scores "
                             "than candidates")
        new_score[top] = np.concatenate([scores[qa] for qa in rows.unique()])
        floor = pd.Series(new_score[top]).groupby(rows.to_numpy()).min()
        below = scored & ~top
        new_score[below] = (ranking.loc[below, "QuestionId_Answer"].map(floor).to_numpy()
                            - (ranking.loc[below, "rank"].to_numpy() - n_new[below].to_numpy()))
    out = ranking.assign(score=new_score.astype(ranking["score"].dtype), _part=np.where(top, 0, 1))
    out = out.sort_values(["QuestionId_Answer", "_part", "score", "rank"],
                          ascending=[True, True, False, True], kind="stable")
    out["rank"] = (out.groupby("QuestionId_Answer", sort=False).cumcount() + 1).astype(np.int32)
    return out[RANKING_COLUMNS].reset_index(drop=True)


def parse_shard(shard: str) -> tuple[int, int]:
    """"i/n" -> (i, n) with 0 <= i < n; anything else is a usage error."""
    i, sep, n = shard.partition("/")
    if sep and i.strip().isdigit() and n.strip().isdigit() and 0 <= int(i) < int(n):
        return int(i), int(n)
    raise click.BadParameter(f"{shard!r}: expected i/n with 0 <= i < n, e.g. 0/2",
                             param_hint="--shard")


def shard_rows(row_ids, shard: str) -> list:
    """"i/n" -> the i-th (0-based) of n contiguous, near-equal slices of the sorted row ids."""
    i, n = parse_shard(shard)
    return list(np.array_split(np.array(sorted(set(row_ids)), dtype=object), n)[i])


def merge_shards(shards: list[tuple[Path, pd.DataFrame]], expected_rows, reference) -> pd.DataFrame:
    """Rankings of disjoint slices of the rows -> one ranking, rows in QuestionId_Answer order.

    Every row of `expected_rows` (those of `reference`, the ranking that was sharded) must be
    in exactly one shard: a doubled or missing row is a DataError, never a silent gap.
    """
    seen = {}
    for path, shard in shards:
        for qa in shard["QuestionId_Answer"].unique():
            if qa in seen:
                raise DataError(path, "QuestionId_Answer", qa, f"row is also in shard {seen[qa]}")
            seen[qa] = path
    missing = sorted(set(expected_rows) - set(seen))
    if missing:
        raise DataError(reference, "QuestionId_Answer", missing[0],
                        f"row is in none of the {len(shards)} shards ({len(missing)} rows missing)")
    merged = pd.concat([s for _, s in shards]).sort_values(["QuestionId_Answer", "rank"],
                                                           kind="stable")
    return merged.reset_index(drop=True)


# A ranking file may say which model(s) made it, e.g. "models/x/minilm/QuestionId-5-42/fold{fold}":
# evaluate.py reads each fold model's train.json through it, so Make never decodes ranking
# names back into model paths.
_SOURCE_KEY = b"eedi.models"


def write_ranking(ranking: pd.DataFrame, path, models: str | None = None) -> None:
    """Write a ranking Parquet atomically; `models` (a path, "{fold}" allowed) is kept in the
    file's metadata for ranking_models()."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from eedi.files import atomic_write
    table = pa.Table.from_pandas(ranking[RANKING_COLUMNS], preserve_index=False)
    if models is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               _SOURCE_KEY: models.encode()})
    with atomic_write(path) as tmp:
        pq.write_table(table, tmp)


def ranking_models(path) -> str | None:
    """The `models` a ranking file was written with (write_ranking), or None."""
    import pyarrow.parquet as pq
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(_SOURCE_KEY)
    return value.decode() if value is not None else None
