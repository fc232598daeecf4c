"""make kernel + make kernel-local end to end: the notebook built from the Make settings runs
offline in a simulated /kaggle tree (nbclient) and its submission.csv equals `make submission`'s
byte for byte. The chain: TF-IDF, fine-tuned MiniLM and a (tiny random) LLM reranker over TF-IDF,
fused with the saved weights and boosted with the saved constant; the reranker's adapter comes
from its weights dataset and its base model from another input, as on Kaggle."""

import json

import nbformat

from conftest import generate, kernel_chain, make
from eedi.defaults import COMPETITION
from eedi.kaggle.inputs import weights_slug


def test_kernel_local_submission_equals_make_submission(tmp_path, tiny_llama_dir):
    result, kernel, fused = kernel_chain(tmp_path, tiny_llama_dir, "KERNEL_LAYOUT=old")
    name = tiny_llama_dir.name
    reranked = fused.rpartition("+")[2]          # tfidf.rr3-<name>~<key>: its settings keyed
    adapter = reranked.partition(".rr3-")[2]
    assert adapter.startswith(f"{name}~")
    assert result.returncode == 0, result.stderr[-4000:]

    # the notebook's submission is make submission's, byte for byte
    ours, theirs = (kernel / "submission.csv").read_bytes(), (tmp_path / "submission.csv").read_bytes()
    assert ours == theirs and len(ours.splitlines()) == 1 + 3 * 3
    assert f"wrote {kernel}/submission.csv" in result.stdout

    meta = json.loads((kernel / "kernel-metadata.json").read_text())
    assert meta["id"] == "tester/eedi-inference" and meta["code_file"] == "eedi-inference.ipynb"
    assert meta["enable_internet"] is False and meta["machine_shape"] == "NvidiaTeslaT4"
    assert meta["competition_sources"] == [COMPETITION]
    slug = weights_slug(adapter)
    assert meta["dataset_sources"] == ["tester/eedi-code", "tester/eedi-plan", "tester/eedi-minilm",
                                       f"tester/{slug}", "tester/eedi-wheels"]
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
    for ranking in ("tfidf", "minilm-ft", reranked, fused, f"{fused}.boost"):
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


def quantised_folder(models, symmetric=True):
    """models/qwen32b.w4a16/all as quantize.py leaves it (spec and config only: make_kernel
    reads no weights): its own base ("./"), compressed-tensors W4A16 in config.json."""
    from eedi.model_folder import save_spec
    from eedi.registry import RERANKERS
    folder = models / "qwen32b.w4a16" / "all"
    folder.mkdir(parents=True)
    save_spec(RERANKERS["qwen32b"].replace(model="./", adapter=None, quantize_4bit=False), folder)
    weights = {"num_bits": 4, "symmetric": symmetric, "group_size": 128, "strategy": "group"}
    (folder / "config.json").write_text(json.dumps({"quantization_config": {
        "quant_method": "compressed-tensors", "format": "pack-quantized",
        "config_groups": {"group_0": {"weights": weights, "targets": ["Linear"]}}}}))
    return folder


def make_kernel(run_cli, tmp_path, engine, *extra):
    import make_kernel as command
    (tmp_path / "run").mkdir(exist_ok=True)
    return run_cli(command.main, ["--final", "tfidf.rr-qwen32b.w4a16", "--reranker", "qwen32b",
                                  "--engine", engine, "--run-dir", tmp_path / "run", "--models-dir",
                                  tmp_path / "models", "--out-dir", tmp_path / "kernel",
                                  "--user", "tester", *extra])


def test_a_quantised_reranker_is_its_own_base_served_by_vllm_from_its_wheels(tmp_path, run_cli):
    """Issue 23: quantize.py's folder (reranker.json model "./") gave base_folder '' and no
    Kaggle model, so the notebook could not find a base; now it is self-contained, served by
    vLLM, whose wheels dataset the notebook attaches (Kaggle's image has no vLLM)."""
    quantised_folder(tmp_path / "models")
    result = make_kernel(run_cli, tmp_path, "vllm")
    assert result.exit_code == 1 and "no vLLM wheels are staged" in result.output
    assert not (tmp_path / "kernel").exists()

    wheels = tmp_path / "vllm-wheels"
    wheels.mkdir()
    (wheels / "requirements-vllm-kaggle.txt").write_text("vllm==0.19.1\n")
    result = make_kernel(run_cli, tmp_path, "vllm", "--vllm-wheels", wheels)
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "kernel" / "plan" / "kernel.json").read_text())
    assert plan["reranker"] == {"name": "qwen32b.w4a16", "weights_dataset": "eedi-qwen32b-w4a16",
                                "base_folder": None, "kaggle_model": None, "self_contained": True,
                                "weights": {"method": "compressed-tensors", "bits": 4,
                                            "symmetric": True, "group_size": 128}}
    assert plan["tensor_parallel"] == 2  # qwen32b over both T4s
    meta = json.loads((tmp_path / "kernel" / "kernel-metadata.json").read_text())
    assert "tester/eedi-vllm-wheels" in meta["dataset_sources"] and meta["model_sources"] == []
    nb = nbformat.read(tmp_path / "kernel" / meta["code_file"], as_version=4)
    assert "VLLM_WHEELS_DATASET = 'tester/eedi-vllm-wheels'" in nb.cells[1].source


def test_a_quantised_reranker_is_refused_with_hf_and_asymmetric_on_the_t4(tmp_path, run_cli):
    quantised_folder(tmp_path / "models", symmetric=False)
    result = make_kernel(run_cli, tmp_path, "hf")
    assert result.exit_code == 1 and "serves that with ENGINE=vllm" in result.output
    wheels = tmp_path / "vllm-wheels"
    wheels.mkdir()
    (wheels / "requirements-vllm-kaggle.txt").write_text("vllm==0.19.1\n")
    result = make_kernel(run_cli, tmp_path, "vllm", "--vllm-wheels", wheels)
    assert result.exit_code == 1 and "asymmetric 4-bit weights" in result.output
    assert not (tmp_path / "kernel").exists()


def test_a_zero_shot_embedder_is_refused_its_weights_ship_in_no_dataset(tmp_path, run_cli):
    """Found by the rehearsal in Kaggle's package set: minilm-zs loaded the model from a local
    PyPI package (an HF id would need the Hub); Kaggle's notebook has neither."""
    import make_kernel as command
    (tmp_path / "run").mkdir()
    result = run_cli(command.main, ["--final", "fuse-tfidf+minilm-zs", "--run-dir", tmp_path / "run",
                                    "--models-dir", tmp_path, "--out-dir", tmp_path / "k", "--user", "u"])
    assert result.exit_code == 2 and "uses minilm-zs: a zero-shot embedder" in result.output
    assert not (tmp_path / "k").exists()
