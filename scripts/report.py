"""The CV report: one HTML page (plus its PNGs) with every ranking's out-of-fold MAP@25 per
fold, recall@K curves, seen vs unseen bars, the fusion weights and the cascade trade-off.

\b
Reads  CV_JSON     evaluate.py's JSON ({ranking: {slice: metrics}})
       RANKING...  NAME=PATH rankings of train (for the recall@K curves)
       TRAIN/FOLDS train_long.parquet (gold) and the folds
       FUSION...   (optional) fuse.py's weights JSONs
       BOOST...    (optional) NAME=PATH boost_unseen.py's JSONs
       CASCADE...  (optional) cascade.py's JSONs
Writes OUT_DIR/index.html  the page, figures embedded (open it in any browser)
       OUT_DIR/*.png       the same figures as files
"""

import json
from pathlib import Path

import click
import pandas as pd

from eedi.files import atomic_write, write_text
from eedi.long_table import gold_of
from eedi.metrics import gold_ranks
from eedi.options import parse_named
from eedi.ranking import read_ranking
from eedi.report import (cascade_curve, fusion_weights, map_per_fold, page, png, recall_curves,
                         seen_unseen)
from eedi.run_log import log, setup_logging, step_timer

FILE = click.Path(dir_okay=False, path_type=Path, exists=True)


@click.command(help=__doc__)
@click.option("--cv-json", type=FILE, required=True)
@click.option("--ranking", "rankings", multiple=True, metavar="NAME=PATH")
@click.option("--train", "train_path", type=FILE, required=True)
@click.option("--fusion", "fusions", type=FILE, multiple=True)
@click.option("--boost", "boosts", multiple=True, metavar="NAME=PATH")
@click.option("--cascade", "cascades", type=FILE, multiple=True)
@click.option("--title", default="Eedi CV report", show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(cv_json, rankings, train_path, fusions, boosts, cascades, title, out_dir):
    setup_logging()
    with step_timer("report", out_dir=str(out_dir)):
        cv = json.loads(cv_json.read_text())
        gold = gold_of(pd.read_parquet(train_path))
        ranks = {}
        for spec in rankings:
            name, path = parse_named(spec, "--ranking")
            ranks[name] = gold_ranks(read_ranking(path), gold)
        fusion = [json.loads(p.read_text()) for p in fusions]
        boost = [(n, json.loads(p.read_text())) for n, p in (parse_named(s, "--boost") for s in boosts)]
        cascade = [json.loads(p.read_text()) for p in cascades]

        figures = {"map_per_fold": map_per_fold(cv), "seen_unseen": seen_unseen(cv)}
        if ranks:
            figures["recall_curves"] = recall_curves(ranks)
        for i, f in enumerate(fusion):
            figures[f"fusion_weights{i or ''}"] = fusion_weights(f)
        for i, c in enumerate(cascade):
            figures[f"cascade{i or ''}"] = cascade_curve(c)
        images = {name: png(fig) for name, fig in figures.items()}
        for name, data in images.items():
            with atomic_write(out_dir / f"{name}.png") as tmp:
                tmp.write_bytes(data)
        write_text(page(title, cv, images, fusion, boost, cascade), out_dir / "index.html")
        log.info("wrote %s (%d figures)", out_dir / "index.html", len(images))
        click.echo(str(out_dir / "index.html"))


if __name__ == "__main__":
    main()
