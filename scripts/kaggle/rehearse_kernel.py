"""Rehearse the Kaggle notebook here: run it (nbclient) in a simulated /kaggle tree, offline.

\b
Reads  KERNEL_DIR/kernel-metadata.json, KERNEL_DIR/<code_file>   (make kernel)
       KERNEL_DIR/plan/                 the plan dataset (kernel.json + fusion/boost JSONs)
       DATA_DIR/{train,test,misconception_mapping}.csv
       MODELS_DIR/<model>/all/          the all-train models the plan uses
       WHEELS/                          (--wheels) the wheels dataset (make wheels' staging)
       IMAGE_VENV/                      (--image-venv) a venv holding Kaggle's image's packages
                                        (.venv-kaggle: make kernel-local KAGGLE_IMAGE=1)
Writes OUT                              the notebook's submission.csv (copied out of the tree)
       ROOT/                            (--keep) the tree: input/ as Kaggle mounts it,
                                        working/ (submission.csv, infer_log.json,
                                        image-freeze.txt), and the executed notebook

The tree holds what the notebook would see on Kaggle: the competition's CSVs, the code
dataset (a copy of scripts/, the Makefile and make/, as push-code ships them), the plan dataset,
each weights dataset eedi-<model>/all/, and the reranker's base model (a Kaggle Models input
when the plan names one, else a dataset folder named as its base_folder). Big weights are
linked, not copied. --layout picks Kaggle's input layout: `new` (competitions/, datasets/<user>/,
models/<owner>/...) or `old` (<slug>/, <model>/<framework>/...). The notebook runs with
KAGGLE_INPUT_ROOT / KAGGLE_WORKING_DIR pointing into the tree and HF_HUB_OFFLINE=1.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.defaults import COMPETITION
from eedi.kaggle.dataset import CODE_PATHS
from eedi.files import atomic_write
from eedi.kaggle.inputs import INPUT_ROOT_ENV, PLAN_FILE, WORKING_DIR_ENV
from eedi.kaggle.plan import read_plan, steps_of
from eedi.registry import REPO
from eedi.run_log import log, setup_logging, step_timer

CODE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def mount(input_dir: Path, layout: str, kind: str, ref: str) -> Path:
    """Where Kaggle mounts a competition / dataset (owner/slug) / model (owner/.../version)."""
    if kind == "competition":
        return input_dir / ("competitions" if layout == "new" else "") / ref
    owner, _, rest = ref.partition("/")
    if layout == "new":
        return input_dir / ("datasets" if kind == "dataset" else "models") / owner / rest
    return input_dir / rest


def copy_code(target: Path) -> None:
    """What push-code ships (CODE_PATHS), from the working tree."""
    for pattern in CODE_PATHS:
        for source in sorted(REPO.glob(pattern)):
            if source.is_dir():
                shutil.copytree(source, target / source.name, ignore=CODE_IGNORE)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / source.name)


def build_tree(root: Path, layout: str, kernel_dir: Path, data_dir: Path, models_dir: Path,
               user: str, wheels: Path | None = None, wheels_dataset: str = "eedi-wheels") -> None:
    plan = read_plan(kernel_dir / "plan" / PLAN_FILE)
    inputs = root / "input"
    comp = mount(inputs, layout, "competition", COMPETITION)
    comp.mkdir(parents=True)
    for name in ("train.csv", "test.csv", "misconception_mapping.csv", "sample_submission.csv"):
        if (data_dir / name).is_file():
            shutil.copy2(data_dir / name, comp / name)
    copy_code(mount(inputs, layout, "dataset", f"{user}/eedi-code"))
    if wheels is not None:
        shutil.copytree(wheels, mount(inputs, layout, "dataset", f"{user}/{wheels_dataset}"))
    shutil.copytree(kernel_dir / "plan", mount(inputs, layout, "dataset", f"{user}/eedi-plan"))
    for step in steps_of(plan):
        if step.weights_dataset:
            source = (models_dir / step.model / "all").resolve()
            if not (source / "train.json").is_file():
                raise click.ClickException(f"{source}: no trained all-train model (train.json)")
            target = mount(inputs, layout, "dataset", f"{user}/{step.weights_dataset}") / "all"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    reranker = plan.get("reranker")
    if reranker and not reranker.get("self_contained"):  # a quantised folder is its own base
        from eedi.rerank.reranker import base_model_path, reranker_spec
        base = Path(base_model_path(reranker_spec(str(models_dir / reranker["name"] / "all"))))
        if reranker.get("kaggle_model"):
            target = mount(inputs, layout, "model", reranker["kaggle_model"])
        else:
            target = mount(inputs, layout, "dataset", f"{user}/eedi-base") / reranker["base_folder"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(base.resolve())
    (root / "working").mkdir()


def site_packages(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()


def image_kernel(image_venv: Path, root: Path) -> Path:
    """A fresh venv ROOT/python of IMAGE_VENV's Python whose own site-packages (empty: what the
    install cell adds) comes first and IMAGE_VENV's after it (a .pth line), as the image's
    packages under a notebook's installs; and a Jupyter kernel spec "python3" running it
    (ROOT/jupyter, first on JUPYTER_PATH). Returns the venv's python."""
    base = image_venv / "bin" / "python"
    if not base.exists():
        raise click.BadParameter(f"{base} not found (make .venv-kaggle/.installed builds it)",
                                 param_hint="--image-venv")
    venv = root / "python"
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    Path(site_packages(python), "kaggle-image.pth").write_text(site_packages(base) + "\n")
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    # an absolute path: jupyter_client swaps a bare "python" for its own interpreter
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Kaggle's image)", "language": "python"}))
    return python


