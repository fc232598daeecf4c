"""eedi.experiments.summary: one line a row, each finished row against the baseline."""

import numpy as np
import pandas as pd

from eedi.experiments.plan import Row
from eedi.experiments.summary import COLUMNS, markdown, plot, status_line, summary_table
from eedi.metrics import bootstrap_weights


def labelled(n=40):
    return pd.DataFrame({"QuestionId": np.arange(n) // 2, "fold": np.arange(n) % 2,
                         "seen": np.arange(n) % 4 != 0})


def test_rows_against_the_baseline_with_paired_intervals():
    rows = [Row("baseline"), Row("better", {"TRAIN_ARGS": "--epochs 2"}),
            Row("broken", {"TOP_N": "5"}), Row("later", {"BOOST_ARGS": "--objective balanced"})]
    lab = labelled()
    base = pd.Series(np.where(np.arange(40) % 2, 2.0, 1.0))       # AP 1 or 1/2
    better = pd.Series(np.ones(40))                                 # every gold at rank 1
    results = {"baseline": {"status": "ok", "train_s": 10.0, "elapsed_s": 60.0,
                            "git": {"sha": "abc", "dirty": False}, "ranking": "x"},
               "better": {"status": "ok", "train_s": 20.0, "elapsed_s": 90.0,
                          "git": {"sha": "abc", "dirty": True}, "ranking": "y"},
               "broken": {"status": "failed", "elapsed_s": 3.0, "log": "logs/broken.log"}}
    table = summary_table(rows, results, {"baseline": base, "better": better}, lab,
                          bootstrap_weights(lab["QuestionId"], 200))
    assert list(table["row"]) == ["baseline", "better", "broken", "later"]
    assert list(table["status"]) == ["ok", "ok", "failed", "pending"]
    assert list(table["settings"][:3]) == ["baseline", "TRAIN_ARGS=--epochs 2", "TOP_N=5"]
    assert table.loc[0, "map@25"] == 0.75 and table.loc[1, "map@25"] == 1.0
    assert table.loc[1, "vs baseline (95%)"].startswith("+0.2500 [")
    lo, hi = (float(x) for x in table.loc[1, "vs baseline (95%)"][9:-1].split(", "))
    assert 0 < lo <= 0.25 <= hi                       # every resample gains: above zero
    assert pd.isna(table.loc[2, "map@25"]) and pd.isna(table.loc[3, "map@25"])
    assert table.loc[1, "balanced"] == 1.0 and table.loc[1, "recall@25"] == 1.0

    text = markdown(table, "Experiments: q")
    assert text.startswith("# Experiments: q\n\n| row | status |") and text.count("\n|") == len(rows) + 2
    assert "| better | ok | TRAIN_ARGS=--epochs 2 | 1.0000 |" in text
    assert status_line("better", results["better"], table) == \
        f"better: ok MAP@25 1.0000 ({table.loc[1, 'vs baseline (95%)']} vs baseline) in 1m30s"
    assert status_line("broken", results["broken"], table) == "broken: failed in 3s; log logs/broken.log"
    fig = plot(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["baseline", "better"]  # top down
    assert set(COLUMNS) <= set(table.columns)


def test_the_summary_lock_wait_is_bounded_and_names_the_lock(tmp_path):
    """Issue 38: every lock wait of the queue is bounded; a rebuild behind a stuck holder gives
    up with the lock's name instead of hanging the row."""
    import fcntl

    import pytest
    from eedi.experiments.queue import locked
    path = tmp_path / ".summary.lock"
    with open(path, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: flock excludes it
        with pytest.raises(TimeoutError, match=r"waited 0.3 s for .*\.summary\.lock"):
            with locked(path, wait_s=0.3):
                pass
    with locked(path, wait_s=0.3):  # free again: taken at once
        pass
