"""scripts/train_retriever.py on tiny random models (CPU, seconds): the LoRA path of an LLM
embedder saves only the adapter and reloads to the same embeddings, a re-run resumes from
the last checkpoint, and the Click command trains the fold's rows with mined negatives."""

import json

import numpy as np
import pandas as pd
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from eedi import embedding
import train_retriever
from conftest import MAPPING
from eedi.registry import Retriever
from eedi.files import write_parquet
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import query_text
from eedi.long_table import wide_to_long
from eedi.ranking import ranking_from_scores
from eedi.retriever_training import saved_spec
from eedi.retriever_training import train as fit_retriever
from eedi.model_folder import save_model_folder
from eedi.negatives import top_up
from eedi.retriever_training import training_examples
from eedi.tfidf import tfidf_scores

NAMES = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
TEXTS = ["Adds fractions", "Subject: Angles\nWrong answer: 250", "3 - (-2)"]


def labelled_rows(kaggle_dir) -> pd.DataFrame:
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    return wide_to_long(wide).dropna(subset=["MisconceptionId"])


def random_negatives(rows) -> dict:
    """One random negative per row (seed 0), as training without a ranking to mine from."""
    gold = rows.set_index("QuestionId_Answer")["MisconceptionId"].astype(int)
    return top_up({}, gold, 1, NAMES, seed=0)


def test_lora_saves_the_adapter_only_and_reloads_to_the_same_embeddings(tmp_path, tiny_llama_dir, kaggle_dir):
    spec = Retriever(model=str(tiny_llama_dir), pooling="lasttoken", max_length=64,
                     query_prefix="Instruct: find the misconception\nQuery: ", epochs=1,
                     batch_size=4, lr=1e-3, lora=dict(r=4, lora_alpha=8, lora_dropout=0.0,
                                                      target_modules=["q_proj", "v_proj"]))
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), spec.query_prefix)
    model, result, _ = fit_retriever(spec, examples, tmp_path / "ckpt", max_steps=3, seed=0)
    assert result.global_step == 3
    out = tmp_path / "out"
    save_model_folder(out, model.save_pretrained, saved_spec(spec), stats={"steps": 3})
    assert (out / "adapter_model.safetensors").is_file()
    assert not list(out.glob("model*.safetensors"))  # no copy of the base weights
    saved = json.loads((out / Retriever.SPEC_FILE).read_text())
    assert saved["adapter"] == "./" and saved["model"] == str(tiny_llama_dir)
    assert json.loads((out / "train.json").read_text()) == {"steps": 3}

    trained = embedding.encode(model, TEXTS, progress=False)
    reloaded = embedding.encode(embedding.load_embedder(embedding.embedder_spec(str(out))), TEXTS,
                                progress=False)
    base = embedding.encode(embedding.load_embedder(spec), TEXTS, progress=False)
    np.testing.assert_allclose(reloaded, trained, atol=1e-5)
    assert np.abs(base - trained).max() > 1e-4  # the adapter changed the embeddings


def test_rerun_resumes_from_the_last_checkpoint(tmp_path, tiny_bert_dir, kaggle_dir, monkeypatch):
    spec = Retriever(model=str(tiny_bert_dir), epochs=1, batch_size=4, lr=1e-4)
    rows = labelled_rows(kaggle_dir)
    examples = training_examples(rows, NAMES, random_negatives(rows), "")
    checkpoints = tmp_path / "out.checkpoints"
    fit_retriever(spec, examples, checkpoints, max_steps=2, seed=0)
    assert (checkpoints / "checkpoint-2").is_dir()  # the trainer saves when it stops

    steps, forward = [], MultipleNegativesRankingLoss.forward
    monkeypatch.setattr(MultipleNegativesRankingLoss, "forward",
                        lambda self, *a, **k: (steps.append(1), forward(self, *a, **k))[1])
    _, result, _ = fit_retriever(spec, examples, checkpoints, max_steps=3, seed=0)
    assert result.global_step == 3 and len(steps) == 1  # steps 1-2 came from the checkpoint


def test_cli_trains_on_rows_outside_the_fold_with_mined_negatives(tmp_path, tiny_bert_dir, kaggle_dir, run_cli):
    wide = read_questions_csv(kaggle_dir / "train.csv", labelled=True)
    rows = wide_to_long(wide)  # with its unlabelled rows: the command drops them
    write_parquet(rows, tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    folds = pd.DataFrame({"QuestionId_Answer": rows["QuestionId_Answer"],
                          "fold": (rows["QuestionId"] != 10).astype(int)})  # fold 0: question 10
    write_parquet(folds, tmp_path / "folds.parquet")
    scores = tfidf_scores([query_text(r) for _, r in rows.iterrows()],
                                         MAPPING["MisconceptionName"].tolist())
    write_parquet(ranking_from_scores(rows["QuestionId_Answer"], MAPPING["MisconceptionId"],
                                                    scores, top_k=6), tmp_path / "neg.parquet")
    out = tmp_path / "models" / "fold0"
    result = run_cli(train_retriever.main, [
        "--model", tiny_bert_dir, "--train", tmp_path / "train.parquet",
        "--misconceptions", tmp_path / "mis.parquet", "--folds", tmp_path / "folds.parquet",
        "--fold", 0, "--negatives", tmp_path / "neg.parquet", "--n-negatives", 1,
        "--epochs", 1, "--batch-size", 4, "--max-steps", 2, "--out", out])
    assert result.exit_code == 0, result.output

    stats = json.loads((out / "train.json").read_text())
    assert stats["pairs"] == 5  # labelled answers of questions 11 (2), 12 (1) and 13 (2)
    assert stats["steps"] == 2 and stats["fold"] == 0 and stats["n_negatives"] == 1
    assert stats["examples_per_second"] > 0
    assert not (tmp_path / "models" / "fold0.checkpoints").exists()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fold0"]  # no temp folder
    assert json.loads((out / Retriever.SPEC_FILE).read_text())["model"] == "./"
    spec = embedding.embedder_spec(str(out))
    assert spec.model == str(out) and spec.adapter is None and spec.epochs == 1
    assert embedding.encode(embedding.load_embedder(spec), TEXTS, progress=False).shape == (3, 32)


def test_cli_fold_needs_folds(tmp_path, kaggle_dir, run_cli):
    write_parquet(labelled_rows(kaggle_dir), tmp_path / "train.parquet")
    write_parquet(MAPPING, tmp_path / "mis.parquet")
    result = run_cli(train_retriever.main, ["--train", tmp_path / "train.parquet", "--fold", 0,
                                            "--misconceptions", tmp_path / "mis.parquet",
                                            "--out", tmp_path / "out"])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
