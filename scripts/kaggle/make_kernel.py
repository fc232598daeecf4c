"""Build the offline Kaggle inference notebook, its kernel-metadata.json and its plan.

\b
Reads  RUN_DIR/fusion-*.json, RUN_DIR/boost-*.json   the saved weights / constant FINAL needs
       MODELS_DIR/<reranker>/all/reranker.json       (with a reranker) its base model's name,
                                                     or "./": a merged, quantised folder that
                                                     is its own base (make quantize)
       VLLM_WHEELS/requirements-vllm-kaggle.txt      (ENGINE=vllm) the staged vLLM wheels
       TIMINGS                                       (optional) a run log: per-row seconds
Writes OUT_DIR/<slug>.ipynb            the notebook (nbformat, validated, with a kernelspec)
       OUT_DIR/kernel-metadata.json    for `kaggle kernels push -p OUT_DIR`: private, GPU 2xT4,
                                       internet off, the competition, datasets and models
       OUT_DIR/plan/                   a dataset to attach: kernel.json (the plan the driver
                                       runs), the fusion/boost JSONs, dataset-metadata.json

The plan's steps follow from FINAL's name (eedi.kaggle.plan); each weights dataset is named
as push_weights.py names it (USER/eedi-<model>). Everything is written to a temp folder and
swapped in whole.

What is refused, before anything is written: a zero-shot embedder (<model>-zs: no dataset
ships its weights, and the notebook has no internet); ENGINE=vllm without the vLLM wheels staged
(Kaggle's image has no vLLM); a quantised folder with ENGINE=hf (transformers would expand its
4-bit weights: serve it with vLLM, or submit the adapter, which HF loads on a 4-bit NF4 base
over both T4s); an asymmetric 4-bit folder for the T4 (vLLM's kernels there: Marlin, with
ExLlama as the fallback for symmetric weights only).
"""

import json
import shutil
import sys
from pathlib import Path

import click
import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.files import atomic_folder
from eedi.kaggle.cli import kaggle_username
from eedi.kaggle.inputs import PLAN_FILE
from eedi.kaggle.install import VLLM_REQUIREMENTS
from eedi.kaggle.kernel import METADATA, PLACEHOLDER_USER, kernel_metadata, slug_of
from eedi.kaggle.notebook import build_notebook
from eedi.kaggle.plan import build_plan, is_folder_of, plan_steps
from eedi.kaggle.time_budget import DEFAULT_BUDGET_S, Estimates, rates_from_run_log, with_rates
from eedi.registry import load_spec
from eedi.registry import Reranker, lookup, vllm_settings
from eedi.rerank.quantization import weight_scheme
from eedi.run_log import log, setup_logging, step_timer

PLAN_DIR = "plan"


def check_quantised_for_kaggle(folder: Path, scheme: dict | None, engine: str,
                               profile: str) -> None:
    """A merged, quantised reranker folder the notebook can serve on Kaggle's T4s, or a
    ClickException saying why not (see the module's help)."""
    if scheme is None:
        raise click.ClickException(f"{folder}: its reranker.json says it is its own base, but "
                                   "config.json has no quantization_config")
    if engine != "vllm":
        raise click.ClickException(
            f"{folder} is merged and quantised ({scheme['method']}, {scheme['bits']}-bit): the "
            "notebook serves that with ENGINE=vllm (make vllm-wheels). With ENGINE=hf submit "
            "the adapter instead (FINAL=...rr-<reranker>): HF loads its base in 4-bit NF4")
    if profile == "t4" and scheme["bits"] == 4 and scheme["symmetric"] is False:
        raise click.ClickException(
            f"{folder}: asymmetric 4-bit weights (W4A16_ASYM). On the T4 vLLM serves 4-bit "
            "weights with Marlin, and falls back to ExLlama for symmetric weights only; "
            "quantise with QUANT_SCHEME=W4A16 (symmetric) for Kaggle")


def owned(ref: str, user: str) -> str:
    """SLUG -> USER/SLUG; USER/SLUG as it is."""
    return ref if "/" in ref else f"{user}/{ref}"


@click.command(help=__doc__)
@click.option("--final", required=True, help="The ranking to submit (Make's FINAL).")
@click.option("--reranker", default="none", show_default=True, help="Make's RERANKER.")
@click.option("--top-k", type=click.IntRange(25), help="Make's TOP_K [the scripts' default].")
@click.option("--top-n", type=click.IntRange(1), help="Make's TOP_N [the adapter's].")
@click.option("--engine", default="hf", show_default=True)
@click.option("--gpus", type=click.IntRange(1), default=2, show_default=True,
              help="GPUs of the machine the notebook runs on (Kaggle: 2 x T4); the reranker runs "
                   "GPUS / its tensor parallel size copies, each embedder one per GPU.")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--kernel-id", help="USER/SLUG [USER from --user or the Kaggle credentials].")
@click.option("--user", help="Kaggle user owning the kernel and datasets [the credentials'].")
@click.option("--title", default="Eedi inference", show_default=True)
@click.option("--code-dataset", default="eedi-code", show_default=True)
@click.option("--wheels-dataset", default="eedi-wheels", show_default=True)
@click.option("--plan-dataset", default="eedi-plan", show_default=True)
@click.option("--vllm-wheels", type=click.Path(file_okay=False, path_type=Path),
              help="ENGINE=vllm: the staged vLLM wheels dataset (make vllm-wheels).")
@click.option("--vllm-wheels-dataset", default="eedi-vllm-wheels", show_default=True)
@click.option("--kaggle-model", help="The reranker's base model on Kaggle Models "
              "(owner/model/framework/variation/version) [known registry names'].")
@click.option("--vllm-profile", default="t4", show_default=True,
              help="The GPU profile the notebook's vLLM runs with (Kaggle's 2x T4: t4).")
@click.option("--tensor-parallel", type=click.IntRange(1),
              help="GPUs one copy of the reranker spans [the registry's for --vllm-profile].")
@click.option("--budget-s", type=click.FloatRange(60), default=DEFAULT_BUDGET_S, show_default=True)
@click.option("--timings", type=click.Path(dir_okay=False, path_type=Path),
              help="A run log whose per-row seconds replace the stated defaults.")
