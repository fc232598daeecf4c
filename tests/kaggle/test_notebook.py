"""eedi.kaggle.notebook: a notebook that nbformat validates, with the kernelspec papermill
needs, that only calls the shipped code (the install, the driver); with the vLLM wheels it
installs vLLM too."""

import nbformat
from eedi.kaggle.notebook import build_notebook


def test_notebook_validates_and_only_calls_the_shipped_code(tmp_path):
    nb = build_notebook("me/eedi-code", "me/eedi-wheels")
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"
    nbformat.write(nb, tmp_path / "k.ipynb")
    again = nbformat.read(tmp_path / "k.ipynb", as_version=4)
    code = "\n".join(c.source for c in again.cells if c.cell_type == "code")
    assert 'os.environ["HF_HUB_OFFLINE"] = "1"' in code and "TRANSFORMERS_OFFLINE" in code
    assert "install_wheels(find_wheels(" in code  # --no-deps, pip check, smoke test: install.py
    assert "VLLM_WHEELS_DATASET = None" in code  # ENGINE=hf: no vLLM installed
    assert "keep_submission_on_failure" in code  # the rerun keeps its early submission
    assert "KAGGLE_INPUT_ROOT" in code and "KAGGLE_WORKING_DIR" in code
    assert "infer.main(" in code and "me/eedi-code" in code
    for stage in ("retrieve_tfidf", "rerank.py", "fuse.py", "read_parquet"):  # no pipeline logic
        assert stage not in code
    for cell in again.cells:
        if cell.cell_type == "code":
            compile(cell.source, "cell", "exec")


def test_with_vllm_wheels_the_install_cell_installs_vllm_apart():
    nb = build_notebook("me/eedi-code", "me/eedi-wheels", "me/eedi-vllm-wheels")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "VLLM_WHEELS_DATASET = 'me/eedi-vllm-wheels'" in code and "install_vllm(" in code
