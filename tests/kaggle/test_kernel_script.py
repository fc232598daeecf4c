"""scripts/kaggle/kernel.py and eedi/kaggle/kernel.py: kernel-metadata.json is checked
before anything is sent (each rule has a test that breaks it); every source is looked up and a
missing one stops the push with an error naming it; "Kernel version N successfully pushed" is
parsed and recorded; submit takes the recorded version, refuses a CLI older than 1.7.3 and
builds the exact argv; status and output; --dry-run prints the commands and runs nothing but
`kaggle --version`. The CLI is a fake executable that prints what the real one prints
(kaggle 2.2.4's kernels_push_cli, dataset_status, competition_submit_cli)."""

import json
import shlex

import pytest

import kernel
from conftest import KERNEL_DATASETS as DATASETS
from conftest import KERNEL_MODEL as MODEL
from conftest import KERNEL_SLUG as SLUG
from conftest import KERNEL_USER as USER
from conftest import kernel_folder_metadata as metadata
from conftest import write_kernel
from eedi.defaults import COMPETITION
from eedi.errors import DataError
from eedi.kaggle.kernel import dropped_sources, pushed_version, read_metadata
PUSHED = ("Kernel version 7 successfully pushed.  Please check progress at "
          f"https://www.kaggle.com/code/{USER}/{SLUG}\n")
NOT_FOUND = ("404 Client Error: Not Found for url: "
             "https://api.kaggle.com/v1/datasets.DatasetApiService/GetDatasetStatus\n")


@pytest.fixture
def kernel_dir(tmp_path):
    return write_kernel(tmp_path / "submissions" / "kernel")


def record_path(kernel_dir):
    return kernel_dir.with_name("kernel.pushed.json")


@pytest.fixture
def sources_ok(fake_cli):
    fake_cli.respond(["competitions", "files"], "name  size  creationDate\ntest.csv ...\n")
    fake_cli.respond(["datasets", "status"], "ready\n")
    fake_cli.respond(["models", "instances", "versions", "files"], "name size\nconfig.json 1\n")
    return fake_cli


def run(run_cli, kernel_dir, *args):
    return run_cli(kernel.main, ["--kernel-dir", kernel_dir, *args])


# --------------------------------------------------------------------------- metadata checks

def test_good_metadata_is_read(kernel_dir):
    assert read_metadata(kernel_dir)["id"] == f"{USER}/{SLUG}"


@pytest.mark.parametrize("changes, words", [
    ({"machine_shape": None}, "machine_shape: missing"),
    ({"enable_internet": None}, "enable_internet: missing"),
    ({"enable_internet": True}, "enable_internet: True: must be false"),
    ({"enable_internet": "false"}, "must be false"),
    ({"machine_shape": ""}, "machine_shape: must name the accelerator"),
    ({"kernel_type": "script"}, "expected \"notebook\""),
    ({"language": "r"}, "expected \"python\""),
    ({"id": f"{USER}/eedi", "title": "Eedi"}, "slug 'eedi' has 4 characters"),
    ({"id": "no-owner-slug"}, "is not USER/SLUG"),
    ({"title": "Eedi final submission"}, "resolves to the slug 'eedi-final-submission'"),
    ({"competition_sources": ["other-comp"]}, f"must include '{COMPETITION}'"),
    ({"dataset_sources": ["eedi-code"]}, "'eedi-code' is not OWNER/SLUG"),
    ({"model_sources": ["qwen-lm/qwen2.5/transformers/32b"]}, "is not OWNER/MODEL/FRAMEWORK"),
    ({"code_file": "missing.ipynb"}, "code_file: "),
    ({"is_private": "yes"}, "is_private: 'yes': expected true or false"),
])
def test_bad_metadata_is_one_clear_error(kernel_dir, changes, words):
    write_kernel(kernel_dir, metadata(**changes))
    with pytest.raises(DataError, match=None) as error:
        read_metadata(kernel_dir)
    assert words in str(error.value) and "kernel-metadata.json" in str(error.value)


