"""make experiments: a plan's rows run unattended through GNU parallel, side by side, resumable,
one summary table, NOTIFY told as each row ends and when the queue ends."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO, generate

pytestmark = pytest.mark.skipif(shutil.which("parallel") is None,
                                reason="GNU parallel is not installed (apt-get install parallel)")

# Every row: 2 folds of a small generated dataset, MiniLM fine-tuned for a few steps; the rows'
# own settings come from the plan. TRAIN_ARGS here is the queue's (the baseline's).
QUEUE_TRAIN_ARGS = "TRAIN_ARGS=--epochs 1 --batch-size 16 --lr 1e-4 --max-steps 3"


def command(tmp_path, plan, jobs, *extra):
    data = tmp_path / "data"
    if not data.exists():
        generate(data, seed=3, n_train=60, n_test=5)
    return ["make", "-C", str(REPO), "experiments", f"PLAN={plan}", f"JOBS={jobs}",
            f"DATA_DIR={data}", "N_FOLDS=2", QUEUE_TRAIN_ARGS, f"RUNS_ROOT={tmp_path / 'runs'}",
            f"MODELS_ROOT={tmp_path / 'models'}", f"PY={sys.executable}", "SETUP=",
            f"NOTIFY=cat >> {tmp_path / 'notes.txt'}", *extra]


def write_plan(tmp_path, text):
    plan = tmp_path / "night.tsv"
    plan.write_text(text.replace("|", "\t"))
    return plan


def test_a_bad_plan_is_one_clear_error_and_starts_nothing(tmp_path):
    plan = write_plan(tmp_path, "name|TOP_N|TOP_K\nbaseline||\nwide|50|100\n")
    out = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "night.tsv, column TOP_K, row 2: TOP_K differs between rows" in errors[0]
    runs = tmp_path / "runs"
    assert not list(runs.rglob("rankings")) and not (tmp_path / "models").exists()
    # the night's record says why nothing ran: refused.json, and NOTIFY's one line
    (refused,) = runs.rglob("experiments/night/*")
    assert refused.name == "refused.json" and "TOP_K differs" in json.loads(refused.read_text())["error"]
    assert (tmp_path / "notes.txt").read_text().startswith("queue night: refused, nothing ran: ")


@pytest.mark.parametrize("cell", ["TRAIN_ARGS=--epochs 1; touch {pwned}",
                                  "TRAIN_ARGS=--epochs 1 # ; touch {pwned}",
                                  "GOALS=clean"])
def test_a_plan_with_a_shell_or_clean_cell_is_refused_before_any_row_runs(tmp_path, cell):
    """Issue 38: a `;` cell would run its second command, a `#` cut the line, a GOALS cell
    `clean` wipe the run; each is refused by name, and nothing it holds is executed."""
    pwned = tmp_path / "pwned"
    column, value = cell.format(pwned=pwned).split("=", 1)
    plan = write_plan(tmp_path, f"name|{column}\nbaseline|\nbad|{value}\n")
    out = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"column {column}, row 2" in errors[0], out.stderr[-2000:]
    runs = tmp_path / "runs"
    assert not pwned.exists() and not list(runs.rglob("rankings"))
    assert [p.name for p in runs.rglob("experiments/night/*")] == ["refused.json"]


def test_notify_runs_as_written_with_the_rows_facts_in_its_environment(tmp_path):
    """NOTIFY on make's command line keeps its $VAR (Make used to expand $S to nothing, leaving
    'OME_VAR'); the command reads the row's name, status, MAP@25 and log from its environment."""
    plan = write_plan(tmp_path, "name|EVALUATE|FINAL\nbaseline|tfidf|tfidf\n")
    notes = tmp_path / "told.txt"
    notify = (f'NOTIFY=echo "$SOME_VAR|$EXPERIMENT_ROW|$EXPERIMENT_STATUS|$EXPERIMENT_MAP|'
              f'$EXPERIMENT_LOG" >> {notes}')
    out = subprocess.run(command(tmp_path, plan, 1, notify), capture_output=True, text=True,
                         env={**os.environ, "SOME_VAR": "from-the-shell"})
    assert out.returncode == 0, out.stderr[-3000:]
    row, queue = notes.read_text().splitlines()
    some_var, name, status, map25, log = row.split("|")
    assert (some_var, name, status) == ("from-the-shell", "baseline", "ok")
    assert 0 < float(map25) <= 1 and log.endswith("logs/baseline.log")
    assert queue.split("|")[:3] == ["from-the-shell", "", "ended"] and queue.endswith("summary.md")


