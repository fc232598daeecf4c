"""scripts/make_submission.py's CLI: it writes Kaggle's CSV (header, one row per wrong answer,
25 ids best first); every failed check exits non-zero, names the problem and writes nothing."""

import pandas as pd
import pytest

import make_submission
from conftest import N_IDS
from conftest import WRONG_ANSWERS


def ranked_ids(row_number: int) -> list[int]:
    """All 30 ids in a different order per row, best first."""
    return [(7 * row_number + j) % N_IDS for j in range(N_IDS)]


def full_ranking(rows=WRONG_ANSWERS) -> pd.DataFrame:
    records = [{"QuestionId_Answer": qa, "MisconceptionId": mid, "score": 1.0 - j / 100,
                "rank": j + 1}
               for r, qa in enumerate(rows) for j, mid in enumerate(ranked_ids(r))]
    return pd.DataFrame(records)


@pytest.fixture
def files(tmp_path, kaggle_dir):
    """(test.csv, mapping with 30 ids, where the submission goes)."""
    mapping = tmp_path / "mapping.csv"
    pd.DataFrame({"MisconceptionId": range(N_IDS),
                  "MisconceptionName": [f"Misconception number {i}" for i in range(N_IDS)]}
                 ).to_csv(mapping, index=False)
    return kaggle_dir / "test.csv", mapping, tmp_path / "out" / "submission.csv"


def submit(run_cli, files, ranking: pd.DataFrame, tmp_path):
    test_csv, mapping, out = files
    path = tmp_path / "ranking.parquet"
    ranking.to_parquet(path, index=False)
    return run_cli(make_submission.main, ["--ranking", path, "--test-csv", test_csv,
                                          "--mapping", mapping, "--out", out])


def test_cli_writes_top_25_ids_per_wrong_answer_best_first(tmp_path, run_cli, files):
    ranking = full_ranking().sample(frac=1, random_state=0)  # row order on disk is irrelevant
    result = submit(run_cli, files, ranking, tmp_path)
    assert result.exit_code == 0, result.output

    out = files[2]
    assert out.read_text().splitlines()[0] == "QuestionId_Answer,MisconceptionId"
    written = pd.read_csv(out, dtype=str)
    assert sorted(written["QuestionId_Answer"]) == sorted(WRONG_ANSWERS)
    assert len(written) == 6
    expected = {qa: " ".join(map(str, ranked_ids(r)[:25])) for r, qa in enumerate(WRONG_ANSWERS)}
    for qa, ids in zip(written["QuestionId_Answer"], written["MisconceptionId"]):
        assert len(ids.split(" ")) == 25
        assert ids == expected[qa]


def drop_row(r):
    return r[r["QuestionId_Answer"] != "21_D"]


def add_correct_answer_row(r):
    return pd.concat([r, full_ranking(["20_C"])])


def add_unknown_question(r):
    return pd.concat([r, full_ranking(["99_A"])])


def keep_top_10(r):
    return r[r["rank"] <= 10]


def unknown_id(r):
    r = r.copy()
    r.loc[(r["QuestionId_Answer"] == "20_B") & (r["rank"] == 3), "MisconceptionId"] = 999
    return r


@pytest.mark.parametrize("corrupt, fragments", [
    (drop_row, ["missing", "21_D"]),
    (add_correct_answer_row, ["20_C", "not a wrong answer"]),
    (add_unknown_question, ["99_A", "not a wrong answer"]),
    (keep_top_10, ["has 10 ids (10 distinct)", "needs 25"]),
    (unknown_id, ["20_B", "999", "not in misconception_mapping"]),
], ids=["missing-row", "correct-answer-row", "unknown-question", "only-10-ids", "unknown-id"])
def test_cli_failure_names_the_problem_and_writes_nothing(tmp_path, run_cli, files, corrupt,
                                                          fragments):
    result = submit(run_cli, files, corrupt(full_ranking()), tmp_path)
    assert result.exit_code != 0
    for fragment in fragments:
        assert fragment in result.output
    assert not files[2].exists()
    assert not files[2].parent.exists() or not any(files[2].parent.iterdir())
