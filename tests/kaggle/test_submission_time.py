"""scripts/kaggle/submission_time.py and eedi/kaggle/submissions.py: the poll follows the newest
submission (or the one with the recorded description) until its SubmissionStatus enum is
COMPLETE or ERROR, never a string; elapsed = now - its date, read as UTC whatever the local
time zone; --once and --max-wait end without sleeping. The API is a fake object returning
kagglesdk's own ApiSubmission objects, as competition_submissions does."""

import datetime
import json
import time

import pytest
from kagglesdk.competitions.types.competition_api_service import ApiSubmission
from kagglesdk.competitions.types.submission_status import SubmissionStatus

import submission_time
from eedi.defaults import COMPETITION
from eedi.kaggle.submissions import newest, wait_for_submission

UTC = datetime.timezone.utc


def submission(ref, minutes_ago, status, description="", score=None, error=None):
    s = ApiSubmission()
    s.ref = ref
    # naive UTC, as kagglesdk parses "2024-12-01T10:00:00.000Z"
    s.date = (datetime.datetime.now(UTC) - datetime.timedelta(minutes=minutes_ago)).replace(
        tzinfo=None)
    s.status = status
    s.description = description
    if score is not None:
        s.public_score = score
    if error is not None:
        s.error_description = error
    return s


class FakeApi:
    """competition_submissions returns the next list of `pages` (the last one repeats)."""

    def __init__(self, *pages):
        self.pages, self.calls = list(pages), []

    def competition_submissions(self, competition):
        self.calls.append(competition)
        return self.pages[min(len(self.calls), len(self.pages)) - 1]


@pytest.fixture
def local_time_zone(monkeypatch):
    """A local time zone far from UTC, so reading kagglesdk's naive UTC date as local time
    would be off by hours."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_newest_by_date_and_by_description():
    old = submission(1, 90, SubmissionStatus.COMPLETE, "a")
    new = submission(2, 5, SubmissionStatus.PENDING, "b")
    assert newest([old, new]).ref == 2
    assert newest([new, old], description="a").ref == 1
    assert newest([old], description="zzz") is None and newest(None) is None


def test_polls_until_complete_and_measures_from_the_date(local_time_zone):
    api = FakeApi([submission(7, 30, SubmissionStatus.PENDING)],
                  [submission(7, 31, SubmissionStatus.PENDING)],
                  [submission(7, 32, SubmissionStatus.COMPLETE, score="0.51")])
    slept = []
    waited = wait_for_submission(api, COMPETITION, None, interval=60, max_wait=3600,
                                 sleep=slept.append)
    assert waited.status is SubmissionStatus.COMPLETE and waited.polls == 3
    assert slept == [60, 60] and api.calls == [COMPETITION] * 3
    assert 32 * 60 - 5 < waited.elapsed_s < 32 * 60 + 5  # not shifted by the local zone


def test_max_wait_ends_the_poll_still_pending():
    api = FakeApi([submission(7, 1, SubmissionStatus.PENDING)])
    ticks = iter(datetime.datetime(2024, 12, 1, 10, 0, s, tzinfo=UTC) for s in range(0, 60, 5))
    slept = []
    waited = wait_for_submission(api, COMPETITION, None, interval=5, max_wait=12,
                                 sleep=slept.append, now=lambda: next(ticks))
    assert waited.status is SubmissionStatus.PENDING
    assert slept == [5, 2]  # never sleeps past max_wait


def test_a_string_status_is_an_error_not_a_poll_forever():
    s = submission(7, 3, SubmissionStatus.PENDING)
    s._status = "complete"  # what kaggle < 1.7 returned
    with pytest.raises(Exception, match="'complete' is a str, not kagglesdk's SubmissionStatus"):
        wait_for_submission(FakeApi([s]), COMPETITION, None, 0, 10, sleep=lambda _: None)


# --------------------------------------------------------------------------- the script

@pytest.fixture
def credentials(home, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "fake-key")


def use_api(monkeypatch, api):
    monkeypatch.setattr(submission_time, "kaggle_api", lambda: api)
    return api


def test_complete_writes_the_elapsed_time(run_cli, credentials, monkeypatch, tmp_path):
    api = use_api(monkeypatch, FakeApi(
        [submission(8, 2, SubmissionStatus.PENDING, "me/eedi-submit v7"),
         submission(5, 600, SubmissionStatus.COMPLETE, "older")],
        [submission(8, 125 / 60, SubmissionStatus.COMPLETE, "me/eedi-submit v7", score="0.48")]))
    out = tmp_path / "time.json"
    result = run_cli(submission_time.main, ["--interval", 0, "--out", out])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["ref"] == 8 and written["status"] == "COMPLETE" and written["polls"] == 2
    assert 120 <= written["elapsed_s"] <= 135 and written["public_score"] == "0.48"
    assert "COMPLETE after 0:02:" in result.output and len(api.calls) == 2


def test_follows_the_recorded_submission(run_cli, credentials, monkeypatch, tmp_path):
    record = tmp_path / "kernel.pushed.json"
    record.write_text(json.dumps({"submissions": [{"message": "first"}, {"message": "mine"}]}))
    use_api(monkeypatch, FakeApi([submission(9, 1, SubmissionStatus.PENDING, "someone else's"),
                                  submission(8, 50, SubmissionStatus.COMPLETE, "mine")]))
    out = tmp_path / "time.json"
    result = run_cli(submission_time.main, ["--record", record, "--once", "--out", out])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["ref"] == 8


def test_once_while_pending_writes_nothing(run_cli, credentials, monkeypatch, tmp_path):
    api = use_api(monkeypatch, FakeApi([submission(8, 3, SubmissionStatus.PENDING, "x")]))
    out = tmp_path / "time.json"
    result = run_cli(submission_time.main, ["--once", "--out", out])
    assert result.exit_code == 0 and "still PENDING after 0:03:" in result.output
    assert not out.exists() and len(api.calls) == 1
    result = run_cli(submission_time.main, ["--max-wait", 0, "--out", out])
    assert result.exit_code == 1 and "gave up" in result.output and not out.exists()


def test_an_errored_submission_is_recorded_and_fails(run_cli, credentials, monkeypatch, tmp_path):
    use_api(monkeypatch, FakeApi([submission(8, 40, SubmissionStatus.ERROR, "x",
                                             error="Notebook Timeout")]))
    out = tmp_path / "time.json"
    result = run_cli(submission_time.main, ["--once", "--out", out])
    assert result.exit_code == 1 and "errored: Notebook Timeout" in result.output
    assert json.loads(out.read_text())["status"] == "ERROR"


def test_dry_run_and_credentials(run_cli, home, monkeypatch, tmp_path):
    def no_api():
        raise AssertionError("a dry run must not reach the API")
    monkeypatch.setattr(submission_time, "kaggle_api", no_api)
    result = run_cli(submission_time.main, ["--dry-run", "--out", tmp_path / "t.json"])
    assert result.exit_code == 0 and f"competition_submissions('{COMPETITION}')" in result.output
    result = run_cli(submission_time.main, ["--out", tmp_path / "t.json"])
    assert result.exit_code == 1 and "no Kaggle credentials" in result.output
