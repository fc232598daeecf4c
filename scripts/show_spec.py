"""Print a model's settings as the pipeline resolves them: a registry name, HF id or trained
model folder -> its spec as JSON, one vLLM engine setting of a GPU profile, or the fields that
training depends on (Make's per-model stamp).

Make asks it how many GPUs one copy of a reranker spans (GPUS=2 with a model that needs both:
one copy, tensor parallel; with one that fits one GPU: a copy per GPU, each on half the rows),
and for each model's stamp ($(RUN)/spec/<kind>-<name>.json, rewritten only when it changes), so
editing one registry entry retrains that model alone, and a Kaggle Models handle nothing.

\b
Reads  MODEL   a registry name (eedi/registry.py), HF id, or a folder with reranker.json /
               retriever.json
Writes stdout  the spec as JSON, with --vllm-setting the value alone, with --stamp the
               fields training depends on as sorted JSON

    python scripts/show_spec.py --model qwen32b
    python scripts/show_spec.py --model qwen32b --vllm-profile t4 --vllm-setting tensor_parallel_size
    2
    python scripts/show_spec.py --kind retriever --model minilm --stamp
"""

import dataclasses
import json

import click

from eedi.registry import load_spec
from eedi.registry import VLLM_PROFILES, Reranker, Retriever, training_fields, vllm_settings

KINDS = {"reranker": Reranker, "retriever": Retriever}


@click.command(help=__doc__)
@click.option("--model", required=True, help="Registry name, HF id, or trained model folder.")
@click.option("--kind", type=click.Choice(list(KINDS)), default="reranker", show_default=True)
@click.option("--stamp", is_flag=True,
              help="Make's stamp: the fields training depends on, as sorted JSON.")
@click.option("--vllm-profile", type=click.Choice(["auto", *VLLM_PROFILES]), default="auto",
              show_default=True, help="GPU profile of the vLLM settings (auto: this machine's).")
@click.option("--vllm-setting", help="Print only this vLLM engine setting of the profile.")
def main(model: str, kind: str, stamp: bool, vllm_profile: str, vllm_setting: str | None) -> None:
    spec = load_spec(KINDS[kind], model)
    if stamp:
        click.echo(json.dumps(training_fields(spec), indent=1, sort_keys=True))
        return
    if kind != "reranker":
        if vllm_setting is not None:
            raise click.BadParameter("only rerankers have vLLM settings", param_hint="--vllm-setting")
        click.echo(json.dumps(dataclasses.asdict(spec), indent=1))
        return
    settings = vllm_settings(spec, vllm_profile)
    if vllm_setting is None:
        click.echo(json.dumps({**dataclasses.asdict(spec), "vllm_settings": settings}, indent=1))
    elif vllm_setting not in settings:
        raise click.BadParameter(f"not one of {sorted(settings)}", param_hint="--vllm-setting")
    else:
        click.echo(settings[vllm_setting])


if __name__ == "__main__":
    main()
