"""Publish the notebook's plan (make kernel's KERNEL_DIR/plan/) as a Kaggle dataset.

\b
Reads  PLAN_DIR/                 kernel.json, the fusion/boost JSONs FINAL applies, and the
                                 dataset-metadata.json make kernel wrote (its id: USER/eedi-plan)
       Kaggle credentials
Writes PLAN_DIR.pushed.json      beside KERNEL_DIR (make kernel rebuilds the folder whole):
                                 dataset, time, message; a listed dataset gets a new version
                                 next time

The first push runs `kaggle datasets create -p PLAN_DIR --dir-mode zip`, later ones
`kaggle datasets version -p PLAN_DIR -m MESSAGE --dir-mode zip`. --dry-run prints the command
and the files and uploads nothing.
"""

import json
import shlex
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.errors import DataError
from eedi.kaggle.cli import require_credentials
from eedi.kaggle.dataset import METADATA, listing, plan_push, run_push
from eedi.kaggle.plan import read_plan
from eedi.run_log import log, setup_logging, step_timer


@click.command(help=__doc__)
@click.option("--plan-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="make kernel's KERNEL_DIR/plan.")
@click.option("--marker", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The record of pushes, outside KERNEL_DIR.")
@click.option("--message", help="Version notes [default: 'plan for FINAL'].")
@click.option("--dry-run", is_flag=True, help="Print the kaggle command and the files only.")
def main(plan_dir: Path, marker: Path, message: str | None, dry_run: bool):
    setup_logging()
    plan_dir, marker = plan_dir.resolve(), marker.resolve()
    if plan_dir in marker.parents:
        raise click.BadParameter(f"{marker} is inside {plan_dir}, which make kernel replaces",
                                 param_hint="--marker")
    try:
        plan = read_plan(plan_dir / "kernel.json")
        ref = json.loads((plan_dir / METADATA).read_text())["id"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(plan_dir, None, None, f"not a plan folder from make kernel ({e!r})") from None
    if not dry_run:
        log.info("Kaggle credentials from %s", require_credentials())
    push = plan_push(ref, plan_dir, marker, "auto", message or f"plan for {plan['final']}")
    with step_timer("push-plan", dataset=ref, action=push.action, dry_run=dry_run):
        if dry_run:
            click.echo(shlex.join(push.command))
            click.echo(listing(plan_dir))
            return
        run_push(push, {"final": plan["final"]})
        log.info("pushed the plan as https://www.kaggle.com/datasets/%s; wrote %s", ref, marker)


if __name__ == "__main__":
    main()
