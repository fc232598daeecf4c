"""eedi.kaggle.time_budget: estimates scaled by rows, the local run's rates, and the guard's rule."""

import json

from eedi.kaggle.time_budget import (DEFAULT_BUDGET_S, DEFAULT_ESTIMATES, KAGGLE_LIMIT_S, Estimates,
                                     TimeGuard, rates_from_run_log, with_rates)


def test_default_budget_leaves_a_margin_under_kaggles_9_hours():
    assert KAGGLE_LIMIT_S == 9 * 3600 and 0 < DEFAULT_BUDGET_S < KAGGLE_LIMIT_S


def test_estimates_scale_with_rows_and_round_trip_through_the_plan():
    est = Estimates.from_plan({"rerank": {"fixed_s": 100, "per_row_s": 2}})
    assert est.seconds("rerank", 0) == 100 and est.seconds("rerank", 1000) == 2100
    assert est.seconds("tfidf", 10) == DEFAULT_ESTIMATES["tfidf"][0] + 10 * DEFAULT_ESTIMATES["tfidf"][1]
    assert Estimates.from_plan(est.to_plan()).table == est.table
    assert est.seconds("unknown", 10) == est.seconds("rerank", 10)  # assumed the slowest per row


def test_rates_come_from_the_run_logs_successful_steps(tmp_path):
    log = tmp_path / "run_log.jsonl"
    lines = [{"step": "retrieve_embed", "rows": 100, "seconds": 10.0, "status": "ok"},
             {"step": "retrieve_embed", "rows": 100, "seconds": 30.0, "status": "ok"},
             {"step": "retrieve_embed", "rows": 100, "seconds": 999.0, "status": "failed: X"},
             {"step": "rerank", "rows": 100, "seconds": 200.0, "status": "ok"},
             {"step": "evaluate", "rows": 50, "seconds": 1.0, "status": "ok"}]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    rates = rates_from_run_log(log)
    assert rates == {"embed": 0.2, "rerank": 2.0}
    est = with_rates(Estimates(), rates)
    assert est.table["embed"] == (DEFAULT_ESTIMATES["embed"][0], 0.2)
    assert rates_from_run_log(tmp_path / "missing.jsonl") == {}


def test_rates_leave_start_up_out(tmp_path):
    """The public test's 9 rows time mostly start-up: alone they give no rate (a 9-row
    submission step taking 4.8 s is not 0.5 s/row); beside a large run of the same stage the
    rate is the slope between sizes, not the large run's seconds/row."""
    log = tmp_path / "run_log.jsonl"
    lines = [{"step": "submission", "rows": 9, "seconds": 4.8, "status": "ok"},
             {"step": "retrieve_embed", "rows": 9, "seconds": 60.0, "status": "ok"},
             {"step": "retrieve_embed", "rows": 4409, "seconds": 280.0, "status": "ok"},
             {"step": "retrieve_embed", "rows": 4409, "seconds": 300.0, "status": "ok"}]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rates = rates_from_run_log(log)
    assert set(rates) == {"embed"}
    assert abs(rates["embed"] - (290.0 - 60.0) / 4400) < 1e-9


def test_guard_projects_elapsed_plus_the_stages_left():
    now = [1000.0]
    guard = TimeGuard(600, Estimates({"a": (10, 1), "b": (0, 0.5)}), clock=lambda: now[0])
    assert guard.projected(["a", "b"], rows=100) == 110 + 50
    assert guard.fits(["a", "b"], rows=100)
    now[0] += 450
    assert guard.elapsed() == 450 and not guard.fits(["a", "b"], rows=100)
    assert guard.fits(["b"], rows=100)