def test_a_queue_killed_mid_run_finishes_on_rerun_without_redoing_finished_rows(tmp_path):
    """Three rows: the baseline, another TRAIN_ARGS (its own MiniLM, keyed by its settings) and
    another BOOST_ARGS (sharing the baseline's MiniLM). Killed while the second trains, then
    re-run two at a time: the baseline's model and record stay untouched, the summary has the
    three rows with the paired intervals, NOTIFY one line a row and one for the queue."""
    plan = write_plan(tmp_path, "name|TRAIN_ARGS|BOOST_ARGS\n"
                                "baseline||\n"
                                "batch8|--epochs 1 --batch-size 8 --lr 1e-4 --max-steps 3|\n"
                                "balanced||--objective balanced\n")
    notes = tmp_path / "notes.txt"
    queue = subprocess.Popen(command(tmp_path, plan, 1), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900

    def joblog() -> str:  # GNU parallel's record of the rows that ended
        return "".join(p.read_text() for p in (tmp_path / "runs").glob("*/experiments/night/joblog-*.tsv"))
    while "--row baseline" not in joblog():
        assert queue.poll() is None and time.time() < deadline, "the queue ended before the kill"
        time.sleep(0.5)
    os.killpg(queue.pid, signal.SIGTERM)  # as a logout or Ctrl-C would: the whole queue
    queue.wait(60)

    run = next((tmp_path / "runs").glob("data-*"))
    qdir = run / "experiments" / "night"
    assert notes.read_text().startswith("baseline: ok") and "batch8" not in notes.read_text()
    assert json.loads((qdir / "results" / "baseline.json").read_text())["status"] == "ok"
    assert not (qdir / "results" / "batch8.json").exists()
    record = (qdir / "results" / "baseline.json").read_bytes()
    models = tmp_path / "models" / run.name
    (baseline_model,) = [p for p in models.iterdir() if p.name.startswith("minilm~")]
    stats = baseline_model / "QuestionId-2-42" / "fold0" / "train.json"
    stamp = stats.stat().st_mtime_ns

    out = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-4000:]
    assert stats.stat().st_mtime_ns == stamp                        # not trained again
    assert (qdir / "results" / "baseline.json").read_bytes() == record  # the row not re-run
    assert len([p for p in models.iterdir() if p.name.startswith("minilm~")]) == 2

    table = pd.read_csv(qdir / "summary.csv", keep_default_na=False)
    assert list(table["row"]) == ["baseline", "batch8", "balanced"]
    assert set(table["status"]) == {"ok"}
    assert list(table["settings"]) == ["baseline", "TRAIN_ARGS=--epochs 1 --batch-size 8 --lr 1e-4 --max-steps 3",
                                       "BOOST_ARGS=--objective balanced"]
    assert table.loc[0, "vs baseline (95%)"] == ""
    assert all(v.count("[") == 1 for v in table["vs baseline (95%)"][1:])
    assert (table["map@25"].astype(float) > 0.1).all() and (table["train_s"].astype(float) > 0).all()
    assert table.loc[2, "ranking"].endswith(".boost~" + table.loc[2, "ranking"][-6:])
    assert "| batch8 | ok |" in (qdir / "summary.md").read_text()
    page = (run / "report" / "experiments-night.html").read_text()
    assert "<img" in page and "balanced" in page

    lines = notes.read_text().splitlines()   # the killed queue's baseline, then the re-run's
    assert lines[0].startswith("baseline:")
    assert sorted(line.split(":")[0] for line in lines[1:3]) == ["balanced", "batch8"]
    assert len(lines) == 4 and lines[3].startswith("queue night: 3 rows, 3 ok; best ")
    assert all(" ok MAP@25 " in line for line in lines[:3])


