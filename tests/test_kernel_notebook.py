"""eedi.kernel_notebook: kernel-metadata.json's keys for a code competition, the slug rules,
and a notebook that nbformat validates, with the kernelspec papermill needs."""

import nbformat
import pytest

from eedi.defaults import COMPETITION
from eedi.kernel_notebook import build_notebook, check_kernel_id, kernel_metadata, slugify


def test_metadata_is_private_gpu_t4_offline_with_its_sources():
    meta = kernel_metadata("me/eedi-inference", "Eedi inference", "eedi-inference.ipynb",
                           ["me/eedi-code", "me/eedi-plan", "me/eedi-minilm", "me/eedi-wheels"],
                           ["qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"])
    assert meta == {
        "id": "me/eedi-inference", "title": "Eedi inference", "code_file": "eedi-inference.ipynb",
        "language": "python", "kernel_type": "notebook", "is_private": True, "enable_gpu": True,
        "enable_tpu": False, "enable_internet": False, "machine_shape": "NvidiaTeslaT4",
        "dataset_sources": ["me/eedi-code", "me/eedi-plan", "me/eedi-minilm", "me/eedi-wheels"],
        "competition_sources": [COMPETITION], "kernel_sources": [],
        "model_sources": ["qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"]}


@pytest.mark.parametrize("kernel_id, title, error", [
    ("me/eedi", "Eedi", "5-50 characters"),            # slug too short
    ("me/Eedi-Inference", "Eedi Inference", "5-50 characters"),  # upper case
    ("eedi-inference", "Eedi inference", "USER/SLUG"),   # no user
    ("me/eedi-inference", "Eedi inference v2", "slugify to 'eedi-inference'"),
])
def test_bad_ids_and_titles_are_refused(kernel_id, title, error):
    with pytest.raises(ValueError, match=error):
        check_kernel_id(kernel_id, title)


def test_slug_of_a_title():
    assert slugify("Eedi inference (2x T4)") == "eedi-inference-2x-t4"
    check_kernel_id("me_2/eedi-inference-2x-t4", "Eedi inference (2x T4)")


def test_notebook_validates_and_only_calls_the_shipped_code(tmp_path):
    nb = build_notebook("me/eedi-code", "me/eedi-wheels")
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"
    nbformat.write(nb, tmp_path / "k.ipynb")
    again = nbformat.read(tmp_path / "k.ipynb", as_version=4)
    code = "\n".join(c.source for c in again.cells if c.cell_type == "code")
    assert 'os.environ["HF_HUB_OFFLINE"] = "1"' in code and "TRANSFORMERS_OFFLINE" in code
    assert '"--no-index", "--find-links"' in code and "find_wheels" in code
    assert "KAGGLE_INPUT_ROOT" in code and "KAGGLE_WORKING_DIR" in code
    assert "infer.main(" in code and "me/eedi-code" in code
    for stage in ("retrieve_tfidf", "rerank.py", "fuse.py", "read_parquet"):  # no pipeline logic
        assert stage not in code
    for cell in again.cells:
        if cell.cell_type == "code":
            compile(cell.source, "cell", "exec")
