"""Run the test side of the pipeline inside a Kaggle notebook and write submission.csv.

\b
Reads  INPUT_ROOT (found by search, either layout; eedi.kaggle.inputs):
         the competition folder   train.csv, test.csv, misconception_mapping.csv
         the plan folder          kernel.json (make kernel) + its fusion-*.json / boost-*.json
         the weights datasets     eedi-<model>/.../all/ of each trained model the plan uses
         the reranker's base      a Kaggle Models input (the plan's kaggle_model) or a folder
                                  named as the plan's base_folder, in any attached input
Writes OUT                        submission.csv (Kaggle's format, validated by make_submission.py)
       LOG                        JSON: rerun or public run, test rows, and per stage its
                                  status (ok | skipped | failed), reason, seconds, estimate
       WORK_DIR/                  scratch: long tables, rankings/test_<ranking>.parquet

The stages are the Makefile's test-side rules, run as the same scripts with the same
arguments (eedi.kaggle.plan): reshape -> retrieval with the all-train models -> rerank with
the all-train adapter -> fuse with the saved weights -> boost with the saved constant ->
make_submission. Before each stage after the first ranking, the time guard (eedi.kaggle.time_budget)
projects elapsed + this stage + the ones after it; past the budget the stage is skipped and
the best ranking already made (the plan's fallback order) is submitted.

On the hidden-test rerun (KAGGLE_IS_COMPETITION_RERUN set, or test.csv has more questions
than the public one) a failing optional stage is logged and skipped, so a submission is still
made; on the public run it stops the notebook, so a broken notebook fails when it is saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.files import write_json
from eedi.kaggle.inputs import (MissingInput, find_competition, find_kaggle_model,
                                find_named_folder, find_plan, find_weights, input_root, working_dir)
from eedi.kaggle.plan import (Paths, read_plan, reshape_command, stage_commands, steps_of,
                              submission_command, with_base_model)
from eedi.kaggle.time_budget import Estimates, TimeGuard
from eedi.run_log import log, setup_logging

CODE = Path(__file__).resolve().parents[2]  # the code dataset this driver ships in
RERUN_ENV = "KAGGLE_IS_COMPETITION_RERUN"


class StageFailed(Exception):
    pass


def is_rerun(test_csv: Path, public_questions: int, env=None) -> bool:
    """The scoring rerun: Kaggle's flag, or a test.csv bigger than the public one."""
    env = os.environ if env is None else env
    if env.get(RERUN_ENV):
        return True
    questions = pd.read_csv(test_csv, usecols=["QuestionId"])["QuestionId"].nunique()
    return questions > public_questions


def _echo(stream, prefix: str) -> None:
    for line in stream:
        sys.stderr.write(f"{prefix}{line}")
    stream.close()


