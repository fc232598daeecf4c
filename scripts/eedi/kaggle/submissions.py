"""How long a competition submission takes, from the kaggle API's list of submissions.

    api = KaggleApi(); api.authenticate()
    result = wait_for_submission(api, "eedi-mining-misconceptions-in-mathematics",
                                 description="me/eedi-submit v7 (51e077f)", interval=60,
                                 max_wait=9 * 3600)
    result.status          # SubmissionStatus.COMPLETE, .ERROR, or .PENDING (time ran out)
    result.elapsed_s       # now - the submission's date: queueing + the notebook's run

Kaggle does not show a submission's run time; the known way (Eedi notebooks did this) is to
poll `competition_submissions` and take now - `date` once the status is complete, so the
time is exact to within `interval`. Since kaggle 1.7 the status is kagglesdk's
SubmissionStatus enum, not the string "complete": it is compared as the enum, and anything
else is an error (a string would never equal the enum, and the poll would never end).
`date` comes naive, in UTC (kagglesdk strips the "Z"), so it is read as UTC.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Callable

import click
from kagglesdk.competitions.types.submission_status import SubmissionStatus

FINISHED = (SubmissionStatus.COMPLETE, SubmissionStatus.ERROR)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def as_utc(date: datetime.datetime) -> datetime.datetime:
    """kagglesdk's dates are naive UTC; an aware one is converted."""
    if date.tzinfo is None:
        return date.replace(tzinfo=datetime.timezone.utc)
    return date.astimezone(datetime.timezone.utc)


def status_of(submission) -> SubmissionStatus:
    status = submission.status
    if not isinstance(status, SubmissionStatus):
        raise click.ClickException(
            f"submission {submission.ref}: status {status!r} is a {type(status).__name__}, not "
            "kagglesdk's SubmissionStatus: this needs the kaggle package >= 1.7")
    return status


def newest(submissions, description: str | None = None):
    """The latest submission by date (with this description when given), or None."""
    found = [s for s in submissions or [] if s is not None
             and (description is None or s.description == description)]
    return max(found, key=lambda s: as_utc(s.date), default=None)


@dataclasses.dataclass
class Waited:
    submission: object
    status: SubmissionStatus
    elapsed_s: float        # now - date when last seen
    polls: int
    seen_at: datetime.datetime

    def record(self, competition: str) -> dict:
        s = self.submission
        return {"competition": competition, "ref": s.ref, "description": s.description,
                "status": self.status.name, "date": as_utc(s.date).isoformat(),
                "seen_at": self.seen_at.isoformat(timespec="seconds"),
                "elapsed_s": round(self.elapsed_s, 1),
                "elapsed": str(datetime.timedelta(seconds=round(self.elapsed_s))),
                "public_score": s.public_score, "error": s.error_description or None,
                "polls": self.polls}


def wait_for_submission(api, competition: str, description: str | None, interval: float,
                        max_wait: float, sleep: Callable[[float], None] = time.sleep,
                        now: Callable[[], datetime.datetime] = utc_now) -> Waited:
    """Poll until the newest submission (with `description`) is COMPLETE or ERROR, or
    max_wait seconds have passed (then its status is still PENDING). max_wait 0: one look."""
    start, polls = now(), 0
    while True:
        polls += 1
        submission = newest(api.competition_submissions(competition), description)
        if submission is None:
            which = f" described {description!r}" if description else ""
            raise click.ClickException(f"no submission{which} to {competition}")
        status, seen = status_of(submission), now()
        waited = Waited(submission, status, (seen - as_utc(submission.date)).total_seconds(),
                        polls, seen)
        left = max_wait - (seen - start).total_seconds()
        if status in FINISHED or left <= 0:
            return waited
        sleep(min(interval, left))
