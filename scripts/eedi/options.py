"""Click options that several commands share, declared once so the same name means the same
thing everywhere (both trainers take their data through these, and their settings straight from
the registry's fields).

    @click.command()
    @training_data_options
    @spec_options(Reranker, "epochs", "lr", "n_negatives")   # --epochs, --lr, --n-negatives
    def main(train_path, misconceptions, folds_path, fold, negatives_path, max_steps, seed, out,
             overrides): ...
        spec = reranker_spec(model).replace(**overrides)       # None (not given): the registry's

    name, path = parse_named("tfidf=rankings/train_tfidf.parquet", "--ranking")
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from pathlib import Path

import click

from eedi.defaults import SEED

_FILE = click.Path(dir_okay=False, path_type=Path)


def training_data_options(command):
    """--train, --misconceptions, --folds/--fold, --negatives, --synth, --max-steps, --seed and --out,
    in that order on --help (the negatives' settings are spec fields: spec_options)."""
    options = [
        click.option("--train", "train_path", type=_FILE, required=True,
                     help="train_long.parquet: its labelled rows are the training examples."),
        click.option("--misconceptions", type=_FILE, required=True,
                     help="misconceptions.parquet: names of golds and negatives."),
        click.option("--folds", "folds_path", type=_FILE, help="Folds Parquet (with --fold)."),
        click.option("--fold", type=int, help="Hold this fold out (needs --folds); omit: all rows."),
        click.option("--negatives", "negatives_path", type=_FILE,
                     help="A ranking of train to mine hard negatives from (its top ranks)."),
        click.option("--synth", "synth_path", type=_FILE,
                     help="make synth's CSV: its questions join the training rows (any fold's "
                          "model and all-train's; never validation); their negatives are random."),
        click.option("--max-steps", type=int, default=-1, show_default=True,
                     help="Stop after this many optimiser steps (-1: run the epochs); a CPU budget."),
        click.option("--seed", type=int, default=SEED, show_default=True),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="The model folder to write."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def spec_options(kind: type, *names: str):
    """One option per field of the spec dataclass `kind` (eedi.registry.Retriever / Reranker):
    --<field-name>, its type from the annotation, its help, bound and choices from the field's
    eedi.registry.setting. The command receives them as one dict, `overrides` (None where not
    given), for spec.replace(**overrides)."""
    fields = {f.name: f for f in dataclasses.fields(kind)}
    hints = typing.get_type_hints(kind)

    def option(name: str):
        meta, hint = fields[name].metadata, hints[name]
        base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        help = f"{meta['help']} [registry's]"
        flag = "--" + name.replace("_", "-")
        if base is bool:
            return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help)
        if meta.get("choices"):
            kind_type = click.Choice(meta["choices"])
        elif meta.get("low") is not None and base in (int, float):
            kind_type = (click.IntRange if base is int else click.FloatRange)(meta["low"])
        else:
            kind_type = base
        return click.option(flag, name, type=kind_type, metavar=meta.get("metavar"), help=help)

    def decorate(command):
        @functools.wraps(command)
        def with_overrides(**kwargs):
            overrides = {name: kwargs.pop(name) for name in names}
            return command(**kwargs, overrides=overrides)
        for name in reversed(names):
            with_overrides = option(name)(with_overrides)
        return with_overrides
    return decorate


def shard_options(command):
    """--gpus N and --shard i/n of a command that eedi.sharding can run as copies (rerank.py,
    retrieve_embed.py): the launcher's option and the one it gives each copy."""
    options = [
        click.option("--gpus", type=click.IntRange(1), default=1, show_default=True,
                     help="GPUs to use: one copy of this command per GPU (rerank.py: per "
                     "--tensor-parallel GPUs), each on its slice of the rows, merged into OUT."),
        click.option("--shard", default="0/1", show_default=True,
                     help="i/n: only the i-th of n slices of the rows (what --gpus gives a copy)."),
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
