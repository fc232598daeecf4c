"""The Make targets around the kaggle CLI, with DRY_RUN=1 and a fake CLI ($KAGGLE_CLI): each
target reaches its script with the right folder and options (KERNEL_DIR, KERNEL_RECORD,
KERNEL_VERSION, a MESSAGE with spaces and a quote) and prints the exact command; nothing is
sent. (The scripts themselves are tested in test_push_code, test_push_wheels,
test_kernel_script and test_submission_time.)"""

import json
import shlex
import subprocess
import sys

from conftest import write_kernel
from eedi.defaults import COMPETITION
from eedi.registry import REPO


def make(*args):
    return subprocess.run(["make", "-s", "-C", str(REPO), f"PY={sys.executable}", "SETUP=",
                           "DRY_RUN=1", *map(str, args)], capture_output=True, text=True)


def test_help_lists_the_targets():
    out = make("help").stdout
    for target in ("push-code", "push-wheels", "push-kernel", "kernel-status", "kernel-output",
                   "submit", "submission-time"):
        assert f"  {target} " in out


def test_push_kernel_and_status_use_kernel_dir(fake_cli, tmp_path):
    kernel = write_kernel(tmp_path / "kernel")
    result = make("push-kernel", f"KERNEL_DIR={kernel}")
    assert result.returncode == 0, result.stderr
    last = shlex.split(result.stdout.splitlines()[-3])
    assert last == [str(fake_cli.path), "kernels", "push", "-p", str(kernel)]
    result = make("kernel-status", f"KERNEL_DIR={kernel}")
    assert shlex.split(result.stdout) == [str(fake_cli.path), "kernels", "status",
                                          "someone/eedi-submit"]
    assert fake_cli.calls() == []


def test_submit_takes_the_version_and_a_quoted_message(fake_cli, tmp_path):
    kernel = write_kernel(tmp_path / "kernel")
    message = "fused + boost, it's v2"
    result = make("submit", f"KERNEL_DIR={kernel}", "KERNEL_VERSION=4", f"MESSAGE={message}")
    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == [
        str(fake_cli.path), "competitions", "submit", COMPETITION, "-k", "someone/eedi-submit",
        "-v", "4", "-f", "submission.csv", "-m", message]
    (tmp_path / "kernel.pushed.json").write_text(json.dumps(
        {"pushes": [{"kernel": "someone/eedi-submit", "version": 6}]}))
    result = make("submit", f"KERNEL_DIR={kernel}")  # the record beside KERNEL_DIR
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout)
    assert words[words.index("-v") + 1] == "6"


def test_push_wheels_and_submission_time_dry_runs(fake_cli, tmp_path):
    result = make("push-wheels", "WHEELS_DATASET=someone/eedi-wheels")
    assert result.returncode == 0, result.stderr
    pip, kaggle = result.stdout.splitlines()[:2]
    assert "pip download --only-binary=:all: --no-deps" in pip
    assert shlex.split(kaggle)[:3] == [str(fake_cli.path), "datasets", "create"]
    result = make("submission-time", f"KERNEL_DIR={tmp_path / 'kernel'}", "POLL_ARGS=--once")
    assert result.returncode == 0, result.stderr
    assert "competition_submissions" in result.stdout and "up to 0 s" in result.stdout
