"""scripts/synth.py on tiny random models (CPU, seconds) and the synthetic rows' way into
training: every generated text is parsed and validated, the kept ones written in train.csv's
columns with the counts beside them; a killed run resumes from its finished chunks and equals
an uninterrupted one; synthetic rows join every model's training rows and nothing else (the
folds, the CV rows and the validation rows stay as they were) and count as seen for the boost."""

import json

import pandas as pd
import pytest

import synth
import train_retriever
from conftest import MAPPING, synthetic_row
from eedi.files import write_parquet
from eedi.folds import labelled_rows, training_rows
from eedi.kaggle_csv import TRAIN_COLUMNS, read_questions_csv
from eedi.synth.question_format import FIRST_QUESTION_ID
from eedi.synth.synthetic_rows import read_synthetic

GOOD = ("Subject: Place Value\nConstruct: Multiply decimals by 10\nQuestion: \\( 0.4 \\times 10 \\)\n"
        "A: 4\nB: 0.40\nC: 40\nD: 0.04\nCorrect: A\nWrong: B")


def args(data, tiny_bert_dir, tiny_llama_dir, out, *extra):
    return ["--train", data["train"], "--misconceptions", data["mis"], "--embedder", tiny_bert_dir,
            "--model", tiny_llama_dir, "--fewer-than", 2, "--shots", 2, "--chunk", 2,
            "--cache-dir", out.parent / "cache", "--out", out, *extra]


def test_a_tiny_random_writer_runs_end_to_end_and_its_noise_is_counted_not_written(
        tmp_path, data, tiny_bert_dir, tiny_llama_dir, run_cli):
    """The real path (embedder, few-shot prompts, HF generate, the judge): a random model writes
    no parseable question, so the CSV is train.csv's header alone and OUT.json counts why."""
    out = tmp_path / "synth.csv"
    result = run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, out, "--per", 2,
                                      "--max-new-tokens", 16, "--min-score", 0))
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == [",".join(TRAIN_COLUMNS)]
    meta = json.loads((tmp_path / "synth.csv.json").read_text())
    # < 2 labelled rows: 0, 2, 5 (once each) and 4 (never): 4 targets x 2
    assert meta["targets"] == 4 and meta["counts"]["attempts"] == 8 and meta["counts"]["kept"] == 0
    assert sum(meta["counts"]["dropped_by_reason"].values()) == 8
    assert meta["model"] == str(tiny_llama_dir) and meta["seed"] == 42 and meta["prompts"]["writer"]
    assert not (tmp_path / "synth.csv.parts").exists()


def scripted_writer(texts_for, calls):
    """A stand-in for generate(): each prompt's text by the target named in its last turn."""
    def generate(model, tokenizer, prompts, seed, **kwargs):
        calls.append(len(prompts))
        return [texts_for(p.rsplit("Misconception: ", 1)[1]) for p in prompts]
    return generate


def test_kept_questions_are_train_rows_and_a_killed_run_resumes_to_the_same_file(
        tmp_path, data, tiny_bert_dir, tiny_llama_dir, run_cli, monkeypatch):
    names = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
    texts = {names[0]: GOOD, names[2]: GOOD.replace("Correct: A", "Correct: B"),  # invalid
             names[4]: GOOD, names[5]: "Sorry, I can't."}
    writer = lambda prompt: next(t for n, t in texts.items() if prompt.startswith(n))
    whole, calls = tmp_path / "whole.csv", []
    monkeypatch.setattr(synth, "generate", scripted_writer(writer, calls))
    assert run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, whole)).exit_code == 0
    wide = read_questions_csv(whole, labelled=True, known_ids=names)
    assert wide["QuestionId"].tolist() == [FIRST_QUESTION_ID, FIRST_QUESTION_ID + 1]
    assert wide["MisconceptionBId"].tolist() == [0, 4] and wide["MisconceptionAId"].isna().all()
    counts = json.loads((tmp_path / "whole.csv.json").read_text())["counts"]
    assert counts["dropped_by_reason"] == {"the wrong answer is the correct one": 1,
                                           "unparseable: no Subject: line": 1}
    assert (counts["attempts"], counts["parsed"], counts["valid"], counts["kept"]) == (4, 3, 2, 2)

    # killed in its second chunk: no OUT, the first chunk kept; the re-run writes only the rest
    out = tmp_path / "killed.csv"
    def dies(model, tokenizer, prompts, seed, **kwargs):
        if seed != 42:
            raise RuntimeError("killed")
        return [writer(p.rsplit("Misconception: ", 1)[1]) for p in prompts]
    monkeypatch.setattr(synth, "generate", dies)
    with pytest.raises(RuntimeError, match="killed"):
        run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, out))
    assert not out.exists() and len(list((tmp_path / "killed.csv.parts").glob("*.jsonl"))) == 1
    calls.clear()
    monkeypatch.setattr(synth, "generate", scripted_writer(writer, calls))
    assert run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, out)).exit_code == 0
    assert calls == [2] and out.read_text() == whole.read_text()
    assert not (tmp_path / "killed.csv.parts").exists()


