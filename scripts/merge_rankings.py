"""Merge the shards of one ranking (rerank.py --shard i/n, one per GPU) into one ranking.

\b
Reads  SHARD...   rankings (the contract) of disjoint slices of the rows
       REFERENCE  the ranking that was sharded: every one of its rows must be in exactly one
                  shard (a missing or doubled shard is an error, not a silent gap)
Writes OUT        the merged ranking, rows in QuestionId_Answer order
"""

from pathlib import Path

import click
import pandas as pd

import common


@click.command(help=__doc__)
@click.option("--shard", "shard_paths", type=click.Path(dir_okay=False, path_type=Path),
              multiple=True, required=True)
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(shard_paths, reference, out):
    common.setup_logging()
    with common.step_timer("merge_rankings", shards=len(shard_paths)):
        expected = set(common.read_ranking(reference)["QuestionId_Answer"])
        seen, shards = {}, []
        for path in shard_paths:
            shard = common.read_ranking(path)
            for qa in shard["QuestionId_Answer"].unique():
                if qa in seen:
                    raise common.DataError(path, "QuestionId_Answer", qa,
                                           f"row is also in shard {seen[qa]}")
                seen[qa] = path
            shards.append(shard)
        missing = sorted(expected - set(seen))
        if missing:
            raise common.DataError(reference, "QuestionId_Answer", missing[0],
                                   f"row is in none of the {len(shard_paths)} shards "
                                   f"({len(missing)} rows missing)")
        merged = pd.concat(shards).sort_values(["QuestionId_Answer", "rank"], kind="stable")
        common.write_parquet(merged.reset_index(drop=True), out)


if __name__ == "__main__":
    main()