def test_a_notebook_without_kernelspec_is_refused(kernel_dir):
    write_kernel(kernel_dir, notebook={"cells": [], "metadata": {}})
    with pytest.raises(DataError, match="kernelspec"):
        read_metadata(kernel_dir)


def test_bad_metadata_stops_push_before_any_cli_call(run_cli, fake_cli, kernel_dir):
    write_kernel(kernel_dir, metadata(enable_internet=True))
    for extra in (["--dry-run"], []):
        result = run(run_cli, kernel_dir, *extra, "push")
        assert result.exit_code == 1 and "enable_internet" in result.output
    assert fake_cli.calls() == []


# --------------------------------------------------------------------------- push

def test_dry_run_push_prints_every_lookup_and_the_push(run_cli, home, kernel_dir, monkeypatch):
    monkeypatch.setenv("KAGGLE_CLI", "/opt/kaggle")  # never run: a dry run touches nothing
    result = run(run_cli, kernel_dir, "--dry-run", "push")
    assert result.exit_code == 0, result.output
    lines = [shlex.split(line) for line in result.stdout.splitlines() if line.startswith("/")]
    k = "/opt/kaggle"
    assert lines == [[k, "competitions", "files", COMPETITION],
                     *[[k, "datasets", "status", d] for d in DATASETS],
                     [k, "models", "instances", "versions", "files", MODEL],
                     [k, "kernels", "push", "-p", str(kernel_dir)]]
    assert f"{SLUG}.ipynb" in result.stdout and "kernel-metadata.json" in result.stdout
    assert not record_path(kernel_dir).exists()


def test_push_checks_sources_then_records_the_version(run_cli, sources_ok, kernel_dir):
    sources_ok.respond(["kernels", "push"], PUSHED)
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == 0, result.output
    argvs = sources_ok.argvs()
    assert argvs[-1] == ["kernels", "push", "-p", str(kernel_dir)]
    assert [a[:2] for a in argvs[:-1]] == [["competitions", "files"]] + [
        ["datasets", "status"]] * 3 + [["models", "instances"]]
    record = json.loads(record_path(kernel_dir).read_text())
    [pushed] = record["pushes"]
    assert pushed["kernel"] == f"{USER}/{SLUG}" and pushed["version"] == 7
    assert "pushed someone/eedi-submit version 7" in result.output

    sources_ok.rules.insert(0, {"prefix": ["kernels", "push"], "files": {}, "rc": 0,
                                "stdout": PUSHED.replace("7", "8"), "stderr": ""})
    sources_ok.respond([], "")  # rewrite the rules file
    assert run(run_cli, kernel_dir, "push").exit_code == 0
    record = json.loads(record_path(kernel_dir).read_text())
    assert [p["version"] for p in record["pushes"]] == [7, 8]


def test_a_missing_dataset_is_named_and_nothing_is_pushed(run_cli, fake_cli, kernel_dir):
    fake_cli.respond(["datasets", "status", f"{USER}/eedi-wheels"], stderr=NOT_FOUND, rc=1)
    fake_cli.respond(["models", "instances", "versions", "files"],
                     stderr="403 Client Error: Forbidden for url: ...\n", rc=1)
    fake_cli.respond(["competitions", "files"], "test.csv\n")
    fake_cli.respond(["datasets", "status"], "ready\n")
    fake_cli.respond(["kernels", "push"], PUSHED)
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == 1
    assert "2 of 5 sources cannot be found" in result.output and "nothing pushed" in result.output
    assert f"dataset {USER}/eedi-wheels: 404 Client Error: Not Found" in result.output
    assert f"model {MODEL}: 403 Client Error: Forbidden" in result.output
    assert f"{USER}/eedi-code" not in result.output.split("pushed:")[1]
    assert not any(a[:2] == ["kernels", "push"] for a in fake_cli.argvs())
    assert not record_path(kernel_dir).exists()


def test_competition_rules_not_accepted_stop_the_push(run_cli, fake_cli, kernel_dir):
    fake_cli.respond(["competitions", "files"], stderr="403 Client Error: Forbidden\n", rc=1)
    fake_cli.respond(["datasets", "status"], "ready\n")
    fake_cli.respond(["models"], "config.json\n")
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == 1 and f"competition {COMPETITION}: 403" in result.output


