"""eedi.options.spec_options: the trainers' settings are the registry's fields, declared once
(eedi.registry.setting: help, bound, choices). An option per field, its value None unless
given, one `overrides` dict for spec.replace; a bad value is refused by Click naming the option,
and a bad spec (registry entry, replace, saved JSON) by the spec itself, naming the field."""

import dataclasses

import click
import pytest
from click.testing import CliRunner

from eedi.options import spec_options
from eedi.registry import Reranker, Retriever

import train_reranker
import train_retriever


def command_over(kind, *names):
    got = {}

    @click.command()
    @click.option("--model", default="x")
    @spec_options(kind, *names)
    def main(model, overrides):
        got.update(overrides)
    return main, got


def test_given_options_override_and_the_rest_are_none():
    main, got = command_over(Reranker, "lr", "loss", "seen_negatives_only", "negative_margin")
    result = CliRunner().invoke(main, ["--lr", "3e-4", "--seen-negatives-only"])
    assert result.exit_code == 0, result.output
    assert got == {"lr": 3e-4, "loss": None, "seen_negatives_only": True, "negative_margin": None}
    spec = Reranker(model="m").replace(**got)
    assert (spec.lr, spec.loss, spec.seen_negatives_only) == (3e-4, "group", True)


@pytest.mark.parametrize("kind, args, message", [
    (Reranker, ["--loss", "mnrl"], "'mnrl' is not one of 'group', 'bce'"),
    (Retriever, ["--loss", "bce"], "'bce' is not one of 'mnrl', 'cached-mnrl'"),
    (Reranker, ["--n-negatives", "0"], "0 is not in the range x>=1"),   # a group needs one
    (Retriever, ["--n-negatives", "0"], None),                         # random fill-in only
    (Retriever, ["--batch-size", "1"], "1 is not in the range x>=2"),   # in-batch negatives
])
def test_bounds_and_choices_come_from_the_field(kind, args, message):
    main, _ = command_over(kind, "loss", "n_negatives", "batch_size")
    result = CliRunner().invoke(main, args)
    if message is None:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and message in result.output


def test_a_spec_outside_its_bounds_names_the_field():
    with pytest.raises(ValueError, match=r"Reranker.grad_accum = 0: at least 1"):
        Reranker(model="m").replace(grad_accum=0)
    with pytest.raises(ValueError, match=r"Retriever.loss = 'group': one of mnrl \| cached-mnrl"):
        Retriever(model="m", loss="group")


@pytest.mark.parametrize("script, kind", [(train_reranker, Reranker), (train_retriever, Retriever)])
def test_every_trainer_setting_option_is_a_field_with_its_help(script, kind):
    fields = {f.name: f for f in dataclasses.fields(kind)}
    settings = [p for p in script.main.params if p.name in fields]
    assert len(settings) >= 9
    for option in settings:
        assert option.opts == ["--" + option.name.replace("_", "-")]
        assert option.help.startswith(fields[option.name].metadata["help"])
