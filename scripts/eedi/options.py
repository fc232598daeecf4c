"""Click options that several commands share, declared once so the same name means the same
thing everywhere (both trainers take their data and hard negatives through these).

    @click.command()
    @training_data_options
    @click.option("--lr", ...)
    def main(train_path, misconceptions, folds_path, fold, negatives_path, n_negatives,
             negative_ranks, negative_margin, seen_negatives_only, max_steps, seed, out, lr): ...

    name, path = parse_named("tfidf=rankings/train_tfidf.parquet", "--ranking")
"""

from __future__ import annotations

from pathlib import Path

import click

from eedi.defaults import SEED

_FILE = click.Path(dir_okay=False, path_type=Path)


def training_data_options(command):
    """--train, --misconceptions, --folds/--fold, the hard-negative options, --max-steps,
    --seed and --out, in that order on --help."""
    options = [
        click.option("--train", "train_path", type=_FILE, required=True,
                     help="train_long.parquet: its labelled rows are the training examples."),
        click.option("--misconceptions", type=_FILE, required=True,
                     help="misconceptions.parquet: names of golds and negatives."),
        click.option("--folds", "folds_path", type=_FILE, help="Folds Parquet (with --fold)."),
        click.option("--fold", type=int, help="Hold this fold out (needs --folds); omit: all rows."),
        click.option("--negatives", "negatives_path", type=_FILE,
                     help="A ranking of train to mine hard negatives from (its top ranks)."),
        click.option("--n-negatives", type=click.IntRange(0), help="Hard negatives per row "
                     "[registry's]; random misconceptions fill in where mining finds fewer."),
        click.option("--negative-ranks", metavar="FIRST:LAST",
                     help="Window of the ranking's ranks negatives come from [registry's]."),
        click.option("--negative-margin", type=float, help="Drop candidates scoring above the "
                     "gold's score minus this (likely false negatives) [registry's: keep]."),
        click.option("--seen-negatives-only", is_flag=True, default=None,
                     help="Mine only misconceptions that label a training row [registry's: any]."),
        click.option("--max-steps", type=int, default=-1, show_default=True,
                     help="Stop after this many optimiser steps (-1: run the epochs); a CPU budget."),
        click.option("--seed", type=int, default=SEED, show_default=True),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="The model folder to write."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def parse_named(spec: str, option: str) -> tuple[str, Path]:
    """"NAME=PATH" (a ranking named as Make names it) -> (name, path); else a usage error."""
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{spec!r} is not NAME=PATH", param_hint=option)
    return name, Path(path)


QUANTIZE = {"4bit": True, "none": False}


def quantize_option(command):
    """--quantize 4bit|none: NF4 4-bit base weights (QLoRA) or not, overriding the registry's
    quantize_4bit; bitsandbytes runs it on CUDA and on CPU alike."""
    return click.option("--quantize", type=click.Choice(list(QUANTIZE)),
                        help="4bit: NF4 base weights (QLoRA), CPU included; none: full "
                             "precision [registry's / the trained model's].")(command)


def quantize_4bit(choice: str | None) -> bool | None:
    """--quantize's value as a spec field (None: leave the spec's)."""
    return None if choice is None else QUANTIZE[choice]


def dataset_staging_options(staging_name: str):
    """--staging, --marker and --action of a command that stages a dataset from the repository
    and pushes it (push_code, push_wheels): the same names, meanings and defaults in both.

        @dataset_staging_options("code")    # --staging default: REPO/submissions/code.dataset
    """
    def decorate(command):
        options = [
            click.option("--staging", type=click.Path(file_okay=False, path_type=Path),
                         help="Where the dataset folder is assembled [default: REPO/submissions/"
                         f"{staging_name}.dataset]."),
            click.option("--marker", type=click.Path(dir_okay=False, path_type=Path),
                         help="The record of pushes [default: STAGING.pushed.json, beside "
                         "STAGING]."),
            click.option("--action", type=click.Choice(["auto", "create", "version"]),
                         default="auto", show_default=True,
                         help="auto: create unless MARKER lists the dataset."),
        ]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate
