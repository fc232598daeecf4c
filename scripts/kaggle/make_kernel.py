"""Build the offline Kaggle inference notebook, its kernel-metadata.json and its plan.

\b
Reads  RUN_DIR/fusion-*.json, RUN_DIR/boost-*.json   the saved weights / constant FINAL needs
       MODELS_DIR/<reranker>/all/reranker.json       (with a reranker) its base model's name
       TIMINGS                                       (optional) a run log: per-row seconds
Writes OUT_DIR/<slug>.ipynb            the notebook (nbformat, validated, with a kernelspec)
       OUT_DIR/kernel-metadata.json    for `kaggle kernels push -p OUT_DIR`: private, GPU 2xT4,
                                       internet off, the competition, datasets and models
       OUT_DIR/plan/                   a dataset to attach: kernel.json (the plan the driver
                                       runs), the fusion/boost JSONs, dataset-metadata.json

The plan's steps follow from FINAL's name (eedi.kaggle.plan); each weights dataset is named
as push_weights.py names it (USER/eedi-<model>). Everything is written to a temp folder and
swapped in whole.
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
from eedi.kaggle.kernel import METADATA, PLACEHOLDER_USER, kernel_metadata, slug_of
from eedi.kaggle.notebook import build_notebook
from eedi.kaggle.plan import build_plan, plan_steps
from eedi.kaggle.time_budget import DEFAULT_BUDGET_S, Estimates, rates_from_run_log, with_rates
from eedi.model_folder import load_spec
from eedi.registry import Reranker, lookup, vllm_settings
from eedi.run_log import log, setup_logging, step_timer

PLAN_DIR = "plan"
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
         user, title, code_dataset, wheels_dataset, plan_dataset, kaggle_model, vllm_profile,
         tensor_parallel, budget_s, timings):
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

        rerank_steps = [s for s in steps if s.kind == "rerank"]
        reranker_entry = None
        if rerank_steps:
            name = rerank_steps[0].model
            if reranker == "none" or Path(reranker).name != name:
                raise click.BadParameter(f"FINAL {final} reranks with {name!r} but RERANKER is "
                                         f"{reranker!r}", param_hint="--reranker")
            spec_file = models_dir / name / "all" / Reranker.SPEC_FILE
            if not spec_file.is_file():
                raise click.ClickException(f"{spec_file} not found: train the all-train adapter "
                                           "first (make train-reranker)")
            base = json.loads(spec_file.read_text())["model"]
            if gpus > 1 and tensor_parallel is None:  # what Kaggle's GPUs need, not this machine's
                tensor_parallel = vllm_settings(load_spec(Reranker, str(spec_file.parent)),
                                                vllm_profile)["tensor_parallel_size"]
            reranker_entry = {"name": name, "weights_dataset": rerank_steps[0].weights_dataset,
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
        datasets = [owned(code_dataset, user), owned(plan_dataset, user), *weights,
                    owned(wheels_dataset, user)]
        models = [reranker_entry["kaggle_model"]] if reranker_entry and reranker_entry["kaggle_model"] else []
        try:
            metadata = kernel_metadata(kernel_id, title, f"{slug}.ipynb", datasets, models)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        notebook = build_notebook(owned(code_dataset, user), owned(wheels_dataset, user))

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
