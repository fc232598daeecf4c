"""The user's NOTIFY command: a shell command given one line on its standard input, and the
row's facts in its environment.

    notify("curl -s -d @- https://ntfy.sh/my-topic", "epochs2: ok MAP@25 0.3012 (+0.0051) in 1h02m",
           row_facts("epochs2", "ok", 0.3012, "RUN/experiments/night/logs/epochs2.log"))
    # the command sees EXPERIMENT_ROW=epochs2 EXPERIMENT_STATUS=ok EXPERIMENT_MAP=0.3012
    # EXPERIMENT_LOG=...; at the queue's end EXPERIMENT_ROW is empty, EXPERIMENT_STATUS "ended"
    # and EXPERIMENT_LOG the summary

The command is run as the user wrote it: make/experiments.mk keeps its $VAR from Make's
expansion, so `NOTIFY='echo "$SOME_VAR" >> f'` reads SOME_VAR when it runs. Run when each row
of a queue ends and when the queue ends. It never stops the queue: a failure, a timeout or a
missing command is logged and forgotten.
"""

from __future__ import annotations

import logging
import os
import subprocess

log = logging.getLogger("eedi")
TIMEOUT_S = 60


def row_facts(row: str, status: str, map25: float | None, log_path) -> dict[str, str]:
    """The variables NOTIFY's command finds in its environment (module docstring)."""
    return {"EXPERIMENT_ROW": row, "EXPERIMENT_STATUS": status,
            "EXPERIMENT_MAP": "" if map25 is None else f"{map25:.4f}",
            "EXPERIMENT_LOG": str(log_path)}


def notify(command: str | None, line: str, facts: dict[str, str] | None = None,
           timeout_s: float = TIMEOUT_S) -> bool:
    """Run `command` with `line` on stdin and `facts` added to its environment; True when it
    exited 0. Never raises."""
    if not command:
        return False
    try:
        done = subprocess.run(command, shell=True, input=line.rstrip("\n") + "\n", text=True,
                              capture_output=True, timeout=timeout_s,
                              env={**os.environ, **(facts or {})})
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("NOTIFY %r failed: %s", command, e)
        return False
    if done.returncode:
        log.warning("NOTIFY %r exited %d: %s", command, done.returncode, done.stderr.strip()[-500:])
        return False
    return True


def duration_text(seconds: float) -> str:
    """3725 -> "1h02m", 95 -> "1m35s", 7 -> "7s"."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
