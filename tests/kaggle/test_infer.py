"""scripts/kaggle/infer.py, the notebook's driver, on a simulated /kaggle/input (a generated dataset
of 12 train and 2 test questions, TF-IDF + zero-shot MiniLM fused and boosted): the whole chain, the time guard
skipping a stage and still submitting, the rerun switch, and a missing input."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from eedi.defaults import COMPETITION
from eedi.kaggle.plan import build_plan
from eedi.kaggle_csv import read_questions_csv
from eedi.long_table import wide_to_long
from infer import is_rerun

FUSED = "fuse-tfidf+minilm-zs"
FINAL = f"{FUSED}.boost"


def inputs(root: Path, fusion=None) -> Path:
    """root/input as Kaggle's newer layout mounts the competition and the plan dataset."""
    data = root / "input" / "competitions" / COMPETITION
    subprocess.run([sys.executable, str(REPO / "scripts/make_sample.py"), "--out-dir", str(data),
                    "--n-train", "12", "--n-test", "2", "--seed", "7"], check=True, capture_output=True)
    plan_dir = root / "input" / "datasets" / "me" / "eedi-plan"
    plan_dir.mkdir(parents=True)
    plan = build_plan(FINAL, None, None, "hf", 1, None, 3600, {})
    (plan_dir / "kernel.json").write_text(json.dumps(plan))
    fusion = fusion or {"method": "rrf", "k": 60.0, "norm": "minmax", "members": ["tfidf", "minilm-zs"],
                        "weights": {"tfidf": 0.5, "minilm-zs": 0.5}}
    (plan_dir / f"fusion-{FUSED}.json").write_text(json.dumps(fusion))
    (plan_dir / f"boost-{FUSED}.json").write_text(json.dumps({"c": 2.0}))
    return data


def infer(root: Path, *args, env=None):
    command = [sys.executable, str(REPO / "scripts/kaggle/infer.py"), "--input-root", str(root / "input"),
               "--working-dir", str(root / "working"), *args]
    env = {**{k: v for k, v in __import__("os").environ.items()
              if k not in ("KAGGLE_IS_COMPETITION_RERUN", "RUN_LOG")}, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=env)


def wrong_answers(root: Path) -> list[str]:
    test = root / "input" / "competitions" / COMPETITION / "test.csv"
    return sorted(wide_to_long(read_questions_csv(test, labelled=False))["QuestionId_Answer"])


def check_submission(root: Path) -> pd.DataFrame:
    sub = pd.read_csv(root / "working" / "submission.csv")
    assert sorted(sub["QuestionId_Answer"]) == wrong_answers(root)
    assert sub["MisconceptionId"].str.split().map(lambda ids: len(set(ids))).eq(25).all()
    return sub


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kaggle")
    inputs(root)
    return root, infer(root)


def test_runs_every_stage_and_submits_the_final_ranking(full_run):
    root, result = full_run
    assert result.returncode == 0, result.stderr[-3000:]
    check_submission(root)
    log = json.loads((root / "working" / "infer_log.json").read_text())
    assert log["rerun"] is False and log["submitted"] == FINAL and log["test_rows"] == len(wrong_answers(root))
    assert [(s["stage"], s["status"]) for s in log["stages"]] == [
        ("reshape", "ok"), ("tfidf", "ok"), ("embed", "ok"), ("fuse", "ok"), ("boost", "ok"),
        ("submission", "ok")]
    assert all(s["seconds"] > 0 for s in log["stages"])
    assert "public run" in result.stderr and "fuse ok" in result.stderr  # the stage's own log
    ranking = pd.read_parquet(root / "working" / "eedi-infer" / "run" / "rankings" / f"test_{FINAL}.parquet")
    assert sorted(ranking["QuestionId_Answer"].unique()) == wrong_answers(root)


def test_tiny_budget_skips_stages_and_submits_the_best_ranking_made(tmp_path):
    inputs(tmp_path)
    result = infer(tmp_path, "--budget-s", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    log = json.loads((tmp_path / "working" / "infer_log.json").read_text())
    stages = {s.get("ranking", s["stage"]): s for s in log["stages"]}
    assert stages["tfidf"]["status"] == "ok"  # nothing made yet: the first ranking always runs
    assert stages["minilm-zs"]["status"] == "skipped" and "budget" in stages["minilm-zs"]["reason"]
    assert stages[FUSED]["status"] == "skipped" and "needs minilm-zs" in stages[FUSED]["reason"]
    assert stages[FINAL]["status"] == "skipped"
    assert log["submitted"] == "tfidf" and "time guard: skipping minilm-zs" in result.stderr
    sub = check_submission(tmp_path)
    tfidf = pd.read_parquet(tmp_path / "working" / "eedi-infer" / "run" / "rankings" / "test_tfidf.parquet")
    first = tfidf.sort_values(["QuestionId_Answer", "rank"]).groupby("QuestionId_Answer")["MisconceptionId"].first()
    assert dict(zip(sub["QuestionId_Answer"], sub["MisconceptionId"].str.split().str[0].astype(int))) == first.to_dict()


def test_a_failing_stage_stops_the_public_run_but_not_the_rerun(tmp_path):
    bad = {"method": "rrf", "k": 60.0, "norm": "minmax", "members": ["tfidf", "bm25"],
           "weights": {"tfidf": 0.5, "bm25": 0.5}}  # tuned for other members: fuse.py refuses it
    inputs(tmp_path / "public", fusion=bad)
    public = infer(tmp_path / "public")
    assert public.returncode != 0
    assert f"stage {FUSED} failed" in public.stderr and "tuned for ['tfidf', 'bm25']" in public.stderr
    assert not (tmp_path / "public" / "working" / "submission.csv").exists()

    inputs(tmp_path / "rerun", fusion=bad)
    rerun = infer(tmp_path / "rerun", env={"KAGGLE_IS_COMPETITION_RERUN": "1"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = json.loads((tmp_path / "rerun" / "working" / "infer_log.json").read_text())
    assert log["rerun"] is True and log["submitted"] == "minilm-zs"  # the best one made
    check_submission(tmp_path / "rerun")


def test_rerun_is_the_flag_or_a_test_bigger_than_the_public_one(kaggle_dir):
    test_csv = kaggle_dir / "test.csv"  # 2 questions
    assert not is_rerun(test_csv, 3, env={})
    assert is_rerun(test_csv, 3, env={"KAGGLE_IS_COMPETITION_RERUN": "True"})
    assert is_rerun(test_csv, 1, env={})  # more questions than the public test


def test_a_missing_input_is_one_clear_error(tmp_path):
    inputs(tmp_path)
    plan_dir = tmp_path / "input" / "datasets" / "me" / "eedi-plan"
    for f in plan_dir.iterdir():
        f.unlink()
    result = infer(tmp_path)
    assert result.returncode == 1
    assert "Error: no kernel plan found: looked for a folder holding kernel.json under" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "working" / "submission.csv").exists()
