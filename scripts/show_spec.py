"""Print a reranker's settings as the pipeline resolves them: a registry name, HF id or trained
adapter folder -> its spec as JSON, or one vLLM engine setting of a GPU profile. Make asks it
how many GPUs one copy of a model spans (GPUS=2 with a model that needs both: one copy, tensor
parallel; with one that fits one GPU: a copy per GPU, each on half the rows).

\b
Reads  MODEL   a registry name (eedi/registry.py), HF id, or a folder with reranker.json
Writes stdout  the spec as JSON, or with --vllm-setting the value alone

    python scripts/show_spec.py --model qwen32b
    python scripts/show_spec.py --model qwen32b --vllm-profile t4 --vllm-setting tensor_parallel_size
    2
"""

import dataclasses
import json

import click

from eedi.registry import VLLM_PROFILES, vllm_settings
from eedi.reranker import reranker_spec


@click.command(help=__doc__)
@click.option("--model", required=True, help="Registry name, HF id, or trained model folder.")
@click.option("--vllm-profile", type=click.Choice(["auto", *VLLM_PROFILES]), default="auto",
              show_default=True, help="GPU profile of the vLLM settings (auto: this machine's).")
@click.option("--vllm-setting", help="Print only this vLLM engine setting of the profile.")
def main(model: str, vllm_profile: str, vllm_setting: str | None) -> None:
    spec = reranker_spec(model)
    settings = vllm_settings(spec, vllm_profile)
    if vllm_setting is None:
        click.echo(json.dumps({**dataclasses.asdict(spec), "vllm_settings": settings}, indent=1))
    elif vllm_setting not in settings:
        raise click.BadParameter(f"not one of {sorted(settings)}", param_hint="--vllm-setting")
    else:
        click.echo(settings[vllm_setting])


if __name__ == "__main__":
    main()
