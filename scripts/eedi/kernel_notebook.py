"""The Kaggle inference notebook and its kernel-metadata.json, built with nbformat.

The notebook holds no pipeline logic: it finds the code dataset, installs the attached
wheels offline, and calls the shipped driver (scripts/infer.py), which runs the stage scripts.

    nb = build_notebook(code_dataset="me/eedi-code")          # nbformat.NotebookNode, validated
    meta = kernel_metadata("me/eedi-inference", "Eedi inference", "eedi-inference.ipynb",
                           datasets=["me/eedi-code", ...], models=[...])

Environment variables the notebook reads (a local rehearsal sets them; Kaggle does not):
    KAGGLE_INPUT_ROOT   where the inputs are mounted      [/kaggle/input]
    KAGGLE_WORKING_DIR  where submission.csv goes         [/kaggle/working]
    KAGGLE_IS_COMPETITION_RERUN  set by Kaggle on the hidden-test rerun (the driver reads it)
"""

from __future__ import annotations

import re

from eedi.defaults import COMPETITION

# The machine the notebook asks for: 2 x T4. enable_gpu alone gave a P100, which fails on the
# current image (kaggle-api #821, PR #1156).
MACHINE_SHAPE = "NvidiaTeslaT4"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{3,48})[a-z0-9]")  # Kaggle: >= 5 characters


def slugify(title: str) -> str:
    """Kaggle's slug of a title: lower-case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def check_kernel_id(kernel_id: str, title: str) -> None:
    """USER/SLUG with a valid slug that the title maps to (Kaggle derives one from the other;
    a mismatch pushes a second kernel)."""
    user, _, slug = kernel_id.partition("/")
    if not user or not re.fullmatch(r"[A-Za-z0-9_-]+", user) or not SLUG.fullmatch(slug):
        raise ValueError(f"kernel id {kernel_id!r}: want USER/SLUG, the slug 5-50 characters of "
                         "a-z, 0-9 and '-'")
    if len(title) < 5 or slugify(title) != slug:
        raise ValueError(f"kernel title {title!r} must be >= 5 characters and slugify to {slug!r} "
                         f"(it gives {slugify(title)!r})")


def kernel_metadata(kernel_id: str, title: str, code_file: str, datasets: list[str],
                    models: list[str]) -> dict:
    check_kernel_id(kernel_id, title)
    return {"id": kernel_id, "title": title, "code_file": code_file, "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_gpu": True,
            "enable_tpu": False,
            # the CLI defaults enable_internet to true; a code competition needs it off
            "enable_internet": False, "machine_shape": MACHINE_SHAPE,
            "dataset_sources": datasets, "competition_sources": [COMPETITION],
            "kernel_sources": [], "model_sources": models}


FIND_CODE = '''\
# Offline (no Hub lookups), and the code dataset's scripts/ importable. The code dataset is
# the one input holding scripts/eedi/__init__.py, in either of Kaggle's input layouts.
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
INPUT_ROOT = Path(os.environ.get("KAGGLE_INPUT_ROOT") or "/kaggle/input")
WORKING_DIR = Path(os.environ.get("KAGGLE_WORKING_DIR") or "/kaggle/working")
markers = sorted(m for depth in range(6)
                 for m in INPUT_ROOT.glob("*/" * depth + "scripts/eedi/__init__.py"))
if not markers:
    raise FileNotFoundError(f"no code dataset (a folder holding scripts/eedi/__init__.py) under "
                            f"{INPUT_ROOT}: attach {CODE_DATASET!r}")
CODE = markers[0].parents[2]
sys.path.insert(0, str(CODE / "scripts"))
print("code dataset:", CODE)
'''

INSTALL = '''\
# Extra packages from the attached wheels dataset, offline; nothing to do without one.
import subprocess
from eedi.kaggle_inputs import find_wheels

wheels = find_wheels(INPUT_ROOT, prefer=WHEELS_DATASET.rpartition("/")[2])
if wheels is None:
    print("no wheels attached: nothing to install")
else:
    files = sorted(str(w) for w in wheels.glob("*.whl"))
    print(f"installing {len(files)} wheels from {wheels}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links",
                    str(wheels), *files], check=True)
'''

RUN = '''\
# The test side of the pipeline (scripts/infer.py): inputs found by search, each stage its own
# script, the time guard before each stage; writes WORKING_DIR/submission.csv.
import infer

infer.main(["--input-root", str(INPUT_ROOT), "--working-dir", str(WORKING_DIR)],
           standalone_mode=False)
print((WORKING_DIR / "infer_log.json").read_text())
'''


def build_notebook(code_dataset: str, wheels_dataset: str):
    import nbformat
    from nbformat import v4
    intro = ("# Eedi: misconceptions of wrong answers (inference)\n\n"
             "Built by `make kernel` from the pipeline's Makefile settings; it runs the test side "
             "of the pipeline (`scripts/infer.py`) with the attached code, plan and weights and "
             "writes `submission.csv`. Do not edit: rebuild it.")
    settings = (f"CODE_DATASET = {code_dataset!r}\nWHEELS_DATASET = {wheels_dataset!r}\n")
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(intro),
                                v4.new_code_cell(settings + FIND_CODE),
                                v4.new_code_cell(INSTALL), v4.new_code_cell(RUN)])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)  # papermill refuses a notebook without it
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb
