"""Logs to stderr, and one JSON line per pipeline step in the run log.

    setup_logging()                                   # every command's first line
    with step_timer("retrieve_tfidf", top_k=100) as record:
        ...
        record["rows"] = len(rows)                    # extra fields for the log line
    # stderr: 20:31:02 INFO retrieve_tfidf ok in 3.2s
    # $RUN_LOG: {"step": "retrieve_tfidf", "top_k": 100, "rows": 4425, "seconds": 3.2,
    #            "status": "ok", "finished": "2026-11-22T20:31:02"}

stdout is kept for tables a user may redirect.

This module computes nothing (make/freshness.py's NON_COMPUTING): editing it reruns no step,
so it imports no module of the library that computes (tests/test_freshness.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger("eedi")


def _main_process() -> bool:
    """Rank 0 under torchrun, or no torchrun (eedi.distributed.is_main_process's test, not
    imported: see the module's docstring)."""
    return int(os.environ.get("RANK", "0")) == 0


def _json_value(o):
    """json.dumps(default=...): numpy scalars (anything with .item()) as Python numbers."""
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def setup_logging() -> None:
    """Logs go to stderr at $LOG_LEVEL (INFO by default)."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


@contextlib.contextmanager
def step_timer(step: str, **details) -> Iterator[dict]:
    """Time one pipeline step; log it to stderr and append one JSON line to the run log.

    The run log is `$RUN_LOG` (the Makefile points it at the run's folder); unset, only
    stderr gets the line. Failed steps are logged too, with their status, so a night's log
    shows what broke.
    """
    record = {"step": step, **details}
    start = time.time()
    status = "ok"
    try:
        yield record
    except BaseException as e:
        status = f"failed: {type(e).__name__}"
        raise
    finally:
        record["seconds"] = round(time.time() - start, 3)
        record["status"] = status
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        log.info("%s %s in %.1fs", step, status, record["seconds"])
        run_log = os.environ.get("RUN_LOG")
        if run_log and _main_process():  # under torchrun: one line a step, not one a rank
            Path(run_log).parent.mkdir(parents=True, exist_ok=True)
            with open(run_log, "a") as f:  # one short append: atomic enough for a log
                f.write(json.dumps(record, default=_json_value) + "\n")
