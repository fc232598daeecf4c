"""Check an experiment plan before a queue starts: its rows, and its job slots against the GPUs.

\b
Reads  PLAN     experiments/<name>.tsv (eedi/experiments/plan.py: the rules)
       the Makefile and make/*.mk (the variables a column may name)
Writes OUT      the row names, one a line (GNU parallel's input), only when all is well
       stdout   the rows to run at a time: JOBS, else as many as the GPUs hold (their count
                / the largest GPUS of a row), 1 without GPUs

A bad plan, or more GPUs asked for than there are (JOBS x the largest GPUS of a row), is one
error naming the file, row and column; nothing is written and nothing starts.
"""

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.experiments.plan import pipeline_variables, read_plan, rows_at_a_time, slot_width
from eedi.files import write_text
from eedi.run_log import log, setup_logging


@click.command(help=__doc__)
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--jobs", type=click.IntRange(1), help="Rows run at a time (JOBS) [as many as "
              "the GPUs hold; 1 without GPUs].")
@click.option("--gpu-ids", default="", help="The GPUs the queue may use, space-separated "
              "(empty: none, the rows share the CPU).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(plan_path: Path, jobs: int, gpu_ids: str, out: Path):
    setup_logging()
    rows = read_plan(plan_path, pipeline_variables())
    width, gpus = slot_width(rows), gpu_ids.split()
    jobs = rows_at_a_time(plan_path, rows, jobs, gpus)
    write_text("".join(f"{r.name}\n" for r in rows), out)
    log.info("%s: %d rows, %d at a time, %s", plan_path, len(rows), jobs,
             f"{width} GPU(s) each of {' '.join(gpus)}" if gpus else "no GPUs (sharing the CPU)")
    click.echo(jobs)


if __name__ == "__main__":
    main()
