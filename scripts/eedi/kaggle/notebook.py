"""The Kaggle inference notebook, built with nbformat (its kernel-metadata.json: kernel.py).

The notebook holds no pipeline logic: it finds the code dataset, installs the attached
wheels offline, and calls the shipped driver (scripts/kaggle/infer.py), which runs the stage scripts.

    nb = build_notebook("me/eedi-code", "me/eedi-wheels")   # nbformat.NotebookNode, validated

Environment variables the notebook reads (a local rehearsal sets them; Kaggle does not):
    KAGGLE_INPUT_ROOT   where the inputs are mounted      [/kaggle/input]
    KAGGLE_WORKING_DIR  where submission.csv goes         [/kaggle/working]
    KAGGLE_IS_COMPETITION_RERUN  set by Kaggle on the hidden-test rerun (the driver reads it)
"""

from __future__ import annotations

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


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
sys.path.insert(0, str(CODE / "scripts"))            # the eedi library
sys.path.insert(0, str(CODE / "scripts" / "kaggle"))  # the driver, infer.py
print("code dataset:", CODE)
'''

INSTALL = '''\
# Extra packages from the attached wheels dataset, offline; nothing to do without one.
import subprocess
from eedi.kaggle.inputs import find_wheels

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
# The test side of the pipeline (scripts/kaggle/infer.py): inputs found by search, each stage its own
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
             "of the pipeline (`scripts/kaggle/infer.py`) with the attached code, plan and weights and "
             "writes `submission.csv`. Do not edit: rebuild it.")
    settings = (f"CODE_DATASET = {code_dataset!r}\nWHEELS_DATASET = {wheels_dataset!r}\n")
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(intro),
                                v4.new_code_cell(settings + FIND_CODE),
                                v4.new_code_cell(INSTALL), v4.new_code_cell(RUN)])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)  # papermill refuses a notebook without it
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb
