"""Follow a competition submission until it is scored, and record how long it took.

\b
Reads  the competition's submissions (the kaggle Python API's competition_submissions)
       RECORD (optional; kaggle_notebook.py's KERNEL_DIR.pushed.json): the description of the
       last `submit`, to follow that submission rather than whichever is newest
       Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes OUT (JSON), once the submission is complete or errored: ref, description, status,
       date, elapsed_s (now - its date: queueing plus the notebook's run, to within
       --interval), public_score, error, polls

Every --interval seconds it looks at the newest submission (with --description, or RECORD's
last one); it stops when that one's status (kagglesdk's SubmissionStatus enum) is COMPLETE or
ERROR. An errored submission is recorded and exits 1. --once looks once: still pending, it
says so and exits 0 without writing; past --max-wait it exits 1 without writing. --dry-run
prints what it would poll and touches no network.
"""

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.defaults import COMPETITION
from eedi.files import write_json
from eedi.kaggle.cli import require_credentials
from eedi.kaggle.kernel import read_record
from eedi.kaggle.submissions import SubmissionStatus, wait_for_submission
from eedi.run_log import log, setup_logging, step_timer


def kaggle_api():
    """The kaggle package's API client, authenticated (tests replace this function)."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    api = KaggleApi()
    api.authenticate()
    return api


@click.command(help=__doc__)
@click.option("--competition", default=COMPETITION, show_default=True)
@click.option("--description", help="Follow the newest submission with this description "
              "[default: RECORD's last submit, else the newest submission].")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path),
              help="kaggle_notebook.py's record of pushes and submissions.")
@click.option("--interval", type=click.FloatRange(min=0), default=60, show_default=True,
              help="Seconds between looks.")
@click.option("--max-wait", type=click.FloatRange(min=0), default=10 * 3600, show_default=True,
              help="Give up after this many seconds (Eedi's notebooks may run 9 h).")
@click.option("--once", is_flag=True, help="Look once (the same as --max-wait 0).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The JSON written when the submission is finished.")
@click.option("--dry-run", is_flag=True, help="Print what would be polled; no network.")
def main(competition: str, description: str | None, record: Path | None, interval: float,
         max_wait: float, once: bool, out: Path, dry_run: bool):
    setup_logging()
    if description is None and record is not None:
        submissions = read_record(record).get("submissions", [])
        description = submissions[-1]["message"] if submissions else None
    which = f"described {description!r}" if description else "the newest"
    max_wait = 0 if once else max_wait
    if dry_run:
        click.echo(f"api.competition_submissions({competition!r}): {which} submission, every "
                   f"{interval:g} s for up to {max_wait:g} s, until COMPLETE or ERROR -> {out}")
        return
    require_credentials()
    with step_timer("submission-time", competition=competition, description=description) as step:
        waited = wait_for_submission(kaggle_api(), competition, description, interval, max_wait)
        result = waited.record(competition)
        step.update(status=result["status"], elapsed_s=result["elapsed_s"])
        if waited.status == SubmissionStatus.PENDING:
            message = (f"submission {result['ref']} ({result['description']!r}) is still "
                       f"PENDING after {result['elapsed']}")
            if once:
                click.echo(message)
                return
            raise click.ClickException(f"{message}; gave up after --max-wait {max_wait:g} s")
        write_json(result, out)
        log.info("wrote %s", out)
    click.echo(f"submission {result['ref']} ({result['description']!r}): {result['status']} "
               f"after {result['elapsed']} (score {result['public_score']})")
    if waited.status == SubmissionStatus.ERROR:
        raise click.ClickException(f"submission {result['ref']} errored: {result['error']}")


if __name__ == "__main__":
    main()
