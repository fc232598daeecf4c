"""The user's NOTIFY command: a shell command given one line on its standard input.

    notify("curl -s -d @- https://ntfy.sh/my-topic", "epochs2: ok MAP@25 0.3012 (+0.0051) in 1h02m")

Run when each row of a queue ends and when the queue ends. It never stops the queue: a
failure, a timeout or a missing command is logged and forgotten.
"""

from __future__ import annotations

import logging
import subprocess

log = logging.getLogger("eedi")
TIMEOUT_S = 60


def notify(command: str | None, line: str, timeout_s: float = TIMEOUT_S) -> bool:
    """Run `command` with `line` on stdin; True when it exited 0. Never raises."""
    if not command:
        return False
    try:
        done = subprocess.run(command, shell=True, input=line.rstrip("\n") + "\n", text=True,
                              capture_output=True, timeout=timeout_s)
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
