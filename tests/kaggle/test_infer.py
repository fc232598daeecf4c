"""scripts/kaggle/infer.py, the notebook's driver, on a simulated /kaggle/input (a generated dataset
of 12 train and 2 test questions, TF-IDF + zero-shot MiniLM fused and boosted): the whole chain
(a first submission from TF-IDF before anything slow, then the final one), the time guard
skipping a stage and still submitting, a stage killed past its allowance (its process group
with it), the rerun switch (a failure keeps a submission, down to Kaggle's sample when nothing
ran), and a missing input."""

import json
import os
import subprocess
import sys
import time
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
    assert [(s["stage"], s.get("ranking"), s["status"]) for s in log["stages"]] == [
        ("reshape", None, "ok"), ("tfidf", "tfidf", "ok"),
        ("submission", "tfidf", "ok"),  # early: the run scores from here on
        ("embed", "minilm-zs", "ok"), ("fuse", FUSED, "ok"), ("boost", FINAL, "ok"),
        ("submission", FINAL, "ok"), ("done", FINAL, "ok")]
    assert all(s["seconds"] > 0 for s in log["stages"] if s["stage"] != "done")
    assert all(0 < s["allowance_s"] < 3600 for s in log["stages"] if "allowance_s" in s
               and s["ranking"] != "tfidf")
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
    assert [s["stage"] for s in log["stages"]].count("submission") == 1  # written once, early
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
    log = json.loads((tmp_path / "public" / "working" / "infer_log.json").read_text())
    assert log["stages"][-1]["status"] == "failed" and "submitted" not in log

    inputs(tmp_path / "rerun", fusion=bad)
    rerun = infer(tmp_path / "rerun", env={"KAGGLE_IS_COMPETITION_RERUN": "1"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = json.loads((tmp_path / "rerun" / "working" / "infer_log.json").read_text())
    assert log["rerun"] is True and log["submitted"] == "minilm-zs"  # the best one made
    check_submission(tmp_path / "rerun")


def test_on_the_rerun_a_failed_reshape_still_submits_kaggles_sample(tmp_path):
    data = inputs(tmp_path)
    (data / "test.csv").write_text("QuestionId,broken\n1,2\n")  # reshape refuses it
    public = infer(tmp_path)
    assert public.returncode == 1 and "reshape failed" in public.stderr
    assert not (tmp_path / "working" / "submission.csv").exists()
    rerun = infer(tmp_path, env={"KAGGLE_IS_COMPETITION_RERUN": "1"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert ((tmp_path / "working" / "submission.csv").read_text()
            == (data / "sample_submission.csv").read_text())
    log = json.loads((tmp_path / "working" / "infer_log.json").read_text())
    assert log["submitted"] == "sample_submission.csv"


def test_a_stage_past_its_allowance_is_killed_with_its_children(tmp_path):
    import infer as driver
    child = tmp_path / "child.pid"
    sleeper = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', "
               "'import time; time.sleep(120)']); open(sys.argv[1], 'w').write(str(p.pid)); "
               "time.sleep(120)")
    start = time.monotonic()
    with pytest.raises(driver.StageTimedOut, match="allowance of 2 s"):
        driver.run_group([([sys.executable, "-c", sleeper, str(child)], {}),
                          ([sys.executable, "-c", "pass"], {})], tmp_path, dict(os.environ), 2)
    assert time.monotonic() - start < 2 + driver.KILL_GRACE_S
    status = Path(f"/proc/{int(child.read_text())}/status")
    time.sleep(0.2)  # the grandchild went with its group (gone, or a zombie left to init)
    assert not status.exists() or "\nState:\tZ" in status.read_text()
    driver.run_group([([sys.executable, "-c", "pass"], {})], tmp_path, dict(os.environ), 30)


def test_the_driver_kills_a_stage_at_its_allowance_and_submits_what_was_made(tmp_path, monkeypatch):
    """In-process, with a clock that does not move: each stage's allowance is exactly the budget
    minus the estimates of what must still run after it; the embedder, made to hang, is killed
    at its allowance, what needs it is skipped, and the early TF-IDF submission stands."""
    import functools

    import infer as driver
    from eedi.kaggle.time_budget import TimeGuard
    inputs(tmp_path)
    plan_file = tmp_path / "input" / "datasets" / "me" / "eedi-plan" / "kernel.json"
    plan = json.loads(plan_file.read_text())
    plan["estimates"] = {k: {"fixed_s": f, "per_row_s": 0.0} for k, f in
                         {"tfidf": 10, "embed": 0, "fuse": 20, "boost": 20, "submission": 20}.items()}
    plan_file.write_text(json.dumps(plan))
    monkeypatch.setattr(driver, "TimeGuard", functools.partial(TimeGuard, clock=lambda: 0.0))
    real = driver.stage_commands
    hang = [[([sys.executable, "-c", "import time; time.sleep(300)"], {})]]
    monkeypatch.setattr(driver, "stage_commands",
                        lambda step, *a: hang if step.kind == "embed" else real(step, *a))
    monkeypatch.delenv("KAGGLE_IS_COMPETITION_RERUN", raising=False)
    start = time.monotonic()
    driver.main(["--input-root", str(tmp_path / "input"), "--working-dir", str(tmp_path / "working"),
                 "--budget-s", "75"], standalone_mode=False)
    assert time.monotonic() - start < 120  # not the 300 s the embedder would have taken
    log = json.loads((tmp_path / "working" / "infer_log.json").read_text())
    stages = {s.get("ranking") or s["stage"]: s for s in log["stages"] if s["stage"] not in ("submission", "done")}
    assert stages["tfidf"]["allowance_s"] == 9 * 3600 - 20  # nothing to submit yet: the hard limit
    assert stages["minilm-zs"]["allowance_s"] == 75 - (20 + 20 + 20)
    assert stages["minilm-zs"]["status"] == "timeout" and "allowance of 15 s" in stages["minilm-zs"]["reason"]
    assert stages[FUSED]["status"] == stages[FINAL]["status"] == "skipped"
    assert log["submitted"] == "tfidf"
    check_submission(tmp_path)


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


def test_the_run_cell_keeps_the_early_submission_only_on_the_rerun(tmp_path, monkeypatch):
    from infer import keep_submission_on_failure
    data = inputs(tmp_path)  # 2 test questions: the public run's size
    out = tmp_path / "working" / "submission.csv"
    monkeypatch.delenv("KAGGLE_IS_COMPETITION_RERUN", raising=False)
    out.parent.mkdir()
    out.write_text("QuestionId_Answer,MisconceptionId\n")
    assert not keep_submission_on_failure(tmp_path / "input", out)  # public: the error shows
    monkeypatch.setenv("KAGGLE_IS_COMPETITION_RERUN", "1")
    assert keep_submission_on_failure(tmp_path / "input", out)
    out.unlink()
    assert not keep_submission_on_failure(tmp_path / "input", out)  # nothing to keep
    (data / "test.csv").unlink()  # even test.csv unreadable: Kaggle's flag decides
    out.write_text("x\n")
    assert keep_submission_on_failure(tmp_path / "input", out)
