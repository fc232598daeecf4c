"""Rebuild an experiment queue's summary; at the queue's end, tell NOTIFY how it went.

\b
Reads  PLAN                   experiments/<name>.tsv
       DIR/results/<row>.json the rows that ended (run_row.py), their rankings of train
Writes DIR/summary.md, DIR/summary.csv: one line a row: the settings that differ from the
                              baseline, CV MAP@25 overall / seen / unseen / balanced, the
                              paired 95% interval of the difference to the baseline, recall@25
                              and @100, training and wall seconds, git sha and dirty flag
       REPORT_DIR/experiments-<name>.html: the table and a plot of each row's MAP and interval
and prints the Markdown table on stdout.
"""

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.experiments.notify import notify, row_facts
from eedi.experiments.plan import pipeline_variables, read_plan
from eedi.experiments.queue import rebuild_summary
from eedi.experiments.summary import queue_line
from eedi.run_log import setup_logging


@click.command(help=__doc__)
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--dir", "queue_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--queue-ended", is_flag=True, help="The queue has ended: give NOTIFY its line.")
@click.option("--elapsed-s", type=float, help="The queue's wall seconds (for NOTIFY's line).")
@click.option("--notify", "notify_command", envvar="NOTIFY", default="",
              help="NOTIFY: a shell command given one line on stdin at the queue's end [$NOTIFY].")
def main(plan_path, queue_dir, report_dir, queue_ended, elapsed_s, notify_command):
    setup_logging()
    rows = read_plan(plan_path, pipeline_variables())
    table = rebuild_summary(plan_path.stem, rows, queue_dir, report_dir)
    click.echo((queue_dir / "summary.md").read_text())
    if queue_ended:
        notify(notify_command, queue_line(plan_path.stem, table, elapsed_s, queue_dir / "summary.md"),
               row_facts("", "ended", None, queue_dir / "summary.md"))


if __name__ == "__main__":
    main()
