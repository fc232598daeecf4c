"""Run one row of an experiment plan: its make goals with its settings, then record how it went.

\b
Reads  PLAN  experiments/<name>.tsv (the row's goals and Make variables)
Writes DIR/logs/<row>.log      make's output for the row
       DIR/results/<row>.json  status, the ranking scored (train_<FINAL>), its training
                               seconds, wall time, git sha and dirty flag, the paths
       DIR/summary.{md,csv} and RUN/report/experiments-<plan>.html, rebuilt with this row
and gives NOTIFY one line. Exits with make's status, so GNU parallel's joblog has it.

make experiments runs it once per row through GNU parallel; job slot SLOT gets its own GPUs
(CUDA_VISIBLE_DEVICES: the SLOT-th group of the largest GPUS of a row among GPU_IDS). Make's
own up-to-date checks make a re-run cheap: what a row shares with another, or finished before a
queue was killed, is not made again, and a killed training resumes from its checkpoint.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.experiments.notify import notify, row_facts
from eedi.experiments.processes import stop_tree
from eedi.experiments.plan import make_args, pipeline_variables, read_plan, slot_gpus, slot_width
from eedi.experiments.queue import log_path, rebuild_summary, result_path
from eedi.experiments.summary import status_line
from eedi.files import write_json
from eedi.kaggle.plan import plan_steps
from eedi.model_folder import fold_training_seconds
from eedi.ranking import ranking_models
from eedi.run_log import log, setup_logging

# What the row's make is asked for, besides its goals (make print-VAR prints one value a line).
PRINTED = ("RUN", "FINAL", "TRAIN_LONG", "FOLDS", "FOLD_BY", "N_FOLDS")


def git_state() -> dict:
    """The checkout's commit and whether tracked files differ from it."""
    def git(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None
    sha = git("rev-parse", "--short=12", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": sha or "", "dirty": bool(status) if status is not None else None}


def make_values(make: str, settings: list[str], env: dict) -> dict[str, str]:
    """The row's values of PRINTED, as its make sees them."""
    done = subprocess.run([make, "-s", "--no-print-directory", *settings,
                           *(f"print-{v}" for v in PRINTED)],
                          capture_output=True, text=True, env=env)
    if done.returncode:
        raise click.ClickException(f"make could not read this row's settings: {done.stderr.strip()[-2000:]}")
    lines = done.stdout.splitlines()[-len(PRINTED):]
    return dict(zip(PRINTED, lines))


def training_seconds(run: Path, final: str, n_folds: int) -> float:
    """Seconds to train the fold models behind `final` (every ranking it is built from that
    names its fold models: retrieve_embed.py's, rerank.py's): what its CV number cost."""
    total = 0.0
    for step in plan_steps(final):
        path = run / "rankings" / f"train_{step.ranking}.parquet"
        models = ranking_models(path) if path.is_file() else None
        if models:
            total += sum(fold_training_seconds(models, range(n_folds)).values())
    return round(total, 1)


def run_make(command: list[str], log_file, env: dict, timeout_s: float) -> tuple[str, int]:
    """The row's make, its output to log_file. Out: ("ok" | "failed", its exit status), or
    ("timeout", 124) when it ran past timeout_s (> 0): then it and everything it started are
    stopped (Make deletes the target it was making: nothing looks finished)."""
    make = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    try:
        code = make.wait(timeout=timeout_s or None)
    except subprocess.TimeoutExpired:
        log.warning("row past its %g s (ROW_TIMEOUT): stopping its make", timeout_s)
        stop_tree(psutil.Process(make.pid), include_root=True)
        make.wait()
        log_file.write(f"\n# stopped after {timeout_s:g} s (ROW_TIMEOUT)\n")
        return "timeout", 124
    return ("ok" if code == 0 else "failed"), code


@click.command(help=__doc__)
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--row", "row_name", required=True)
@click.option("--dir", "queue_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The queue's folder (RUN/experiments/<plan name>).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--slot", type=click.IntRange(1), default=1, show_default=True,
              help="GNU parallel's job slot ({%}).")
@click.option("--gpu-ids", default="", help="The queue's GPUs, space-separated (empty: none).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0), default=0, show_default=True,
              help="Seconds the row's make may run (ROW_TIMEOUT); past it the make and all it "
                   "started are stopped and the row is recorded as timeout. 0: no limit.")
@click.option("--notify", "notify_command", envvar="NOTIFY", default="", help="NOTIFY: a shell "
              "command given one line on stdin when the row ends [$NOTIFY].")
@click.option("--make", default=os.environ.get("MAKE", "make"), show_default=True)
def main(plan_path, row_name, queue_dir, report_dir, slot, gpu_ids, timeout_s, notify_command, make):
    setup_logging()
    rows = read_plan(plan_path, pipeline_variables())
    row = next((r for r in rows if r.name == row_name), None)
    if row is None:
        raise click.BadParameter(f"{plan_path} has no row {row_name!r}", param_hint="--row")
    env = dict(os.environ)
    gpus = slot_gpus(gpu_ids.split(), slot, slot_width(rows))
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    args = make_args(row)
    settings = [a for a in args if "=" in a]
    values = make_values(make, settings, env)
    run = Path(values["RUN"])
    ranking = run / "rankings" / f"train_{values['FINAL']}.parquet"
    log_file = log_path(queue_dir, row.name)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log.info("row %s: make %s%s (log %s)", row.name, " ".join(args),
             f" on GPU {','.join(gpus)}" if gpus else "", log_file)

    git = git_state()
    start = time.time()
    with open(log_file, "a") as f:
        f.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} make {' '.join(args)} {ranking}\n")
        f.flush()
        # the ranking scored is asked for by name, whatever the goals are
        status, code = run_make([make, "--no-print-directory", *args, str(ranking)], f, env,
                                timeout_s)
    elapsed = round(time.time() - start, 1)
    result = {"row": row.name, "status": status, "returncode": code,
              "make": args, "gpus": gpus, "elapsed_s": elapsed, "git": git,
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "log": str(log_file),
              "ranking": values["FINAL"], "ranking_path": str(ranking),
              "train": values["TRAIN_LONG"], "folds": values["FOLDS"], "group_by": values["FOLD_BY"],
              "train_s": training_seconds(run, values["FINAL"], int(values["N_FOLDS"])) if code == 0 else None}
    queue = Path(queue_dir) / "queue.json"  # run_queue.py's: the plan's digest, the command line
    if queue.is_file():
        facts = json.loads(queue.read_text())
        result |= {"plan_digest": facts["digest"], "command_line": facts["command_line"]}
    write_json(result, result_path(queue_dir, row.name))
    table = rebuild_summary(plan_path.stem, rows, queue_dir, report_dir)
    line = status_line(row.name, result, table)
    log.info("%s", line)
    score = table.set_index("row").loc[row.name, "map@25"]
    notify(notify_command, line, row_facts(row.name, result["status"],
                                           None if pd.isna(score) else float(score), log_file))
    sys.exit(code)


if __name__ == "__main__":
    main()
