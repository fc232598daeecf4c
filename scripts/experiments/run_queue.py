"""Run an experiment plan's rows as one queue: JOBS at a time through GNU parallel, one queue
per plan, stopped whole by a kill.

\b
Reads  PLAN                   experiments/<name>.tsv (eedi/experiments/plan.py: the rules)
Writes DIR/queue.lock         held while the queue runs: its pid, host and start
       DIR/plans/<digest>/<plan>.tsv  the plan as it was at the start: the rows read this
                              copy, so an edit of PLAN mid-run changes nothing that runs
       DIR/queue.json         the digest, the plan's path, the settings of make's command
                              line (every row runs with them) and the start
       DIR/rows.txt           the row names (GNU parallel's input)
       DIR/joblog-<digest>.tsv  GNU parallel's record of the rows that ended (--resume-failed);
                              <digest>: the plan's text and the command line's settings, so
                              other settings for every row are another queue, not a resume
       and, through run_row.py, each row's log, record and the summary; at the end the
       summary again and NOTIFY's line for the queue. Exits non-zero when a row failed.

A plan that breaks a rule starts nothing: the error goes to DIR/refused.json and to NOTIFY
(an unattended night says why it did not run). A second queue of the same plan is refused at once, naming the holder (the lock is the
kernel's: it dies with its holder, kill -9 included). TERM, INT or HUP (a kill, Ctrl-C, a closed
terminal), or the death of the make that started it, stop every row it started: each leaves
nothing that looks finished, and the same command resumes the plan. ROW_TIMEOUT: a row running
longer is stopped and recorded as timeout; the queue goes on.
"""

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.experiments.notify import notify, row_facts
from eedi.experiments.plan import (command_line_settings, pipeline_variables, queue_digest,
                                  read_plan, rows_at_a_time, slot_width)
from eedi.experiments.processes import (QueueRunning, die_with_parent, on_parent_fatal_signal,
                                       plan_lock, stop_tree)
from eedi.experiments.queue import rebuild_summary
from eedi.experiments.summary import queue_line
from eedi.errors import DataError
from eedi.files import write_json, write_text
from eedi.run_log import log, setup_logging

ROW_RUNNER = Path(__file__).resolve().parent / "run_row.py"


@click.command(help=__doc__)
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--dir", "queue_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The queue's folder (RUN/experiments/<plan name>).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--jobs", type=click.IntRange(1), help="Rows run at a time (JOBS) [as many as "
              "the GPUs hold; 1 without GPUs].")
@click.option("--gpu-ids", default="", help="The queue's GPUs, space-separated (empty: none).")
@click.option("--row-timeout", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds a row may run (ROW_TIMEOUT); 0: no limit.")
@click.option("--notify", "notify_command", envvar="NOTIFY", default="",
              help="NOTIFY: a shell command told how each row and the queue ended [$NOTIFY].")
def main(plan_path, queue_dir, report_dir, jobs, gpu_ids, row_timeout, notify_command):
    setup_logging()
    die_with_parent()  # make killed: this gets TERM, and stops the rows below
    declared = pipeline_variables()
    gpus = gpu_ids.split()
    try:
        rows = read_plan(plan_path, declared)
        jobs = rows_at_a_time(plan_path, rows, jobs, gpus)
    except DataError as e:  # nothing runs; the night's record and NOTIFY say why
        write_json({"status": "refused", "error": e.message, "plan": str(plan_path),
                    "at": time.strftime("%Y-%m-%dT%H:%M:%S")}, queue_dir / "refused.json")
        notify(notify_command, f"queue {plan_path.stem}: refused, nothing ran: {e.message}",
               row_facts("", "refused", None, queue_dir / "refused.json"))
        raise
    (queue_dir / "refused.json").unlink(missing_ok=True)
    try:
        with plan_lock(queue_dir / "queue.lock"):
            text = plan_path.read_text()
            settings = command_line_settings(os.environ.get("MAKEFLAGS", ""), declared)
            digest = queue_digest(text, settings)
            snapshot = queue_dir / "plans" / digest / plan_path.name
            write_text(text, snapshot)
            write_json({"digest": digest, "plan": str(plan_path), "command_line": settings,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S")}, queue_dir / "queue.json")
            joblog = queue_dir / f"joblog-{digest}.tsv"
            plan_path = snapshot
            write_text("".join(f"{r.name}\n" for r in rows), queue_dir / "rows.txt")
            log.info("%s (%s): %d rows, %d at a time, %s", plan_path, digest, len(rows), jobs,
                     f"{slot_width(rows)} GPU(s) each of {' '.join(gpus)}" if gpus
                     else "no GPUs (sharing the CPU)")
            failed, elapsed = run_rows(plan_path, queue_dir, report_dir, joblog, jobs, gpu_ids,
                                       row_timeout)
            table = rebuild_summary(plan_path.stem, rows, queue_dir, report_dir)
            click.echo((queue_dir / "summary.md").read_text())
            notify(notify_command, queue_line(plan_path.stem, table, elapsed, queue_dir / "summary.md"),
                   row_facts("", "ended", None, queue_dir / "summary.md"))
    except QueueRunning as e:
        raise click.ClickException(str(e)) from None
    if failed:
        raise click.ClickException(f"{failed} row(s) of {plan_path} failed: {queue_dir / 'logs'}/")


def run_rows(plan_path, queue_dir, report_dir, joblog, jobs, gpu_ids, row_timeout) -> tuple[int, float]:
    """GNU parallel over rows.txt, each row through run_row.py; a TERM, INT or HUP stops the
    whole tree first. Out: (rows failed, seconds)."""
    row = " ".join(shlex.quote(str(a)) for a in (
        sys.executable, ROW_RUNNER, "--plan", plan_path, "--dir", queue_dir, "--report-dir",
        report_dir, "--gpu-ids", gpu_ids, "--timeout", row_timeout))
    command = ["parallel", "--will-cite", "--jobs", str(jobs), "--halt", "never", "--line-buffer",
               "--tag", "--joblog", str(joblog), "--resume-failed",
               f"{row} --row {{}} --slot {{%}}", "::::", str(queue_dir / "rows.txt")]

    def stop(signum, frame):
        log.warning("%s: stopping every row of the queue", signal.Signals(signum).name)
        stop_tree(psutil.Process())
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    # make given INT or HUP alone waits for this process instead of passing them on
    on_parent_fatal_signal(lambda: os.kill(os.getpid(), signal.SIGTERM))
    start = time.time()
    failed = subprocess.run(command).returncode
    return failed, time.time() - start


if __name__ == "__main__":
    main()