@pytest.mark.parametrize("status, ok", [("failed", False), ("deleted", False),
                                        ("blobs_received", True)])
def test_dataset_status_other_than_ready(run_cli, fake_cli, kernel_dir, caplog, status, ok):
    fake_cli.respond(["datasets", "status", f"{USER}/eedi-code"], f"{status}\n")
    fake_cli.respond(["competitions", "files"], "test.csv\n")
    fake_cli.respond(["datasets", "status"], "ready\n")
    fake_cli.respond(["models"], "config.json\n")
    fake_cli.respond(["kernels", "push"], PUSHED)
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == (0 if ok else 1), result.output
    if ok:
        assert f"{USER}/eedi-code is '{status}', not ready" in caplog.text
    else:
        assert f"dataset {USER}/eedi-code: its status is {status}" in result.output


@pytest.mark.parametrize("say, words", [
    ("Kernel push error: Notebook not found\n", "Kernel push error"),
    ("The following are not valid dataset sources and could not be added to the kernel: "
     "['someone/eedi-code']\n" + PUSHED, "dropped sources"),
    ("Kernel version successfully pushed.  Please check progress at https://x\n",
     "printed no version number"),
])
def test_a_push_that_is_not_a_clean_version_records_nothing(run_cli, sources_ok, kernel_dir,
                                                            say, words):
    sources_ok.respond(["kernels", "push"], say)
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == 1 and words in result.output
    assert not record_path(kernel_dir).exists()


