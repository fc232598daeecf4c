"""scripts/common.py's `atomic_write` (all or nothing, no temp files left, ordinary file
permissions), `step_timer` (one JSON line per step in $RUN_LOG, failures logged and
re-raised), and the trainers' shared row selection (`training_rows`, `misconception_names`)."""

import json
import os

import click
import pandas as pd
import pytest

from eedi.errors import DataError
from eedi.files import atomic_write
from eedi.files import write_parquet
from eedi.folds import training_rows
from eedi.long_table import misconception_names
from eedi.run_log import step_timer


def test_atomic_write_success_leaves_only_the_target(tmp_path):
    target = tmp_path / "out" / "result.txt"  # parent folder is created
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("done\n")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_text() == "done\n"
    assert [p.name for p in target.parent.iterdir()] == ["result.txt"]


def test_atomic_write_failure_creates_no_target_and_no_temp(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed half-way")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("new but unfinished")
            raise RuntimeError
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_write_permissions_follow_umask(tmp_path, umask):
    target = tmp_path / "result.txt"
    previous = os.umask(umask)
    try:
        with atomic_write(target) as tmp:
            tmp.write_text("x")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_step_timer_appends_one_json_line_per_step(tmp_path, monkeypatch):
    log = tmp_path / "run" / "run_log.jsonl"
    monkeypatch.setenv("RUN_LOG", str(log))
    with step_timer("folds", by="QuestionId") as record:
        record["rows"] = 12
    with step_timer("second"):
        pass
    first, second = read_log(log)
    assert first["step"] == "folds" and first["status"] == "ok"
    assert first["by"] == "QuestionId" and first["rows"] == 12
    assert isinstance(first["seconds"], (int, float)) and first["seconds"] >= 0
    assert second["step"] == "second" and second["status"] == "ok"


def test_step_timer_logs_a_failed_step_and_reraises(tmp_path, monkeypatch):
    log = tmp_path / "run_log.jsonl"
    monkeypatch.setenv("RUN_LOG", str(log))
    with pytest.raises(ValueError, match="bad input"):
        with step_timer("submission"):
            raise ValueError("bad input")
    (entry,) = read_log(log)
    assert entry["step"] == "submission"
    assert entry["status"].startswith("failed") and "ValueError" in entry["status"]
    assert entry["seconds"] >= 0



# --------------------------------------------------------------------------- training rows

def write_rows_and_folds(tmp_path, folds: dict[str, int]):
    """train_long.parquet with one unlabelled row (1_B), and a folds file from `folds`."""
    rows = pd.DataFrame({"QuestionId_Answer": ["1_A", "1_B", "2_A", "3_C"],
                         "MisconceptionId": [7.0, None, 8.0, 9.0]})
    write_parquet(rows, tmp_path / "train_long.parquet")
    write_parquet(pd.DataFrame({"QuestionId_Answer": list(folds), "fold": list(folds.values())}),
                         tmp_path / "folds.parquet")
    return tmp_path / "train_long.parquet", tmp_path / "folds.parquet"


def test_training_rows_are_labelled_and_outside_the_held_out_fold(tmp_path):
    train, folds = write_rows_and_folds(tmp_path, {"1_A": 0, "1_B": 0, "2_A": 1, "3_C": 1})
    assert list(training_rows(train)["QuestionId_Answer"]) == ["1_A", "2_A", "3_C"]
    assert list(training_rows(train, folds, 0)["QuestionId_Answer"]) == ["2_A", "3_C"]
    assert list(training_rows(train, folds, 1)["QuestionId_Answer"]) == ["1_A"]


def test_training_rows_refuse_a_fold_without_folds_or_stale_folds(tmp_path):
    train, folds = write_rows_and_folds(tmp_path, {"1_A": 0, "1_B": 0, "2_A": 1})  # no 3_C
    with pytest.raises(click.UsageError, match="--fold needs --folds"):
        training_rows(train, None, 0)
    with pytest.raises(DataError, match="3_C has no fold"):
        training_rows(train, folds, 0)


def test_misconception_names_maps_ids_to_names(tmp_path):
    write_parquet(pd.DataFrame({"MisconceptionId": [3, 5], "MisconceptionName": ["x", "y"]}),
                         tmp_path / "mis.parquet")
    assert misconception_names(tmp_path / "mis.parquet") == {3: "x", 5: "y"}
