"""eedi.experiments.notify: the user's command gets the line; its failure never raises."""

from eedi.experiments.notify import duration_text, notify


def test_the_command_gets_one_line_on_stdin(tmp_path):
    out = tmp_path / "notes.txt"
    assert notify(f"cat >> {out}", "row a: ok MAP@25 0.3012")
    assert notify(f"cat >> {out}", "queue q: 1 rows, 1 ok\n")
    assert out.read_text() == "row a: ok MAP@25 0.3012\nqueue q: 1 rows, 1 ok\n"


def test_a_failing_missing_or_hanging_command_is_only_logged(tmp_path, caplog):
    assert not notify("exit 3", "x")
    assert not notify("no-such-command-anywhere", "x")
    assert not notify("sleep 5", "x", timeout_s=0.2)
    assert not notify("", "x") and not notify(None, "x")
    assert "exited 3" in caplog.text and "failed" in caplog.text


def test_durations_read_at_a_glance():
    assert [duration_text(s) for s in (7, 95, 3725)] == ["7s", "1m35s", "1h02m"]