def run_group(commands: list[tuple[list[str], dict]], cwd: Path, env: dict) -> None:
    """Run the commands in parallel (each stage script's output shown on stderr as it comes,
    so a notebook cell shows it); StageFailed if any exits non-zero."""
    procs = []
    for argv, extra in commands:
        log.info("$ %s", " ".join(argv))
        proc = subprocess.Popen(argv, cwd=cwd, env={**env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        reader = threading.Thread(target=_echo, args=(proc.stdout, "  | "), daemon=True)
        reader.start()
        procs.append((argv, proc, reader))
    failed = []
    for argv, proc, reader in procs:
        rc = proc.wait()
        reader.join()
        if rc != 0:
            failed.append(f"{Path(argv[1]).name} exited {rc}")
    if failed:
        raise StageFailed("; ".join(failed))


def resolve(root: Path, plan: dict, plan_dir: Path, work: Path) -> Paths:
    """Every input the plan needs, found before anything runs (one MissingInput if not)."""
    paths = Paths(code=CODE, data=find_competition(root, plan["competition"]), plan=plan_dir,
                  run=work / "run")
    for step in steps_of(plan):
        if step.kind == "embed" and step.weights_dataset:
            paths.models[step.weights_dataset] = find_weights(root, step.model, step.weights_dataset)
        elif step.kind == "rerank":
            adapter = find_weights(root, step.model, step.weights_dataset)
            base = (plan.get("reranker") or {})
            if base.get("kaggle_model"):
                base_dir = find_kaggle_model(root, base["kaggle_model"])
            elif base.get("base_folder"):
                base_dir = find_named_folder(root, base["base_folder"])
            else:
                raise MissingInput(f"the plan names no base model for reranker {step.model!r}")
            paths.models[step.weights_dataset] = with_base_model(adapter, base_dir,
                                                         work / "models" / step.weights_dataset)
    for step in steps_of(plan):
        if step.json and not (plan_dir / step.json).is_file():
            raise MissingInput(f"{plan_dir / step.json} not found: make kernel copies it beside "
                               "kernel.json (re-run make kernel and push the plan dataset)")
    return paths


@click.command(help=__doc__)
@click.option("--input-root", "root", type=click.Path(file_okay=False, path_type=Path),
              help="Where the inputs are mounted [$KAGGLE_INPUT_ROOT, else /kaggle/input].")
@click.option("--working-dir", "working", type=click.Path(file_okay=False, path_type=Path),
              help="Kaggle's output folder [$KAGGLE_WORKING_DIR, else /kaggle/working].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="submission.csv to write [WORKING_DIR/submission.csv].")
@click.option("--log-json", type=click.Path(dir_okay=False, path_type=Path),
              help="The stage log [WORKING_DIR/infer_log.json].")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Scratch for long tables and rankings [WORKING_DIR/eedi-infer].")
@click.option("--budget-s", type=click.FloatRange(0), help="Time budget in seconds [the plan's].")
def main(root, working, out, log_json, work_dir, budget_s):
    setup_logging()
    root = root or input_root()
    working = working or working_dir()
    out = out or working / "submission.csv"
    log_json = log_json or working / "infer_log.json"
    work = (work_dir or working / "eedi-infer").resolve()
    try:
        plan_dir = find_plan(root)
        plan = read_plan(plan_dir / "kernel.json")
        guard = TimeGuard(budget_s if budget_s is not None else plan["budget_s"],
                          Estimates.from_plan(plan.get("estimates")))
        paths = resolve(root, plan, plan_dir, work)
    except (MissingInput, ValueError) as e:  # an input absent, or a plan this code cannot read
        raise click.ClickException(str(e)) from None

    rerun = is_rerun(paths.data / "test.csv", plan["public_test_questions"])
    env = {**os.environ, "RUN_LOG": str(paths.run / "run_log.jsonl"), "PYTHONUNBUFFERED": "1"}
    report = {"rerun": rerun, "budget_s": guard.budget_s, "final": plan["final"],
              "inputs": {"data": str(paths.data), "plan": str(plan_dir),
                         **{k: str(v) for k, v in paths.models.items()}}, "stages": []}
    log.info("%s: %s; budget %.0f s; plan %s", "hidden-test rerun" if rerun else "public run",
             paths.data, guard.budget_s, plan_dir)

    def record(entry):
        report["stages"].append(entry)
        report["elapsed_s"] = round(guard.elapsed(), 1)
        write_json(report, log_json)  # after every stage: a killed notebook still tells

    def timed(name, groups):  # the groups in turn; their seconds
        start = time.time()
        for group in groups:
            run_group(group, work, env)
        return round(time.time() - start, 2)

    work.mkdir(parents=True, exist_ok=True)
    try:
        seconds = timed("reshape", [[(reshape_command(paths), {})]])
    except StageFailed as e:
        record({"stage": "reshape", "status": "failed", "reason": str(e)})
        raise click.ClickException(f"reshape failed: {e}") from None
    record({"stage": "reshape", "status": "ok", "seconds": seconds})
    rows = len(pd.read_parquet(paths.run / "test_long.parquet", columns=["QuestionId_Answer"]))
    report["test_rows"] = rows

    steps = steps_of(plan)
    made: list[str] = []
    lost: set[str] = set()  # rankings skipped or failed: whatever needs them cannot run
    for i, step in enumerate(steps):
        entry = {"stage": step.kind, "ranking": step.ranking,
                 "estimate_s": round(guard.estimates.seconds(step.kind, rows), 1)}
        missing = [r for r in step.inputs if r in lost]
        if missing:
            lost.add(step.ranking)
            record({**entry, "status": "skipped", "reason": f"needs {', '.join(missing)}"})
            log.warning("skipping %s: it needs %s", step.ranking, ", ".join(missing))
            continue
        # this stage, every later one that could still run, and the submission
        left = [s.kind for s in steps[i:] if not set(s.inputs) & lost] + ["submission"]
        projected = guard.projected(left, rows)
        entry["projected_s"] = round(projected, 1)
        if made and projected > guard.budget_s:
            lost.add(step.ranking)
            record({**entry, "status": "skipped",
                    "reason": f"projected {projected:.0f} s > budget {guard.budget_s:.0f} s"})
            log.warning("time guard: skipping %s (projected %.0f s for %s > budget %.0f s)",
                        step.ranking, projected, "+".join(left), guard.budget_s)
            continue
        try:
            seconds = timed(step.ranking, stage_commands(step, plan, paths))
        except StageFailed as e:
            record({**entry, "status": "failed", "reason": str(e)})
            if not rerun or not made:
                raise click.ClickException(f"stage {step.ranking} failed: {e}") from None
            lost.add(step.ranking)
            log.error("%s failed on the rerun (%s): going on without it", step.ranking, e)
            continue
        made.append(step.ranking)
        record({**entry, "status": "ok", "seconds": seconds})
        log.info("%s ok in %.1f s (estimated %.1f s); %.0f s elapsed", step.ranking, seconds,
                 entry["estimate_s"], guard.elapsed())

    final = next(r for r in plan["fallback"] if r in made)
    if final != plan["final"]:
        log.warning("submitting %s instead of %s", final, plan["final"])
    report["submitted"] = final
    try:
        seconds = timed("submission", [[(submission_command(paths, final, out.resolve()), {})]])
    except StageFailed as e:
        record({"stage": "submission", "ranking": final, "status": "failed", "reason": str(e)})
        raise click.ClickException(f"the submission from {final} failed: {e}") from None
    record({"stage": "submission", "ranking": final, "status": "ok", "seconds": seconds})
    log.info("wrote %s from %s in %.0f s", out, final, guard.elapsed())


if __name__ == "__main__":
    main()
