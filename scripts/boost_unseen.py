"""Boost misconceptions never seen in training: multiply their probability in each row by C.

\b
Tune (a ranking of train, CV): --train and --folds given
Reads  RANKING    an out-of-fold ranking of train (the ranking contract)
       TRAIN      train_long.parquet (gold ids), FOLDS the folds Parquet
Writes OUT        the boosted ranking: fold k's rows boosted with the C tuned on the other
                  folds, "unseen" meaning absent from the other folds' labels
       OUT_JSON   C tuned on all folds (what test gets), C per fold, the objective, seconds,
                  also_seen (--synth's misconception ids, seen on test too)
\b
Apply (a ranking of test): --constant-from given
Reads  RANKING    a ranking of test; MISCONCEPTIONS misconceptions.parquet (seen_in_train)
       CONSTANT_FROM the JSON the tune step wrote
Writes OUT        the boosted ranking of test, "unseen" meaning absent from train's labels

With --synth (make synth's CSV, as the models trained on it): its misconceptions count as
seen in every fold and on test.

Scale: per row, scores are z-scored and softmaxed into probabilities; unseen candidates'
probabilities are multiplied by C (C=1: no boost). C comes from a grid, chosen on MAP@25
(--objective map) or on the 50/50 seen/unseen MAP (balanced); or, with --top1-share S (3rd
place's criterion, no labels), the smallest C that puts unseen ids at rank 1 in S of the rows.
"""

import json
from pathlib import Path

import click
import pandas as pd

from eedi.ensemble.boost import (OBJECTIVES, boost, constant_for_top1_share, cv_constant,
                                 nested_boost, top1_share_boost, unseen_mask)
from eedi.files import write_json
from eedi.folds import folds_by_row
from eedi.long_table import gold_of
from eedi.ranking import read_ranking, write_ranking
from eedi.run_log import log, setup_logging, step_timer
from eedi.synth.synthetic_rows import synthetic_ids

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command(help=__doc__)
@click.option("--ranking", "ranking_path", type=FILE, required=True)
@click.option("--train", "train_path", type=FILE, help="Tune: train_long.parquet (gold).")
@click.option("--folds", "folds_path", type=FILE, help="Tune: the folds Parquet.")
@click.option("--out-json", type=FILE, help="Tune: the constants JSON to write.")
@click.option("--objective", type=click.Choice(OBJECTIVES), default="map", show_default=True,
              help="What C maximises: MAP@25, or the 50/50 seen/unseen MAP@25.")
@click.option("--top1-share", type=click.FloatRange(0, 1),
              help="Instead: the smallest C that makes unseen ids this share of rank 1 (no labels).")
@click.option("--misconceptions", type=FILE, help="Apply: misconceptions.parquet (seen_in_train).")
@click.option("--constant-from", type=FILE, help="Apply: the JSON a tune step wrote.")
@click.option("--synth", "synth_path", type=FILE,
              help="make synth's CSV the models trained on: its misconceptions are seen.")
@click.option("--out", type=FILE, required=True)
def main(ranking_path, train_path, folds_path, out_json, objective, top1_share, misconceptions,
         constant_from, synth_path, out):
    setup_logging()
    tuning = constant_from is None
    if tuning and None in (train_path, folds_path, out_json):
        raise click.UsageError("tuning needs --train, --folds and --out-json (or pass --constant-from)")
    if not tuning and misconceptions is None:
        raise click.UsageError("--constant-from needs --misconceptions (which ids train has seen)")
    with step_timer("boost_unseen", ranking=str(ranking_path), mode="tune" if tuning else "apply") as record:
        ranking = read_ranking(ranking_path)
        also_seen = synthetic_ids(synth_path) if synth_path else frozenset()
        if not tuning:
            saved = json.loads(Path(constant_from).read_text())
            # the tune step's synthetic ids travel in its JSON (the Kaggle notebook ships the
            # JSON, not the CSV)
            also_seen = set(also_seen) | set(saved.get("also_seen", []))
            mis = pd.read_parquet(misconceptions)
            seen = set(mis.loc[mis["seen_in_train"], "MisconceptionId"].astype(int)) | also_seen
            unseen = unseen_mask(ranking, seen)
            c = (constant_for_top1_share(ranking, unseen, saved["top1_share"])
                 if saved.get("top1_share") is not None else saved["c"])
            log.info("boosting %.0f%% unseen candidates by C=%g", 100 * unseen.mean(), c)
            write_ranking(boost(ranking, unseen, c), out)
            record["c"] = c
            return

        train = pd.read_parquet(train_path)
        folds, gold = folds_by_row(train, folds_path), gold_of(train)
        folds = folds.reindex(ranking["QuestionId_Answer"].unique())
        if top1_share is not None:
            boosted, per_fold = top1_share_boost(ranking, folds, gold, top1_share, also_seen)
            result = {"top1_share": top1_share, "c": None, "per_fold": per_fold, "seconds": 0.0}
            result["also_seen"] = sorted(also_seen)
        else:
            boosted, per_fold, seconds = nested_boost(ranking, folds, gold, objective, also_seen)
            c, more = cv_constant(ranking, folds, gold, objective, also_seen)
            result = {"objective": objective, "c": c, "per_fold": per_fold,
                      "seconds": round(seconds + more, 2), "also_seen": sorted(also_seen)}
        write_json(result, out_json)
        write_ranking(boosted, out)
        record.update(c=result["c"], per_fold=result["per_fold"])
        log.info("C per fold %s; on test: %s", result["per_fold"],
                 result["c"] if result["c"] is not None else
                 f"the smallest that puts unseen ids at rank 1 of {top1_share:.0%} of test's rows")


if __name__ == "__main__":
    main()
