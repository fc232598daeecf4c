"""eedi.run_log: `step_timer` appends one JSON line per step to $RUN_LOG (name, status,
seconds, the caller's fields); a failed step is logged as failed and its exception re-raised."""

import json

import pytest

from eedi.run_log import step_timer


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