def execute(notebook: Path, root: Path, python: Path | None = None) -> None:
    """Run every cell in a fresh kernel in the tree's working folder: of `python` (a venv
    image_kernel made) or else of this interpreter."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(notebook, as_version=4)
    bin_dir = python.parent if python else Path(sys.executable).parent
    os.environ.update({INPUT_ROOT_ENV: str(root / "input"), WORKING_DIR_ENV: str(root / "working"),
                       "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       # `python` and `pip` in the notebook: the kernel's
                       "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    if python:
        os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ.pop("RUN_LOG", None)  # the notebook's stages log into its own working folder
    client = NotebookClient(nb, timeout=None, kernel_name=nb.metadata["kernelspec"]["name"],
                            resources={"metadata": {"path": str(root / "working")}})
    try:
        client.execute()
    except CellExecutionError as e:
        raise click.ClickException(f"the notebook failed:\n{e}") from None
    finally:
        nbformat.write(nb, root / f"executed-{notebook.name}")
        # what the notebook printed (the driver's and each stage's log), as Kaggle's log shows it
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    sys.stderr.write(output["text"])


@click.command(help=__doc__)
@click.option("--kernel-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
@click.option("--data-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--layout", type=click.Choice(["new", "old"]), default="new", show_default=True)
@click.option("--wheels", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Attach this wheels dataset folder (make wheels stages it).")
@click.option("--wheels-dataset", default="eedi-wheels", show_default=True,
              help="The slug it is attached under (make kernel's WHEELS_DATASET).")
@click.option("--image-venv", type=click.Path(file_okay=False, path_type=Path),
              help="Run the kernel over this venv of Kaggle's image's packages (.venv-kaggle).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="Build the tree here and keep it [a temp folder, deleted after].")
def main(kernel_dir, data_dir, models_dir, out, layout, wheels, wheels_dataset, image_venv, root):
    setup_logging()
    metadata = json.loads((kernel_dir / "kernel-metadata.json").read_text())
    user = metadata["id"].partition("/")[0]
    with step_timer("kernel_local", layout=layout) as record:
        keep = root is not None
        root = Path(root or tempfile.mkdtemp(prefix="kaggle-"))
        if keep and root.exists() and any(root.iterdir()):
            raise click.BadParameter(f"{root} is not empty", param_hint="--root")
        try:
            build_tree(root, layout, kernel_dir, data_dir.resolve(), models_dir, user, wheels,
                       wheels_dataset)
            python = image_kernel(image_venv.resolve(), root) if image_venv else None
            log.info("simulated /kaggle in %s (%s layout); running %s in %s", root, layout,
                     metadata["code_file"], python or sys.executable)
            execute(kernel_dir / metadata["code_file"], root, python)
            with atomic_write(out) as tmp:
                shutil.copyfile(root / "working" / "submission.csv", tmp)
            report = json.loads((root / "working" / "infer_log.json").read_text())
            record.update(submitted=report["submitted"], stages=[
                (s.get("ranking", s["stage"]), s["status"]) for s in report["stages"]])
            log.info("wrote %s from %s", out, report["submitted"])
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
