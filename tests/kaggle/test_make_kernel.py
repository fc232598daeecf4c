"""make kernel + make kernel-local end to end: the notebook built from the Make settings runs
offline in a simulated /kaggle tree (nbclient) and its submission.csv equals `make submission`'s
byte for byte. The chain: TF-IDF, zero-shot MiniLM and a (tiny random) LLM reranker over TF-IDF,
fused with the saved weights and boosted with the saved constant; the reranker's adapter comes
from its weights dataset and its base model from another input, as on Kaggle."""

import json

import nbformat

from conftest import generate, make
from eedi.defaults import COMPETITION


def test_kernel_local_submission_equals_make_submission(tmp_path, tiny_llama_dir):
    data = generate(tmp_path / "data", seed=8, n_train=24, n_test=3)
    name = tiny_llama_dir.name
    fused = f"fuse-tfidf+minilm-zs+tfidf.rr-{name}"
    kernel = tmp_path / "kernel"
    args = [f"DATA_DIR={data}", "N_FOLDS=2", f"RERANKER={tiny_llama_dir}", "TOP_N=3",
            "TRAIN_RERANKER_ARGS=--max-steps 2 --batch-size 2 --grad-accum 1 --n-negatives 2",
            f"FUSE=tfidf minilm-zs tfidf.rr-{name}", f"FINAL={fused}.boost",
            f"KERNEL_DIR={kernel}", "KERNEL_USER=tester", "KERNEL_LAYOUT=old"]
    result = make(tmp_path, "submission", "kernel-local", *args)
    assert result.returncode == 0, result.stderr[-4000:]

    # the notebook's submission is make submission's, byte for byte
    ours, theirs = (kernel / "submission.csv").read_bytes(), (tmp_path / "submission.csv").read_bytes()
    assert ours == theirs and len(ours.splitlines()) == 1 + 3 * 3
    assert f"wrote {kernel}/submission.csv" in result.stdout

    meta = json.loads((kernel / "kernel-metadata.json").read_text())
    assert meta["id"] == "tester/eedi-inference" and meta["code_file"] == "eedi-inference.ipynb"
    assert meta["enable_internet"] is False and meta["machine_shape"] == "NvidiaTeslaT4"
    assert meta["competition_sources"] == [COMPETITION]
    slug = f"eedi-{name.replace('_', '-')}"
    assert meta["dataset_sources"] == ["tester/eedi-code", "tester/eedi-plan", f"tester/{slug}",
                                       "tester/eedi-wheels"]
    assert meta["model_sources"] == []  # a folder reranker has no Kaggle Models base
    nb = nbformat.read(kernel / meta["code_file"], as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"

    plan = json.loads((kernel / "plan" / "kernel.json").read_text())
    assert [s["kind"] for s in plan["steps"]] == ["tfidf", "embed", "rerank", "fuse", "boost"]
    assert plan["top_n"] == 3 and plan["reranker"]["base_folder"] == name
    # Kaggle's 2 T4s, whatever this machine has (GPUS=1 here made one copy over both T4s)
    assert plan["gpus"] == 2
    assert sorted(p.name for p in (kernel / "plan").iterdir()) == sorted([
        "kernel.json", "dataset-metadata.json", f"fusion-{fused}.json", f"boost-{fused}.json"])
    # every stage ran in the notebook, each logged with its time
    assert "kernel_local ok" in result.stderr
    for ranking in ("tfidf", "minilm-zs", f"tfidf.rr-{name}", fused, f"{fused}.boost"):
        assert f"{ranking} ok in" in result.stderr


def test_a_local_rehearsal_needs_no_kaggle_account_and_pushing_it_is_refused(tmp_path):
    """A fresh clone without Kaggle credentials: make kernel-local runs (the notebook and its
    datasets owned by a placeholder user), and make push-kernel refuses that notebook, naming
    KERNEL_USER, before any network call. It used to stop at once: "cannot tell your Kaggle
    user name". The notebook keeps the Docker image it first ran on."""
    import os
    import subprocess
    import sys

    from conftest import REPO
    from eedi.kaggle.kernel import PLACEHOLDER_USER
    data = generate(tmp_path / "data", seed=8, n_train=24, n_test=3)
    kernel = tmp_path / "kernel"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env["HOME"] = str(tmp_path / "home")  # no ~/.kaggle
    result = make(tmp_path, "kernel-local", f"DATA_DIR={data}", "N_FOLDS=2",
                  f"KERNEL_DIR={kernel}", env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (kernel / "submission.csv").is_file()
    meta = json.loads((kernel / "kernel-metadata.json").read_text())
    assert meta["id"] == f"{PLACEHOLDER_USER}/eedi-inference"
    assert meta["docker_image_pinning_type"] == "original"
    push = subprocess.run([sys.executable, str(REPO / "scripts/kaggle/kernel.py"), "--kernel-dir",
                           str(kernel), "--dry-run", "push"], capture_output=True, text=True, env=env)
    assert push.returncode == 1 and "KERNEL_USER=you" in push.stderr
    assert "kernels push" not in push.stdout
