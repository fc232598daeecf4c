"""make kernel-local KAGGLE_IMAGE=1: the notebook in Kaggle's package set, not this project's.
The chain of test_make_kernel (TF-IDF, zero-shot MiniLM and a tiny random LLM reranker over
TF-IDF, fused and boosted) runs in .venv-kaggle (the image's Python where this machine has it,
its pandas, numpy, pyarrow, scikit-learn, torch...), with the staged wheels dataset attached and
installed by the notebook's own install cell; its submission equals make submission's (run in
.venv) byte for byte. Needs .venv-kaggle and the staged wheels: `make test-kaggle-image` builds
both first (skipped without them)."""

import json
import subprocess

import pytest

from conftest import REPO, kernel_chain
from eedi.kaggle.image import read_image

VENV = REPO / ".venv-kaggle"
WHEELS = REPO / "submissions" / "wheels.dataset"
pytestmark = pytest.mark.skipif(
    not (VENV / ".installed").is_file() or not (WHEELS / "requirements-kaggle.txt").is_file(),
    reason="needs .venv-kaggle and the staged wheels (make test-kaggle-image)")


def test_the_notebook_in_kaggles_package_set_submits_what_make_submission_does(tmp_path, tiny_llama_dir):
    image = read_image(REPO / "constraints-kaggle-image.txt")
    versions = json.loads(subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import json, sys, pandas, numpy, sklearn, torch; "
         "print(json.dumps([sys.version.split()[0], pandas.__version__, numpy.__version__, "
         "sklearn.__version__, torch.__version__]))"], capture_output=True, text=True, check=True).stdout)
    assert versions[1:4] == [image.pins["pandas"], image.pins["numpy"], image.pins["scikit-learn"]]
    assert versions[4].split("+")[0] == image.pins["torch"]

    result, kernel, fused = kernel_chain(tmp_path, tiny_llama_dir, "KAGGLE_IMAGE=1")
    name = tiny_llama_dir.name
    assert result.returncode == 0, result.stderr[-4000:]
    ours, theirs = (kernel / "submission.csv").read_bytes(), (tmp_path / "submission.csv").read_bytes()
    assert ours == theirs and len(ours.splitlines()) == 1 + 3 * 3

    log = result.stderr
    assert "running eedi-inference.ipynb in " in log and "/python/bin/python" in log  # not .venv's
    assert "installed 15 packages from" in log
    assert "pip check passed for the" in log
    assert "import smoke test: 15 shipped packages at their versions" in log
    for ranking in ("tfidf", "minilm-ft", fused.rpartition("+")[2], fused, f"{fused}.boost"):
        assert f"{ranking} ok in" in log
    # .venv-kaggle, the image, untouched: the notebook installed into its own layer
    again = subprocess.run([str(VENV / "bin" / "python"), "-c", "import faiss"],
                           capture_output=True, text=True)
    assert again.returncode != 0 and "No module named 'faiss'" in again.stderr
