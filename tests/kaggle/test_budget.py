"""scripts/kaggle/budget.py (make budget) and eedi.kaggle.time_budget's projection: each stage's seconds on
the hidden test from the most trusted source that has it (a GPU run's file, this machine's run
log, the plan's stated defaults), the headroom, and the largest TOP_N a reranker can afford."""

import json

import budget
from eedi.kaggle.plan import build_plan
from eedi.kaggle.time_budget import Estimates, largest_top_n, projection


def test_each_stage_comes_from_the_first_source_that_has_it():
    sources = [("gpu file", {"rerank": (600.0, 1.0)}),
               ("measured here", {"rerank": (0.0, 9.0), "embed": (180.0, 0.02)}),
               ("assumed default", {"embed": (1.0, 1.0), "fuse": (20.0, 0.005)})]
    rows = projection(["embed", "rerank", "fuse", "mystery"], 1000, sources)
    assert [(r["stage"], r["source"], r["seconds"]) for r in rows[:3]] == [
        ("embed", "measured here", 200.0), ("rerank", "gpu file", 1600.0),
        ("fuse", "assumed default", 25.0)]
    assert rows[3]["source"] == "default (slowest)"  # an unknown stage is assumed the slowest


def test_largest_top_n_spends_what_the_other_stages_leave():
    # 10,000 s budget, 2,000 s elsewhere, 1,000 s to load the reranker: 7,000 s for
    # 1,000 rows at 0.1 s a candidate -> 70 candidates a row
    assert largest_top_n(10_000, 2_000, 1_000, 0.1, 1000) == 70
    assert largest_top_n(10_000, 9_500, 1_000, 0.1, 1000) == 0


def test_cli_prints_the_table_headroom_and_top_n(tmp_path, run_cli):
    plan = build_plan("fuse-tfidf+minilm-ft.rr-qwen32b.boost", None, 25, "vllm", 2, None,
                      budget_s=30_000, estimates=Estimates().to_plan())
    (tmp_path / "kernel.json").write_text(json.dumps(plan))
    log = tmp_path / "run_log.jsonl"
    log.write_text(json.dumps({"step": "retrieve_embed", "rows": 100, "seconds": 5.0,
                               "status": "ok"}) + "\n")
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps({"rerank": {"fixed_s": 600, "per_row_s": 1.0}}))
    result = run_cli(budget.main, ["--plan", tmp_path / "kernel.json", "--run-log", log,
                                   "--gpu-timings", gpu, "--test-rows", 5000])
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    table = out[2:next(i for i, line in enumerate(out) if line.startswith("total"))]
    lines = {line.split()[0]: line for line in table}
    assert list(lines) == ["reshape", "tfidf", "embed", "rerank", "fuse", "boost", "submission"]
    assert lines["embed"].endswith("measured here") and " 0.0500 " in lines["embed"]
    assert lines["rerank"].endswith("gpu file") and "5600" in lines["rerank"]
    assert lines["tfidf"].endswith("assumed default")
    assert "headroom" in result.output and "Kaggle's limit 9.00 h" in result.output
    # 30,000 s - the other stages - 600 s of loading, at 1/25 s a candidate, over 5,000 rows
    others = sum(float(l.split()[3]) for k, l in lines.items()
                 if k in {"reshape", "tfidf", "embed", "fuse", "boost", "submission"})
    assert f"largest TOP_N that fits the budget is {int((30_000 - others - 600) // (5000 / 25))}" in result.output

    bad = tmp_path / "bad.json"
    bad.write_text('{"rerank": {"per_row_s": 1}}')
    result = run_cli(budget.main, ["--plan", tmp_path / "kernel.json", "--gpu-timings", bad])
    assert result.exit_code == 1 and "fixed_s" in result.output