def test_push_needs_credentials(run_cli, home, kernel_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_CLI", str(tmp_path / "never"))
    result = run(run_cli, kernel_dir, "push")
    assert result.exit_code == 1 and "no Kaggle credentials" in result.output


def test_version_parsing():
    assert pushed_version(PUSHED) == 7
    assert pushed_version("Kernel version 12 successfully pushed.") == 12
    assert pushed_version("Kernel push error: x") is None
    assert dropped_sources("ok\nThe following are not valid competition sources and could not "
                           "be added to the kernel: ['x']\n") != []


# --------------------------------------------------------------------------- submit

def write_record(kernel_dir, *versions, kernel=f"{USER}/{SLUG}"):
    record_path(kernel_dir).write_text(json.dumps(
        {"pushes": [{"kernel": kernel, "version": v} for v in versions]}))


def test_submit_takes_the_last_recorded_version(run_cli, fake_cli, kernel_dir):
    write_record(kernel_dir, 3, 5)
    fake_cli.respond(["competitions", "submit"],
                     "Successfully submitted to Eedi - Mining Misconceptions in Mathematics\n"
                     "4 submissions remaining today.\n")
    result = run(run_cli, kernel_dir, "submit", "--message", "fused + boost")
    assert result.exit_code == 0, result.output
    assert fake_cli.argvs(skip_version=False) == [
        ["--version"],
        ["competitions", "submit", COMPETITION, "-k", f"{USER}/{SLUG}", "-v", "5",
         "-f", "submission.csv", "-m", "fused + boost"]]
    record = json.loads(record_path(kernel_dir).read_text())
    [sub] = record["submissions"]
    assert sub["version"] == 5 and sub["message"] == "fused + boost"
    assert sub["cli_said"] == "4 submissions remaining today."


def test_dry_run_submit_with_an_explicit_version(run_cli, fake_cli, kernel_dir):
    result = run(run_cli, kernel_dir, "--dry-run", "submit", "--version", "9", "--message", "m")
    assert result.exit_code == 0, result.output
    assert shlex.split(result.stdout.strip()) == [
        str(fake_cli.path), "competitions", "submit", COMPETITION, "-k", f"{USER}/{SLUG}",
        "-v", "9", "-f", "submission.csv", "-m", "m"]
    assert fake_cli.argvs() == []  # only --version ran


def test_submit_without_a_recorded_version_is_an_error(run_cli, fake_cli, kernel_dir):
    write_record(kernel_dir, 4, kernel=f"{USER}/another-notebook")  # another notebook's push
    result = run(run_cli, kernel_dir, "--dry-run", "submit")
    assert result.exit_code == 1
    assert "records no pushed version of someone/eedi-submit" in result.output
    assert "KERNEL_VERSION=N" in result.output


@pytest.mark.parametrize("said", ["Kaggle API 1.6.17", "Kaggle API 1.7.2"])
def test_an_old_cli_cannot_submit_a_notebook(run_cli, fake_cli, kernel_dir, said):
    fake_cli.rules.clear()
    fake_cli.respond(["--version"], said + "\n")
    write_record(kernel_dir, 5)
    result = run(run_cli, kernel_dir, "submit")
    assert result.exit_code == 1
    assert "needs >= 1.7.3" in result.output and said.split()[-1] in result.output
    assert fake_cli.argvs() == []


def test_the_installed_cli_is_new_enough():
    """The real executable of this venv: `kaggle --version` parses and is >= 1.7.3."""
    from eedi.kaggle.cli import cli_version, kaggle_executable
    assert cli_version(kaggle_executable()) >= kernel.SUBMIT_CLI


def test_a_submit_the_cli_refuses_is_not_recorded(run_cli, fake_cli, kernel_dir):
    write_record(kernel_dir, 5)
    fake_cli.respond(["competitions", "submit"], "Could not find competition - please "
                     "verify that you entered the correct competition ID\n")  # exit 0 in 2.x
    result = run(run_cli, kernel_dir, "submit")
    assert result.exit_code == 1 and "Could not find competition" in result.output
    assert "submissions" not in json.loads(record_path(kernel_dir).read_text())


# --------------------------------------------------------------------------- status, output

def test_status_prints_what_the_cli_says(run_cli, fake_cli, kernel_dir):
    fake_cli.respond(["kernels", "status"], f'{USER}/{SLUG} has status "KernelWorkerStatus.RUNNING"\n')
    result = run(run_cli, kernel_dir, "status")
    assert result.exit_code == 0 and "RUNNING" in result.stdout
    assert fake_cli.argvs() == [["kernels", "status", f"{USER}/{SLUG}"]]
    fake_cli.rules.clear()
    fake_cli.respond(["kernels", "status"], stderr="404 Client Error: Not Found\n", rc=1)
    result = run(run_cli, kernel_dir, "status")
    assert result.exit_code == 1 and "404 Client Error" in result.output


def test_output_downloads_into_a_folder_renamed_when_complete(run_cli, fake_cli, kernel_dir,
                                                              tmp_path):
    out = tmp_path / "output"
    result = run(run_cli, kernel_dir, "--dry-run", "output", "--out-dir", out)
    assert shlex.split(result.stdout.strip()) == [
        str(fake_cli.path), "kernels", "output", f"{USER}/{SLUG}", "-p", str(out), "-o"]
    assert not out.exists()
    fake_cli.respond(["kernels", "output"], "Output file downloaded to ...\n",
                     files={"submission.csv": "QuestionId_Answer,MisconceptionId\n",
                            f"{SLUG}.log": "[]"})
    result = run(run_cli, kernel_dir, "output", "--out-dir", out)
    assert result.exit_code == 0, result.output
    [argv] = fake_cli.argvs()
    assert argv[:4] == ["kernels", "output", f"{USER}/{SLUG}", "-p"] and argv[-1] == "-o"
    assert argv[4] != str(out)  # a temp folder, renamed when the CLI succeeded
    assert sorted(p.name for p in out.iterdir()) == [f"{SLUG}.log", "submission.csv"]
    fake_cli.rules.clear()
    fake_cli.respond(["kernels", "output"], stderr="403 Client Error\n", rc=1,
                     files={"half.csv": "x"})
    assert run(run_cli, kernel_dir, "output", "--out-dir", out).exit_code == 1
    assert "half.csv" not in {p.name for p in out.iterdir()}  # the old output stays whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".output")) == []
