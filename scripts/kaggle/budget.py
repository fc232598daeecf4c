"""Project the Kaggle notebook's run time on the hidden test, stage by stage, against the limit.

\b
Reads  PLAN         KERNEL_DIR/plan/kernel.json (make kernel): the notebook's stages, its
                    budget and the stated per-stage defaults (fixed s + s per test row)
       RUN_LOG      RUN/run_log.jsonl: seconds per row measured on this machine (same code)
       GPU_TIMINGS  (optional) JSON you fill after one run on the target GPU, e.g. from the
                    notebook's infer_log.json: {"rerank": {"fixed_s": 600, "per_row_s": 1.1}}
Writes stdout       a table: per stage its fixed and per-row seconds, where they come from
                    (gpu file > measured here > assumed default), the projected seconds on
                    TEST_ROWS rows; the total, the headroom against the budget and Kaggle's 9 h,
                    and with a reranker the largest TOP_N that fits

    python scripts/kaggle/budget.py --plan submissions/kernel/plan/kernel.json \\
        --run-log data/runs/<ds>/run_log.jsonl --test-rows 5600
"""

import json
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.kaggle.plan import read_plan, steps_of
from eedi.kaggle.time_budget import (DEFAULT_ESTIMATES, DEFAULT_HIDDEN_TEST_ROWS, KAGGLE_LIMIT_S,
                                     largest_top_n, projection, rates_from_run_log)
from eedi.run_log import setup_logging

FILE = click.Path(dir_okay=False, path_type=Path)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"


@click.command(help=__doc__)
@click.option("--plan", "plan_path", type=FILE, required=True, help="The notebook's kernel.json.")
@click.option("--run-log", type=FILE, help="This machine's run_log.jsonl (measured rates).")
@click.option("--gpu-timings", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON {stage: {fixed_s, per_row_s}} measured on the target GPU.")
@click.option("--test-rows", type=click.IntRange(1), default=DEFAULT_HIDDEN_TEST_ROWS,
              show_default=True, help="Wrong-answer rows of the hidden test (assumed: see "
              "eedi/kaggle/time_budget.py).")
@click.option("--top-n", type=click.IntRange(1), help="The reranker's candidates per row the "
              "rerank timings were taken at [the plan's, else the registry's 25].")
def main(plan_path, run_log, gpu_timings, test_rows, top_n):
    setup_logging()
    try:
        plan = read_plan(plan_path)
    except (OSError, ValueError) as e:
        raise click.ClickException(f"{plan_path}: {e}") from None
    kinds = ["reshape", *dict.fromkeys(s.kind for s in steps_of(plan)), "submission"]
    sources = []
    if gpu_timings:
        try:
            gpu = {k: (float(v["fixed_s"]), float(v["per_row_s"]))
                   for k, v in json.loads(gpu_timings.read_text()).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise click.ClickException(f"{gpu_timings}: want {{stage: {{fixed_s, per_row_s}}}} "
                                       f"({e!r})") from None
        sources.append(("gpu file", gpu))
    if run_log:
        # a local run's per-row rate, with the default's fixed part (model loading differs)
        measured = {k: (DEFAULT_ESTIMATES.get(k, (0.0, 0.0))[0], r)
                    for k, r in rates_from_run_log(run_log).items()}
        sources.append(("measured here", measured))
    sources.append(("assumed default", {k: (float(v["fixed_s"]), float(v["per_row_s"]))
                                        for k, v in plan["estimates"].items()}))
    rows = projection(kinds, test_rows, sources)
    total = sum(r["seconds"] for r in rows)
    budget = float(plan["budget_s"])

    click.echo(f"{plan['final']} on {test_rows} hidden-test rows (assumed unless given)")
    click.echo(f"{'stage':<11} {'fixed s':>8} {'s/row':>8} {'seconds':>9}  source")
    for r in rows:
        click.echo(f"{r['stage']:<11} {r['fixed_s']:>8.0f} {r['per_row_s']:>8.4f} "
                   f"{r['seconds']:>9.0f}  {r['source']}")
    click.echo(f"total {_hours(total)}; the notebook's budget {_hours(budget)} -> headroom "
               f"{_hours(budget - total)}; Kaggle's limit {_hours(KAGGLE_LIMIT_S)} -> "
               f"{_hours(KAGGLE_LIMIT_S - total)}")
    rerank = [r for r in rows if r["stage"] == "rerank"]
    if rerank:
        at = top_n or plan.get("top_n") or 25
        r = rerank[0]
        fit = largest_top_n(budget, total - r["seconds"], r["fixed_s"], r["per_row_s"] / at,
                            test_rows)
        click.echo(f"rerank timed at top {at}: the largest TOP_N that fits the budget is {fit}")


if __name__ == "__main__":
    main()
