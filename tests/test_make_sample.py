"""scripts/make_sample.py: Kaggle's schema, enough misconceptions and topics, test-only
misconceptions, blank cells, distinct answers, determinism."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))  # in case pytest.ini's pythonpath is not used

import make_sample  # noqa: E402

LETTERS = "ABCD"
TRAIN_COLUMNS = [
    "QuestionId", "ConstructId", "ConstructName", "SubjectId", "SubjectName", "CorrectAnswer",
    "QuestionText", "AnswerAText", "AnswerBText", "AnswerCText", "AnswerDText",
    "MisconceptionAId", "MisconceptionBId", "MisconceptionCId", "MisconceptionDId",
]
FILES = ["train.csv", "test.csv", "misconception_mapping.csv", "sample_submission.csv", "test_labels.csv"]


def generate(out_dir: Path, *args) -> Path:
    result = CliRunner().invoke(make_sample.main, ["--out-dir", str(out_dir), *map(str, args)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out_dir


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder = generate(tmp_path_factory.mktemp("sample"), "--n-train", 400, "--n-test", 60)
    # keep_default_na=False: an empty cell reads as "", so blanks and ids are both checkable
    return {name: pd.read_csv(folder / name, dtype=str, keep_default_na=False) for name in FILES}


def wrong_answers(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (question, wrong answer) of train: QuestionId, letter, misconception cell."""
    rows = [(r.QuestionId, x, getattr(r, f"Misconception{x}Id"))
            for r in train.itertuples() for x in LETTERS if x != r.CorrectAnswer]
    return pd.DataFrame(rows, columns=["QuestionId", "letter", "MisconceptionId"])


def test_schema_and_column_order(sample):
    assert list(sample["train.csv"].columns) == TRAIN_COLUMNS
    assert list(sample["test.csv"].columns) == TRAIN_COLUMNS[:-4]
    assert list(sample["misconception_mapping.csv"].columns) == ["MisconceptionId", "MisconceptionName"]
    assert list(sample["sample_submission.csv"].columns) == ["QuestionId_Answer", "MisconceptionId"]
    assert list(sample["test_labels.csv"].columns) == ["QuestionId_Answer", "MisconceptionId"]
    assert len(sample["train.csv"]) == 400 and len(sample["test.csv"]) == 60


def test_ids_and_letters(sample):
    train, test = sample["train.csv"], sample["test.csv"]
    assert train.QuestionId.astype(int).tolist() == list(range(400))
    assert test.QuestionId.astype(int).tolist() == list(range(400, 460))  # test ids follow train's
    assert set(train.CorrectAnswer) == set(LETTERS)
    assert set(test.CorrectAnswer) <= set(LETTERS)
    mapping = sample["misconception_mapping.csv"]
    assert mapping.MisconceptionId.astype(int).tolist() == list(range(len(mapping)))
    assert mapping.MisconceptionName.is_unique
    # one construct id per construct name, one subject id per subject name
    for table in (train, test):
        assert (table.groupby("ConstructName").ConstructId.nunique() == 1).all()
        assert (table.groupby("SubjectName").SubjectId.nunique() == 1).all()


def test_submission_and_labels_cover_each_wrong_answer_of_test(sample):
    test, submission, labels = sample["test.csv"], sample["sample_submission.csv"], sample["test_labels.csv"]
    expected = [f"{r.QuestionId}_{x}" for r in test.itertuples() for x in LETTERS if x != r.CorrectAnswer]
    assert submission.QuestionId_Answer.tolist() == expected
    assert labels.QuestionId_Answer.tolist() == expected
    assert (submission.MisconceptionId == " ".join(map(str, range(25)))).all()


def test_enough_misconceptions_and_topics(sample):
    used = set(wrong_answers(sample["train.csv"]).MisconceptionId) | set(sample["test_labels.csv"].MisconceptionId)
    used.discard("")
    assert len(used) >= 40
    assert sample["train.csv"].SubjectName.nunique() >= 6
    # the mapping also has names that no question uses, like Kaggle's
    assert len(sample["misconception_mapping.csv"]) > len(used)


def test_ids_are_integers_that_exist_in_the_mapping(sample):
    known = set(sample["misconception_mapping.csv"].MisconceptionId)
    cells = pd.concat([sample["train.csv"][[f"Misconception{x}Id" for x in LETTERS]].stack(),
                       sample["test_labels.csv"].MisconceptionId])
    ids = cells[cells != ""]
    assert ids.str.fullmatch(r"\d+").all()  # "3", never "3.0"
    assert set(ids) <= known


def test_some_misconceptions_occur_only_in_test(sample):
    in_train = set(wrong_answers(sample["train.csv"]).MisconceptionId) - {""}
    in_test = set(sample["test_labels.csv"].MisconceptionId) - {""}
    assert len(in_test - in_train) >= 4


def test_blank_cells(sample):
    train = sample["train.csv"]
    for x in LETTERS:  # the correct answer never has a misconception
        assert (train.loc[train.CorrectAnswer == x, f"Misconception{x}Id"] == "").all()
    blank = (wrong_answers(train).MisconceptionId == "").mean()
    assert 0.05 < blank < 0.25  # careless errors with no named misconception, like the real data
    assert (sample["test_labels.csv"].MisconceptionId == "").any()


def test_four_distinct_answers(sample):
    for name in ("train.csv", "test.csv"):
        answers = sample[name][[f"Answer{x}Text" for x in LETTERS]]
        assert (answers.nunique(axis=1) == 4).all()
        assert (answers != "").all().all()


def test_deterministic_and_seeded(tmp_path):
    a = generate(tmp_path / "a", "--n-train", 50, "--n-test", 10, "--seed", 3)
    b = generate(tmp_path / "b", "--n-train", 50, "--n-test", 10, "--seed", 3)
    c = generate(tmp_path / "c", "--n-train", 50, "--n-test", 10, "--seed", 4)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.csv").read_bytes() != (c / "train.csv").read_bytes()


def test_rejects_empty_sizes(tmp_path):
    result = CliRunner().invoke(make_sample.main, ["--out-dir", str(tmp_path), "--n-train", "0"])
    assert result.exit_code == 2
    assert not (tmp_path / "train.csv").exists()


def test_a_large_sample_has_every_row_asked_for_with_unique_questions(tmp_path):
    """20,000 questions (the speed of this is not asserted: a timed assert would be a flaky
    benchmark): every one written, each QuestionId once, every answer cell filled."""
    out = generate(tmp_path, "--n-train", 20000, "--n-test", 100)
    train = pd.read_csv(out / "train.csv")
    assert len(train) == 20000 and train["QuestionId"].is_unique
    answers = [f"Answer{letter}Text" for letter in "ABCD"]
    assert train[answers].notna().all().all()