def main(final, reranker, top_k, top_n, engine, gpus, run_dir, models_dir, out_dir, kernel_id,
         user, title, code_dataset, wheels_dataset, plan_dataset, vllm_wheels,
         vllm_wheels_dataset, kaggle_model, vllm_profile, tensor_parallel, budget_s, timings):
    setup_logging()
    with step_timer("make_kernel", final=final) as record:
        try:
            steps = plan_steps(final)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--final") from None
        user = user or (kernel_id.partition("/")[0] if kernel_id else None) or kaggle_username()
        if not user:  # a local rehearsal needs no account; make push-kernel refuses this one
            user = PLACEHOLDER_USER
            log.warning("no Kaggle user name (KERNEL_USER, KAGGLE_USERNAME, kaggle.json): the "
                        "notebook and its datasets are owned by %r; fine for make kernel-local, "
                        "refused by make push-kernel", user)
        kernel_id = kernel_id or f"{user}/{slug_of(title)}"

        zero_shot = [s.ranking for s in steps if s.kind == "embed" and not s.weights_dataset]
        if zero_shot:  # its model would come from the Hub or a local package: neither on Kaggle
            raise click.BadParameter(
                f"FINAL {final} uses {', '.join(zero_shot)}: a zero-shot embedder, whose weights "
                "no dataset ships (Kaggle's notebook has no internet and no local packages); "
                "use the fine-tuned one (<model>-ft, published by make push-weights)",
                param_hint="--final")
        rerank_steps = [s for s in steps if s.kind == "rerank"]
        reranker_entry = None
        if engine == "vllm" and rerank_steps:
            if vllm_wheels is None or not (vllm_wheels / VLLM_REQUIREMENTS).is_file():
                raise click.ClickException(
                    f"ENGINE=vllm, but Kaggle's image has no vLLM and no vLLM wheels are staged "
                    f"({vllm_wheels or '--vllm-wheels'}/{VLLM_REQUIREMENTS} not found): make "
                    "vllm-wheels stages them, make push-vllm-wheels publishes them")
        if rerank_steps:
            name = rerank_steps[0].model
            # RERANKER's adapter, or its merged + quantised folder (<name>.<scheme>)
            if reranker == "none" or not is_folder_of(name, reranker):
                raise click.BadParameter(f"FINAL {final} reranks with {name!r} but RERANKER is "
                                         f"{reranker!r}", param_hint="--reranker")
            spec_file = models_dir / name / "all" / Reranker.SPEC_FILE
            if not spec_file.is_file():
                raise click.ClickException(f"{spec_file} not found: train the all-train adapter "
                                           "first (make train-reranker; make quantize for a "
                                           "quantised one)")
            base = json.loads(spec_file.read_text())["model"]
            if gpus > 1 and tensor_parallel is None:  # what Kaggle's GPUs need, not this machine's
                tensor_parallel = vllm_settings(load_spec(Reranker, str(spec_file.parent)),
                                                vllm_profile)["tensor_parallel_size"]
            if base == "./":  # merged + quantised (quantize.py): the folder is its own base
                scheme = weight_scheme(spec_file.parent)
                check_quantised_for_kaggle(spec_file.parent, scheme, engine, vllm_profile)
                reranker_entry = {"name": name, "weights_dataset": rerank_steps[0].weights_dataset,
                                  "base_folder": None, "kaggle_model": None,
                                  "self_contained": True, "weights": scheme}
            else:
                reranker_entry = {
                    "name": name, "weights_dataset": rerank_steps[0].weights_dataset,
                    "base_folder": Path(base).name,
                    # the handle from the registry as it is now (a serving setting)
                    "kaggle_model": kaggle_model or lookup(Reranker, reranker).kaggle_model}

        jsons = [run_dir / s.json for s in steps if s.json]
        for path in jsons:
            if not path.is_file():
                raise click.ClickException(f"{path} not found: make fuse / make submission "
                                           f"FINAL={final} writes it")
        estimates = Estimates()
        if timings:
            estimates = with_rates(estimates, rates_from_run_log(timings))
        if gpus > 1 and gpus % (tensor_parallel or 1):
            raise click.BadParameter(f"GPUS={gpus} is not a multiple of the reranker's tensor "
                                     f"parallel size {tensor_parallel}", param_hint="--gpus")
        plan = build_plan(final, top_k, top_n, engine, gpus, reranker_entry, budget_s,
                          estimates.to_plan(), vllm_profile, tensor_parallel)

        slug = kernel_id.partition("/")[2]
        weights = sorted({owned(s.weights_dataset, user) for s in steps if s.weights_dataset})
        vllm_ref = owned(vllm_wheels_dataset, user) if engine == "vllm" and rerank_steps else None
        datasets = [owned(code_dataset, user), owned(plan_dataset, user), *weights,
                    owned(wheels_dataset, user), *([vllm_ref] if vllm_ref else [])]
        models = [reranker_entry["kaggle_model"]] if reranker_entry and reranker_entry["kaggle_model"] else []
        try:
            metadata = kernel_metadata(kernel_id, title, f"{slug}.ipynb", datasets, models)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        notebook = build_notebook(owned(code_dataset, user), owned(wheels_dataset, user), vllm_ref)

        with atomic_folder(out_dir) as tmp:
            nbformat.write(notebook, tmp / metadata["code_file"])
            (tmp / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
            plan_dir = tmp / PLAN_DIR
            plan_dir.mkdir()
            (plan_dir / PLAN_FILE).write_text(json.dumps(plan, indent=2) + "\n")
            for path in jsons:
                shutil.copy2(path, plan_dir / path.name)
            dataset_meta = {"title": "Eedi kernel plan", "id": owned(plan_dataset, user),
                            "licenses": [{"name": "CC0-1.0"}]}
            (plan_dir / "dataset-metadata.json").write_text(json.dumps(dataset_meta, indent=2) + "\n")
        record.update(kernel=kernel_id, steps=[s.ranking for s in steps])
        log.info("wrote %s (%s: %s), plan %s -> %s", out_dir / metadata["code_file"], kernel_id,
                 " -> ".join(s.ranking for s in steps), out_dir / PLAN_DIR, final)
        click.echo(f"{out_dir / metadata['code_file']}\n{out_dir / 'kernel-metadata.json'}\n"
                   f"{out_dir / PLAN_DIR / PLAN_FILE}")


if __name__ == "__main__":
    main()
