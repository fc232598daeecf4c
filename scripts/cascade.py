"""What a cascade buys: a later stage reorders only an earlier stage's top N (or the candidates
within DELTA of the row's top score), from existing out-of-fold rankings, no new training.

\b
Reads  EARLIER  NAME=PATH: the earlier stage's ranking of train (e.g. the retriever's)
       LATER    NAME=PATH: the later stage's ranking of train (e.g. a reranker's, or a better
                retriever's), whose scores order the kept candidates
       TRAIN    train_long.parquet (gold ids)
Writes OUT_JSON / OUT_TABLE  per (N, DELTA): MAP@25, the ceiling (share of labelled rows whose
                gold is inside the cut: the earlier stage's recall there), the pairs the later
                stage scores in all and per row; the two stages alone for reference

1st place cut at the retriever's top 32 plus any candidate within 0.06 of the top one; DELTA is
on the earlier stage's own score scale (cosine for an embedder).
"""

from pathlib import Path

import click
import pandas as pd

from eedi.ensemble.cascade import cascade_report
from eedi.files import write_json, write_text
from eedi.long_table import gold_of
from eedi.options import parse_named
from eedi.ranking import read_ranking
from eedi.run_log import setup_logging, step_timer

FILE = click.Path(dir_okay=False, path_type=Path)


def numbers(text: str, kind, none_ok: bool = False) -> list:
    values = []
    for part in text.split(","):
        part = part.strip()
        if none_ok and part.lower() == "none":
            values.append(None)
            continue
        try:
            values.append(kind(part))
        except ValueError:
            raise click.BadParameter(f"{part!r} in {text!r} is not a number") from None
    return values


@click.command(help=__doc__)
@click.option("--earlier", required=True, metavar="NAME=PATH")
@click.option("--later", required=True, metavar="NAME=PATH")
@click.option("--train", "train_path", type=FILE, required=True)
@click.option("--top-n", "top_ns", default="5,10,25,50,100", show_default=True,
              help="Comma-separated cut sizes.")
@click.option("--delta", "deltas", default="none,0.02,0.05,0.1", show_default=True,
              help="Comma-separated score margins (none: the top N alone).")
@click.option("--out-json", type=FILE, required=True)
@click.option("--out-table", type=FILE, required=True)
def main(earlier, later, train_path, top_ns, deltas, out_json, out_table):
    setup_logging()
    (e_name, e_path), (l_name, l_path) = parse_named(earlier, "--earlier"), parse_named(later, "--later")
    with step_timer("cascade", earlier=e_name, later=l_name):
        gold = gold_of(pd.read_parquet(train_path))
        table = cascade_report(read_ranking(e_path), read_ranking(l_path), gold,
                               numbers(top_ns, int), numbers(deltas, float, none_ok=True))
        header = (f"cascade: {l_name} reorders {e_name}'s cut (top N, or within DELTA of the top "
                  f"score); top_n 0 = {e_name} alone, all = {l_name} alone; "
                  f"{len(gold)} labelled rows\n")
        shown = table.assign(  # pairs are counts; the "all" row has none
            pairs=table["pairs"].map(lambda x: "-" if pd.isna(x) else f"{int(x)}"),
            pairs_per_row=table["pairs_per_row"].map(lambda x: "-" if pd.isna(x) else f"{x:.1f}"))
        text = header + shown.to_string(index=False, float_format=lambda x: f"{x:.4f}",
                                        na_rep="-") + "\n"
        write_json({"earlier": e_name, "later": l_name, "rows": table.to_dict("records")}, out_json)
        write_text(text, out_table)
        click.echo(text, nl=False)


if __name__ == "__main__":
    main()