def test_a_failed_row_stops_only_itself_and_is_reported(tmp_path):
    """Rows on TF-IDF alone (seconds): the one asking for a ranking no rule makes fails, the
    others finish; the summary and NOTIFY say which, and make experiments exits non-zero."""
    plan = write_plan(tmp_path, "name|EVALUATE|FINAL\n"
                                "baseline|tfidf|tfidf\n"
                                "broken|tfidf|no-such-ranking\n"
                                "boosted|tfidf.boost|tfidf.boost\n")
    out = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True)
    assert out.returncode != 0 and "1 row(s) of" in out.stderr and "failed" in out.stderr
    qdir = next((tmp_path / "runs").glob("data-*")) / "experiments" / "night"
    table = pd.read_csv(qdir / "summary.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert table.loc[2, "vs baseline (95%)"].count("[") == 1 and table.loc[1, "map@25"] == ""
    assert "No rule to make target" in (qdir / "logs" / "broken.log").read_text()
    lines = (tmp_path / "notes.txt").read_text().splitlines()
    assert sorted(line.split(":")[0] for line in lines[:3]) == ["baseline", "boosted", "broken"]
    assert any(line.startswith("broken: failed in ") and "logs/broken.log" in line for line in lines)
    assert lines[3].startswith("queue night: 3 rows, 2 ok, 1 failed; best ")


def test_job_slots_are_checked_against_the_gpus_before_anything_starts(tmp_path):
    """check_plan.py: JOBS defaults to what the GPUs hold (their count / the largest GPUS of a
    row), 1 without GPUs; more than there are is refused and writes nothing."""
    def check(text, *args):
        plan = write_plan(tmp_path, text)
        return subprocess.run([sys.executable, str(REPO / "scripts/experiments/check_plan.py"),
                               "--plan", str(plan), "--out", str(tmp_path / "rows.txt"), *args],
                              capture_output=True, text=True)
    one_gpu = "name|TOP_N\na|5\nb|10\n"
    assert check(one_gpu, "--gpu-ids", "0 1 2 3").stdout.strip() == "4"
    assert check(one_gpu, "--gpu-ids", "").stdout.strip() == "1"
    assert check("name|GPUS\na|2\nb|1\n", "--gpu-ids", "0 1 2 3 4 5 6 7").stdout.strip() == "4"
    assert (tmp_path / "rows.txt").read_text() == "a\nb\n"
    (tmp_path / "rows.txt").unlink()
    out = check(one_gpu, "--jobs", "5", "--gpu-ids", "0 1 2 3")
    assert out.returncode != 0 and "JOBS=5 rows at a time x 1 GPUs each needs 5 GPUs" in out.stderr
    assert not (tmp_path / "rows.txt").exists()


def sleepy_python(tmp_path, seconds: int = 300):
    """A PY whose TF-IDF step sleeps (a row that runs long at no cost); every other step, and
    the queue's own scripts, run as usual. It leaves <tmp>/asleep when it starts sleeping."""
    wrapper = tmp_path / "sleepy-python"
    wrapper.write_text(f"#!/bin/bash\n"
                       f"case \" $* \" in *retrieve_tfidf.py*) touch {tmp_path}/asleep; sleep {seconds};; esac\n"
                       f"exec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


def queue_processes(tmp_path) -> list:
    """Live processes started for this test's queue (their command line names its folder)."""
    import psutil
    procs = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in part for part in p.info["cmdline"] or []) and p.pid != os.getpid():
            procs.append(p)
    return procs


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["TERM", "INT", "HUP"])
def test_one_queue_per_plan_and_a_kill_of_make_stops_every_row(tmp_path, sig):
    """Issue 38: a second make experiments of a running plan is refused at once, naming the
    holder's pid and host; kill -TERM of the first make (make alone, as `kill <pid>` does)
    leaves no process of its queue within 20 s and no row that looks finished; the same command
    then finishes the plan."""
    import socket
    plan = write_plan(tmp_path, "name|EVALUATE|FINAL\nbaseline|tfidf|tfidf\nboosted|tfidf.boost|tfidf.boost\n")
    sleepy = f"PY={sleepy_python(tmp_path)}"
    first = subprocess.Popen(command(tmp_path, plan, 2, sleepy), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / "asleep").exists():
        assert first.poll() is None and time.time() < deadline, "the queue ended before a row slept"
        time.sleep(0.2)

    second = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True, timeout=120)
    assert second.returncode != 0
    assert "night is running already (pid " in second.stderr and socket.gethostname() in second.stderr

    first.send_signal(sig)  # make alone, not its process group
    first.wait(30)
    deadline = time.time() + 20
    while queue_processes(tmp_path) and time.time() < deadline:
        time.sleep(0.5)
    assert queue_processes(tmp_path) == [], [p.info["cmdline"] for p in queue_processes(tmp_path)]
    qdir = next((tmp_path / "runs").glob("data-*")) / "experiments" / "night"
    assert not list((qdir / "results").glob("*.json")) if (qdir / "results").exists() else True
    assert not list((tmp_path / "runs").rglob("train_tfidf.parquet"))  # the half-made step

    rerun = subprocess.run(command(tmp_path, plan, 2), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    table = pd.read_csv(qdir / "summary.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "ok"]


def test_a_row_past_row_timeout_is_stopped_and_recorded_as_timeout(tmp_path):
    plan = write_plan(tmp_path, "name|EVALUATE|FINAL\nbaseline|tfidf|tfidf\n")
    start = time.time()
    out = subprocess.run(command(tmp_path, plan, 1, f"PY={sleepy_python(tmp_path)}", "ROW_TIMEOUT=5"),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and time.time() - start < 120
    qdir = next((tmp_path / "runs").glob("data-*")) / "experiments" / "night"
    record = json.loads((qdir / "results" / "baseline.json").read_text())
    assert record["status"] == "timeout" and record["returncode"] == 124
    assert "stopped after 5 s (ROW_TIMEOUT)" in (qdir / "logs" / "baseline.log").read_text()
    assert pd.read_csv(qdir / "summary.csv", keep_default_na=False)["status"].tolist() == ["timeout"]
    assert (tmp_path / "notes.txt").read_text().startswith("baseline: timeout")
    assert queue_processes(tmp_path) == []


def test_the_plan_is_snapshotted_at_start_and_keyed_with_the_command_lines_settings(tmp_path):
    """An edit of the plan while its queue runs changes nothing that runs (the rows read the
    copy taken at the start); the records carry the plan's digest and the command line's
    settings (JOBS, NOTIFY and the like left out), and the summary's title the digest."""
    plan = write_plan(tmp_path, "name|EVALUATE|FINAL\nbaseline|tfidf|tfidf\nboosted|tfidf.boost|tfidf.boost\n")
    queue = subprocess.Popen(command(tmp_path, plan, 1, f"PY={sleepy_python(tmp_path, 5)}"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (tmp_path / "asleep").exists():
        assert queue.poll() is None and time.time() < deadline
        time.sleep(0.2)
    plan.write_text(plan.read_text().replace("tfidf.boost|tfidf.boost", "tfidf|no-such-ranking"))
    assert queue.wait(300) == 0, queue.stderr.read()[-3000:]
    qdir = next((tmp_path / "runs").glob("data-*")) / "experiments" / "night"
    record = json.loads((qdir / "results" / "boosted.json").read_text())
    assert record["status"] == "ok" and record["ranking"] == "tfidf.boost"
    facts = json.loads((qdir / "queue.json").read_text())
    assert record["plan_digest"] == facts["digest"] and len(facts["digest"]) == 12
    assert record["command_line"] == {"DATA_DIR": str(tmp_path / "data"), "N_FOLDS": "2",
                                      "TRAIN_ARGS": QUEUE_TRAIN_ARGS.split("=", 1)[1]}
    assert "tfidf.boost" in (qdir / "plans" / facts["digest"] / "night.tsv").read_text()
    assert (qdir / "summary.md").read_text().startswith(f"# Experiments: night (plan {facts['digest']})")


def test_hosts_is_refused_until_one_queue_spans_machines(tmp_path):
    plan = write_plan(tmp_path, "name|EVALUATE\nbaseline|tfidf\n")
    out = subprocess.run(command(tmp_path, plan, 1, f"HOSTS={tmp_path / 'boxes.txt'}"),
                         capture_output=True, text=True)
    assert out.returncode != 0 and "HOSTS= (one queue over several machines) is not supported" in out.stderr
