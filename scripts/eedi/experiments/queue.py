"""A queue's files, and the summary rebuilt from them as each row ends.

Under RUN/experiments/<plan name>/ (make experiments):

    rows.txt                 the plan's row names, one a line (GNU parallel's input)
    joblog-<digest>.tsv      GNU parallel's job log for this version of the plan
    logs/<row>.log           the row's make output
    results/<row>.json       the row's record: status, the ranking scored, train seconds, ...
    summary.md, summary.csv  one line a row (eedi.experiments.summary)
and RUN/report/experiments-<plan name>.html: the table and the plot, a page of the CV report.

    table = rebuild_summary(plan, rows, queue_dir, report_dir)

Rows end side by side, so the rebuild holds a lock (fcntl) and writes each file atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path

import pandas as pd

from eedi.experiments.plan import Row, baseline
from eedi.experiments.summary import COLUMNS, markdown, plot, summary_table
from eedi.files import write_csv, write_text
from eedi.folds import labelled_rows
from eedi.metrics import bootstrap_weights, labelled_ranks
from eedi.ranking import read_ranking
from eedi.report import png, table_page
from eedi.run_log import log

N_RESAMPLES = 2000


def result_path(queue_dir, row: str) -> Path:
    return Path(queue_dir) / "results" / f"{row}.json"


def log_path(queue_dir, row: str) -> Path:
    return Path(queue_dir) / "logs" / f"{row}.log"


def read_results(queue_dir, rows: list[Row]) -> dict[str, dict]:
    """{row name: its result record} for the rows that ended (a record is written whole)."""
    out = {}
    for row in rows:
        path = result_path(queue_dir, row.name)
        if path.is_file():
            out[row.name] = json.loads(path.read_text())
    return out


LOCK_WAIT_S = 600  # a summary's rebuild takes seconds; a holder past this is stuck


@contextlib.contextmanager
def locked(path: Path, wait_s: float = LOCK_WAIT_S):
    """Hold an exclusive lock on `path` (created) for the block: one writer at a time. The wait
    is bounded: past wait_s, TimeoutError naming the lock (a wait of more than a second is
    logged, saying what it waits for)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        deadline, told = time.monotonic() + wait_s, False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"waited {wait_s:g} s for {path}, held by another row's "
                                       "summary rebuild") from None
                if not told and time.monotonic() > deadline - wait_s + 1:
                    log.info("waiting up to %g s for %s (another row rebuilds the summary)",
                             wait_s, path)
                    told = True
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def rebuild_summary(plan_name: str, rows: list[Row], queue_dir, report_dir) -> pd.DataFrame:
    """Score every finished row's ranking against the baseline's and write the summary files.
    Rows not finished show their status (pending, failed). Out: the table."""
    queue_dir = Path(queue_dir)
    with locked(queue_dir / ".summary.lock"):
        results = read_results(queue_dir, rows)
        finished = {name: r for name, r in results.items()
                    if r.get("status") == "ok" and Path(r.get("ranking_path", "")).is_file()}
        ranks, labelled, weights = {}, None, None
        base = baseline(rows)
        reference = finished.get(base.name) or next(iter(finished.values()), None)
        if reference:  # every row is scored on the same labelled rows and folds (plan rules)
            labelled = labelled_rows(reference["train"], reference["folds"])
            weights = bootstrap_weights(labelled[reference.get("group_by", "QuestionId")], N_RESAMPLES)
            for name, r in finished.items():
                ranks[name] = labelled_ranks(read_ranking(r["ranking_path"]), labelled)
        table = summary_table(rows, results, ranks, labelled, weights)
        queue = queue_dir / "queue.json"
        digest = json.loads(queue.read_text())["digest"] if queue.is_file() else None
        title = f"Experiments: {plan_name}" + (f" (plan {digest})" if digest else "")
        write_text(markdown(table, title), queue_dir / "summary.md")
        write_csv(table[COLUMNS], queue_dir / "summary.csv")
        figures = {"MAP@25 per row": png(plot(table))} if ranks else {}
        note = (f"{len(finished)} of {len(rows)} rows finished; baseline: {base.name}; "
                f"intervals: paired bootstrap over whole questions ({N_RESAMPLES} resamples)")
        write_text(table_page(title, {"Rows": table[COLUMNS]}, figures, note),
                   Path(report_dir) / f"experiments-{plan_name}.html")
    log.info("summary of %s: %d of %d rows finished -> %s", plan_name, len(finished), len(rows),
             queue_dir / "summary.md")
    return table
