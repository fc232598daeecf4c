"""Fuse several rankings of the same rows into one, with weights tuned out-of-fold on MAP@25.

\b
Tune (a ranking of train, CV): --train and --folds given
Reads  MEMBER...  NAME=PATH rankings of train, each out-of-fold (the ranking contract)
       TRAIN      train_long.parquet (gold ids), FOLDS the folds Parquet
Writes OUT        the fused ranking of train: fold k's rows fused with weights tuned on the
                  other folds only (nested), so its CV stays out-of-fold
       OUT_WEIGHTS JSON: method, members, the weights tuned on all folds (what test gets),
                  the weights per fold, tuning seconds
\b
Apply (a ranking of test): --weights given
Reads  MEMBER...  NAME=PATH rankings of test, the same names as in WEIGHTS
       WEIGHTS    the JSON the tune step wrote (method and all-folds weights)
Writes OUT        the fused ranking of test

Methods (eedi/ensemble/fusion.py): rrf (w / (k + rank); k=0 is the 7th place's), rank (weighted average
rank) and score (weighted sum of per-row normalised scores: minmax, zscore, softmax). A
candidate missing from a member's list gets 0 (rrf), that member's depth + 1 (rank) or its
lowest normalised score in the row (score). Weights: coordinate ascent from equal weights.
"""

import json
from pathlib import Path

import click
import pandas as pd

from eedi.defaults import TOP_K
from eedi.ensemble.fusion import (METHODS, NORMS, GoldRanker, candidate_table, fuse, map_of,
                                  nested_fusion, tune_weights)
from eedi.errors import DataError
from eedi.files import write_json
from eedi.folds import folds_by_row
from eedi.long_table import gold_of
from eedi.options import parse_named
from eedi.ranking import read_ranking, write_ranking
from eedi.run_log import log, setup_logging, step_timer

FILE = click.Path(dir_okay=False, path_type=Path)


def parse_members(specs: tuple[str]) -> dict[str, Path]:
    members = {}
    for spec in specs:
        name, path = parse_named(spec, "--member")
        if name in members:
            raise click.BadParameter(f"{name} is listed twice", param_hint="--member")
        members[name] = Path(path)
    if len(members) < 2:
        raise click.BadParameter("fusion needs at least two rankings", param_hint="--member")
    return members


@click.command(help=__doc__)
@click.option("--member", "members", multiple=True, required=True, metavar="NAME=PATH",
              help="A ranking to fuse; repeat (at least two).")
@click.option("--train", "train_path", type=FILE, help="Tune: train_long.parquet (gold).")
@click.option("--folds", "folds_path", type=FILE, help="Tune: the folds Parquet.")
@click.option("--out-weights", type=FILE, help="Tune: the weights JSON to write.")
@click.option("--weights", "weights_path", type=FILE, help="Apply: a weights JSON from tuning.")
@click.option("--method", type=click.Choice(METHODS), default="rrf", show_default=True)
@click.option("--k", type=click.FloatRange(0), default=60.0, show_default=True,
              help="rrf's constant (0: the 7th place's 1/rank).")
@click.option("--norm", type=click.Choice(NORMS), default="minmax", show_default=True,
              help="score's per-row normalisation.")
@click.option("--top-k", type=click.IntRange(25), default=TOP_K, show_default=True)
@click.option("--out", type=FILE, required=True)
def main(members, train_path, folds_path, out_weights, weights_path, method, k, norm, top_k, out):
    setup_logging()
    paths = parse_members(members)
    tuning = weights_path is None
    if tuning and None in (train_path, folds_path, out_weights):
        raise click.UsageError("tuning needs --train, --folds and --out-weights (or pass --weights)")
    with step_timer("fuse", members=list(paths), mode="tune" if tuning else "apply") as record:
        if not tuning:
            saved = json.loads(Path(weights_path).read_text())
            if list(saved["weights"]) != list(paths):
                raise DataError(weights_path, "weights", None,
                                f"tuned for {list(saved['weights'])}, not {list(paths)}")
            method, k, norm = saved["method"], saved["k"], saved["norm"]
        table = candidate_table({n: read_ranking(p) for n, p in paths.items()}, method, k, norm)
        if not tuning:
            fused = fuse(table, list(saved["weights"].values()), top_k)
        else:
            train = pd.read_parquet(train_path)
            folds, gold = folds_by_row(train, folds_path), gold_of(train)
            fused, per_fold, seconds = nested_fusion(table, folds.reindex(table.rows), gold, top_k)
            weights, all_seconds = tune_weights(table, gold)
            named = lambda w: {n: round(float(x), 4) for n, x in zip(paths, w)}
            result = {"method": method, "k": k, "norm": norm, "members": list(paths),
                      "weights": named(weights),
                      "per_fold": {f: named(w) for f, w in per_fold.items()},
                      "in_sample_map@25": map_of(GoldRanker(table, gold)(table.scores(weights))),
                      "tuning_seconds": round(seconds + all_seconds, 2)}
            write_json(result, out_weights)
            record.update(weights=result["weights"], tuning_seconds=result["tuning_seconds"])
            log.info("weights (all folds) %s; per fold %s; tuned in %.2f s", result["weights"],
                     result["per_fold"], result["tuning_seconds"])
        write_ranking(fused, out)


if __name__ == "__main__":
    main()
