"""scripts/download_data.py's CLI: --dry-run prints the kaggle command and needs neither
credentials nor network; without credentials the download stops with a clear message and
writes nothing. `subprocess.run`/`Popen` are replaced so no test can reach the network."""

import shlex

import pytest

import download_data
from eedi.kaggle import cli as kaggle_cli


CREDENTIAL_VARS = ["KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR",
                   "XDG_CONFIG_HOME"]


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for name in CREDENTIAL_VARS + ["RUN_LOG"]:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # Path.home() reads HOME

    def no_network(*args, **kwargs):
        raise AssertionError(f"subprocess.run called: {args}")
    monkeypatch.setattr(kaggle_cli.subprocess, "run", no_network)
    monkeypatch.setattr(kaggle_cli.subprocess, "Popen", no_network)
    return home


def test_dry_run_prints_the_kaggle_command_without_credentials(tmp_path, run_cli, no_credentials):
    out_dir = tmp_path / "kaggle"
    result = run_cli(download_data.main, ["--out-dir", out_dir, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "competitions download -c eedi-mining-misconceptions-in-mathematics -p" in result.output
    words = shlex.split(result.stdout.strip())
    assert words[words.index("-p") + 1].startswith(str(out_dir))  # unpacked beside OUT_DIR
    assert not list(out_dir.iterdir())  # nothing downloaded, no temp folder left


def test_without_credentials_the_download_fails_and_writes_no_csv(tmp_path, run_cli,
                                                                  no_credentials):
    out_dir = tmp_path / "kaggle"
    result = run_cli(download_data.main, ["--out-dir", out_dir])
    assert result.exit_code == 1
    assert "no Kaggle credentials" in result.output
    assert not list(out_dir.rglob("*.csv"))
    assert not list(out_dir.iterdir())