def test_at_least_leaves_out_the_never_seen_and_an_empty_range_is_refused(
        tmp_path, data, tiny_bert_dir, tiny_llama_dir, run_cli, monkeypatch):
    """--fewer-than 2 --at-least 1: the seen-once misconceptions (0, 2, 5), which CV rows hold,
    without the never-seen 4; a range holding no count is a usage error, before any model."""
    names = dict(zip(MAPPING["MisconceptionId"], MAPPING["MisconceptionName"]))
    asked = []
    def writer(prompt):
        asked.append(next(m for m, n in names.items() if prompt.startswith(n)))
        return GOOD
    monkeypatch.setattr(synth, "generate", scripted_writer(writer, []))
    out = tmp_path / "seen.csv"
    result = run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, out, "--at-least", 1))
    assert result.exit_code == 0, result.output
    assert asked == [0, 2, 5]
    meta = json.loads((tmp_path / "seen.csv.json").read_text())
    assert meta["targets"] == 3 and meta["at_least"] == 1
    result = run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, tmp_path / "none.csv",
                                      "--at-least", 2))
    assert result.exit_code == 2 and "--at-least 2 leaves no target below --fewer-than 2" in result.output
    assert not (tmp_path / "none.csv").exists()


def synthetic_csv(path):
    row = synthetic_row(4)
    row["MisconceptionCId"] = 4
    pd.DataFrame([row]).to_csv(path, index=False)
    return path


def test_synthetic_rows_train_every_model_and_never_enter_a_fold_or_cv(tmp_path, data, tiny_bert_dir, run_cli):
    """The fold-leak check: with SYNTH, fold k's training rows are its own plus the synthetic
    ones; the folds file, the CV rows (labelled_rows) and every fold's validation rows are
    unchanged and hold no synthetic question; the retriever trains on rows + synthetic (with
    mined negatives: the synthetic rows' from TF-IDF, as the ranking lacks them)."""
    extra = synthetic_csv(tmp_path / "synth.csv")
    folds = pd.read_parquet(data["folds"])
    before = labelled_rows(data["train"], data["folds"])
    for fold in (0, 1, None):
        plain = training_rows(data["train"], data["folds"], fold)
        mixed = training_rows(data["train"], data["folds"], fold, extra, known_ids=set(range(6)))
        pd.testing.assert_frame_equal(mixed.iloc[:len(plain)], plain.reset_index(drop=True))
        added = mixed.iloc[len(plain):]
        assert added["QuestionId_Answer"].tolist() == [f"{FIRST_QUESTION_ID}_B", f"{FIRST_QUESTION_ID}_C"]
    pd.testing.assert_frame_equal(labelled_rows(data["train"], data["folds"]), before)
    assert pd.read_parquet(data["folds"]).equals(folds)
    assert not folds["QuestionId_Answer"].str.startswith(str(FIRST_QUESTION_ID)).any()
    assert (before["QuestionId"] < FIRST_QUESTION_ID).all()

    out = tmp_path / "models" / "fold0"
    result = run_cli(train_retriever.main, [
        "--model", tiny_bert_dir, "--train", data["train"], "--misconceptions", data["mis"],
        "--folds", data["folds"], "--fold", 0, "--synth", extra, "--max-steps", 1,
        "--negatives", data["ranking"], "--n-negatives", 1, "--batch-size", 2, "--out", out])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "train.json").read_text())
    assert stats["pairs"] == len(training_rows(data["train"], data["folds"], 0)) + 2
    assert stats["n_negatives"] == 1


def test_a_real_question_id_in_the_synthetic_file_is_refused(tmp_path):
    path = synthetic_csv(tmp_path / "bad.csv")
    path.write_text(path.read_text().replace(str(FIRST_QUESTION_ID), "12", 1))
    with pytest.raises(Exception, match=r"bad.csv, column QuestionId, row 1: 12 is below 10,000,000"):
        read_synthetic(path)


def test_a_finished_part_is_reused_only_for_its_own_targets_and_its_own_run(tmp_path):
    """PartStore: a chunk file holding other targets (another chunking) is not reused, and a
    folder written under another fingerprint is discarded whole."""
    from eedi.synth.generation import PartStore
    store = PartStore(tmp_path / "p", {"seed": 1})
    store.save(0, [{"target": 3}, {"target": 5}])
    assert store.load(0, [3, 5]) == [{"target": 3}, {"target": 5}]
    assert store.load(0, [3]) is None and store.load(1, [3, 5]) is None
    assert PartStore(tmp_path / "p", {"seed": 1}).load(0, [3, 5]) is not None
    assert PartStore(tmp_path / "p", {"seed": 2}).load(0, [3, 5]) is None


def test_the_vllm_engine_without_its_interpreter_is_one_clear_error_and_no_output(
        tmp_path, data, tiny_bert_dir, tiny_llama_dir, run_cli):
    """--engine vllm runs scripts/vllm_generate.py in .venv-vllm (tests/test_vllm.py runs it);
    without that interpreter: an error naming it and make setup-vllm, and no OUT."""
    out = tmp_path / "synth.csv"
    result = run_cli(synth.main, args(data, tiny_bert_dir, tiny_llama_dir, out, "--engine", "vllm",
                                      "--vllm-python", tmp_path / "no-venv" / "python"))
    assert result.exit_code == 1
    assert "no-venv/python: no such interpreter" in result.output and "make setup-vllm" in result.output
    assert not out.exists() and not (tmp_path / "synth.csv.json").exists()
    assert not (tmp_path / "synth.csv.parts").exists()
