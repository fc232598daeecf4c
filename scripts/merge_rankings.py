"""Merge the shards of one ranking (rerank.py --shard i/n, one per GPU) into one ranking.

\b
Reads  SHARD...   rankings (the contract) of disjoint slices of the rows
       REFERENCE  the ranking that was sharded: every one of its rows must be in exactly one
                  shard (a missing or doubled shard is an error, not a silent gap)
Writes OUT        the merged ranking, rows in QuestionId_Answer order (with the shards' models
                  in its metadata)
"""

from pathlib import Path

import click

from eedi.ranking import merge_shards, ranking_models, read_ranking, write_ranking
from eedi.run_log import setup_logging, step_timer


@click.command(help=__doc__)
@click.option("--shard", "shard_paths", type=click.Path(dir_okay=False, path_type=Path),
              multiple=True, required=True)
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(shard_paths, reference, out):
    setup_logging()
    with step_timer("merge_rankings", shards=len(shard_paths)):
        expected = read_ranking(reference)["QuestionId_Answer"]
        shards = [(path, read_ranking(path)) for path in shard_paths]
        write_ranking(merge_shards(shards, expected, reference), out,
                      models=ranking_models(shard_paths[0]))


if __name__ == "__main__":
    main()
