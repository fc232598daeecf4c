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
make_submission. The time guard (eedi.kaggle.time_budget) keeps the run inside its budget:

- before each stage after the first ranking it projects elapsed + this stage + the ones after
  it; past the budget the stage is skipped;
- each stage that starts may run for its allowance (the budget minus the estimates of what
  must still run after it; until a submission exists, Kaggle's 9 h limit minus the
  submission's); past that its processes are killed. A killed rerank still
  counts with the rows it finished (rerank.py --partial: its saved chunks reranked, the rest
  in the retriever's order); any other killed stage is lost, with what needs it;
- OUT is first written from the first ranking made (cheap: TF-IDF), before anything slow, then
  replaced by the best ranking made (the plan's fallback order) at the end.

On the hidden-test rerun (KAGGLE_IS_COMPETITION_RERUN set, or test.csv has more questions
than the public one) no failure ends the run without a submission: a failing stage is logged
and skipped, a failing final submission falls back to the next ranking, and if even reshape or
every ranking fails, Kaggle's sample_submission.csv is copied as OUT (a score, not an error).
On the public run a failure stops the notebook, so a broken notebook fails when it is saved.
"""

from __future__ import annotations

import os
import shutil
import signal
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
from eedi.kaggle.plan import (PUBLIC_TEST_QUESTIONS, Paths, read_plan, reshape_command,
                              stage_commands, steps_of, submission_command, with_base_model)
from eedi.kaggle.install import VLLM_SITE_ENV
from eedi.kaggle.time_budget import KAGGLE_LIMIT_S, Estimates, TimeGuard, notebook_elapsed
from eedi.run_log import log, setup_logging

CODE = Path(__file__).resolve().parents[2]  # the code dataset this driver ships in
RERUN_ENV = "KAGGLE_IS_COMPETITION_RERUN"


class StageFailed(Exception):
    pass


class StageTimedOut(StageFailed):
    pass


# After SIGTERM, a stage's processes get this long to exit before SIGKILL.
KILL_GRACE_S = 15


def is_rerun(test_csv: Path, public_questions: int = PUBLIC_TEST_QUESTIONS, env=None) -> bool:
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


def _kill(procs) -> None:
    """SIGTERM each command's whole process group (vLLM's workers, GPU shard copies), then
    SIGKILL what is left after KILL_GRACE_S."""
    for _, proc, _ in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + KILL_GRACE_S
    for _, proc, _ in procs:
        try:
            proc.wait(timeout=max(end - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_group(commands: list[tuple[list[str], dict]], cwd: Path, env: dict,
              timeout_s: float | None = None) -> None:
    """Run the commands in parallel (each stage script's output shown on stderr as it comes,
    so a notebook cell shows it); StageFailed if any exits non-zero, StageTimedOut (all of
    them killed, their children too) if they are not all done within timeout_s."""
    deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
    procs = []
    for argv, extra in commands:
        log.info("$ %s", " ".join(argv))
        proc = subprocess.Popen(argv, cwd=cwd, env={**env, **extra}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1,
                                start_new_session=True)  # its own group: killed whole
        reader = threading.Thread(target=_echo, args=(proc.stdout, "  | "), daemon=True)
        reader.start()
        procs.append((argv, proc, reader))
    failed = []
    for argv, proc, reader in procs:
        try:
            rc = proc.wait(timeout=None if deadline is None else
                           max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            _kill(procs)
            for _, _, r in procs:
                r.join()
            raise StageTimedOut(f"killed after its allowance of {timeout_s:.0f} s") from None
        reader.join()
        if rc != 0:
            failed.append(f"{Path(argv[1]).name} exited {rc}")
    if failed:
        raise StageFailed("; ".join(failed))


def partial_commands(groups: list[list[tuple[list[str], dict]]]):
    """A killed rerank's commands with --partial: its finished chunks put to use."""
    return [[([*argv, "--partial"], extra) for argv, extra in group] for group in groups]


def keep_submission_on_failure(root: Path, out: Path) -> bool:
    """For the notebook's run cell when the driver itself raised: True (keep OUT, do not fail
    the notebook) on the hidden-test rerun when OUT was written; False on the public run,
    where a failure should show."""
    try:
        rerun = is_rerun(find_competition(root) / "test.csv")
    except Exception:  # cannot even read test.csv: only Kaggle's flag can tell
        rerun = bool(os.environ.get(RERUN_ENV))
    if rerun and out.is_file():
        log.error("the driver failed on the hidden-test rerun; keeping %s, written before", out)
        return True
    return False


def resolve(root: Path, plan: dict, plan_dir: Path, work: Path) -> Paths:
    """Every input the plan needs, found before anything runs (one MissingInput if not)."""
    paths = Paths(code=CODE, data=find_competition(root, plan["competition"]), plan=plan_dir,
                  run=work / "run")
    for step in steps_of(plan):
        if step.kind == "embed" and step.weights_dataset:
            paths.models[step.weights_dataset] = find_weights(root, step.model, step.weights_dataset)
        elif step.kind == "rerank":
            if plan["engine"] == "vllm":
                site = os.environ.get(VLLM_SITE_ENV)
                if not site:
                    raise MissingInput("the plan reranks with vLLM, which Kaggle's image lacks, "
                                       "and it was not installed: attach the vLLM wheels dataset "
                                       "(make push-vllm-wheels) to the notebook")
                paths.vllm_site = Path(site)
            folder = find_weights(root, step.model, step.weights_dataset)
            base = (plan.get("reranker") or {})
            if base.get("self_contained"):  # merged + quantised: the folder is the model
                paths.models[step.weights_dataset] = folder
                continue
            if base.get("kaggle_model"):
                base_dir = find_kaggle_model(root, base["kaggle_model"])
            elif base.get("base_folder"):
                base_dir = find_named_folder(root, base["base_folder"])
            else:
                raise MissingInput(f"the plan names no base model for reranker {step.model!r}")
            paths.models[step.weights_dataset] = with_base_model(folder, base_dir,
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
                          Estimates.from_plan(plan.get("estimates")), already_s=notebook_elapsed())
        paths = resolve(root, plan, plan_dir, work)
    except (MissingInput, ValueError) as e:  # an input absent, or a plan this code cannot read
        raise click.ClickException(str(e)) from None

    rerun = is_rerun(paths.data / "test.csv", plan["public_test_questions"])
    env = {**os.environ, "RUN_LOG": str(paths.run / "run_log.jsonl"), "PYTHONUNBUFFERED": "1"}
    report = {"rerun": rerun, "budget_s": guard.budget_s, "final": plan["final"],
              "inputs": {"data": str(paths.data), "plan": str(plan_dir),
                         **{k: str(v) for k, v in paths.models.items()}}, "stages": [],
              "before_driver_s": round(guard.elapsed(), 1)}
    log.info("%s: %s; budget %.0f s; plan %s", "hidden-test rerun" if rerun else "public run",
             paths.data, guard.budget_s, plan_dir)
    log.info("time guard: %.0f s spent before the driver (the installs), counted in the budget",
             guard.elapsed())

    def record(entry):
        report["stages"].append(entry)
        report["elapsed_s"] = round(guard.elapsed(), 1)
        write_json(report, log_json)  # after every stage: a killed notebook still tells

    def timed(groups, timeout_s=None):  # the groups in turn, within timeout_s all told
        start = time.time()
        for group in groups:
            left = None if timeout_s is None else timeout_s - (time.time() - start)
            run_group(group, work, env, left)
        return round(time.time() - start, 2)

    def last_resort(reason: str) -> None:
        """The rerun with no ranking at all: Kaggle's sample submission, so the run scores."""
        sample = paths.data / "sample_submission.csv"
        if not rerun or not sample.is_file():
            raise click.ClickException(reason)
        shutil.copyfile(sample, out)
        report["submitted"] = "sample_submission.csv"
        record({"stage": "submission", "ranking": None, "status": "sample", "reason": reason})
        log.error("%s: wrote Kaggle's sample_submission.csv as %s", reason, out)

    work.mkdir(parents=True, exist_ok=True)
    try:
        seconds = timed([[(reshape_command(paths), {})]], KAGGLE_LIMIT_S - guard.projected(["submission"], 0))
    except StageFailed as e:
        record({"stage": "reshape", "status": "failed", "reason": str(e)})
        return last_resort(f"reshape failed: {e}")
    record({"stage": "reshape", "status": "ok", "seconds": seconds})
    rows = len(pd.read_parquet(paths.run / "test_long.parquet", columns=["QuestionId_Answer"]))
    report["test_rows"] = rows

    def submit(ranking: str) -> float:
        return timed([[(submission_command(paths, ranking, out.resolve()), {})]])

    steps = steps_of(plan)
    made: list[str] = []
    written = None  # the ranking OUT holds now
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
        later = [s.kind for s in steps[i + 1:] if not set(s.inputs) & lost] + ["submission"]
        projected = guard.projected([step.kind, *later], rows)
        # nothing submittable yet: only Kaggle's hard limit stops this stage (the budget's
        # margin is for what comes after a submission exists)
        allowance = (guard.allowance(later, rows) if written is not None else
                     KAGGLE_LIMIT_S - guard.projected(["submission"], rows))
        entry.update(projected_s=round(projected, 1), allowance_s=round(allowance, 1))
        if made and projected > guard.budget_s:
            lost.add(step.ranking)
            record({**entry, "status": "skipped",
                    "reason": f"projected {projected:.0f} s > budget {guard.budget_s:.0f} s"})
            log.warning("time guard: skipping %s (projected %.0f s for %s > budget %.0f s)",
                        step.ranking, projected, "+".join([step.kind, *later]), guard.budget_s)
            continue
        groups = stage_commands(step, plan, paths)
        status = "ok"
        try:
            seconds = timed(groups, allowance)
        except StageTimedOut as e:
            log.error("%s: %s", step.ranking, e)
            seconds = None
            if step.kind == "rerank":  # its finished chunks still rerank those rows
                try:
                    timed(partial_commands(groups), KILL_GRACE_S * 20)
                    status = "partial"
                except StageFailed as e2:
                    log.error("%s: no partial ranking either (%s)", step.ranking, e2)
            if status != "partial":
                lost.add(step.ranking)
                record({**entry, "status": "timeout", "reason": str(e)})
                continue
        except StageFailed as e:
            record({**entry, "status": "failed", "reason": str(e)})
            if not rerun:
                raise click.ClickException(f"stage {step.ranking} failed: {e}") from None
            lost.add(step.ranking)
            log.error("%s failed on the rerun (%s): going on without it", step.ranking, e)
            continue
        made.append(step.ranking)
        record({**entry, "status": status, "seconds": seconds})
        log.info("%s %s in %s s (estimated %.1f s); %.0f s elapsed", step.ranking, status,
                 seconds, entry["estimate_s"], guard.elapsed())
        if written is None:  # a submission now, before anything slow: the run scores already
            try:
                seconds = submit(step.ranking)
                written = step.ranking
                record({"stage": "submission", "ranking": written, "status": "ok",
                        "seconds": seconds, "early": True})
            except StageFailed as e:
                record({"stage": "submission", "ranking": step.ranking, "status": "failed",
                        "reason": str(e), "early": True})
                if not rerun:
                    raise click.ClickException(f"the submission from {step.ranking} failed: "
                                               f"{e}") from None

    # the best ranking made, in the plan's fallback order; on the rerun, the next one if its
    # submission fails, and OUT as written if every one does
    for final in [r for r in plan["fallback"] if r in made]:
        if final == written:
            break
        if final != plan["final"]:
            log.warning("submitting %s instead of %s", final, plan["final"])
        try:
            seconds = submit(final)
        except StageFailed as e:
            record({"stage": "submission", "ranking": final, "status": "failed", "reason": str(e)})
            if not rerun:
                raise click.ClickException(f"the submission from {final} failed: {e}") from None
            continue
        written = final
        record({"stage": "submission", "ranking": final, "status": "ok", "seconds": seconds})
        break
    if written is None:
        return last_resort("no ranking of test was made")
    report["submitted"] = written
    record({"stage": "done", "ranking": written, "status": "ok"})
    log.info("wrote %s from %s in %.0f s", out, written, guard.elapsed())


if __name__ == "__main__":
    main()
