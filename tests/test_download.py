"""scripts/download_data.py and credentials_source: --dry-run prints the kaggle
command and needs neither credentials nor network; without credentials the download stops
with a clear message and writes nothing; each credential source is found, never echoing the
secret. `subprocess.run`/`Popen` are replaced so no test can reach the network."""

import json
import shlex

import pytest

import download_data
from eedi import kaggle_cli
from eedi.kaggle_cli import credentials_source

SECRET = "s3cr3t-DO-NOT-PRINT-5f1e"
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


def put(path, text=SECRET):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kaggle_json(path):
    return put(path, json.dumps({"username": "someone", "key": SECRET}))


def test_no_source_in_empty_env_and_home(tmp_path):
    assert credentials_source(env={}, home=tmp_path) is None


@pytest.mark.parametrize("env", [{"KAGGLE_USERNAME": "someone"}, {"KAGGLE_KEY": SECRET},
                                 {"KAGGLE_API_TOKEN": ""}])
def test_half_or_empty_env_credentials_are_not_enough(tmp_path, env):
    assert credentials_source(env=env, home=tmp_path) is None


@pytest.mark.parametrize("env, name", [
    ({"KAGGLE_API_TOKEN": SECRET}, "KAGGLE_API_TOKEN"),
    ({"KAGGLE_USERNAME": "someone", "KAGGLE_KEY": SECRET}, "KAGGLE_KEY"),
])
def test_env_credentials_are_found_without_the_secret(tmp_path, env, name):
    source = credentials_source(env=env, home=tmp_path)
    assert source is not None and name in source
    assert SECRET not in source


def test_access_token_file_in_home(tmp_path):
    token = put(tmp_path / ".kaggle" / "access_token")
    source = credentials_source(env={}, home=tmp_path)
    assert source == str(token) and SECRET not in source


def test_kaggle_json_in_kaggle_config_dir(tmp_path):
    config = tmp_path / "elsewhere"
    path = kaggle_json(config / "kaggle.json")
    source = credentials_source(env={"KAGGLE_CONFIG_DIR": str(config)},
                                              home=tmp_path / "home")
    assert source == str(path) and SECRET not in source


def test_kaggle_config_dir_is_the_only_place_for_kaggle_json_when_set(tmp_path):
    """The CLI reads kaggle.json only from KAGGLE_CONFIG_DIR when it is set."""
    kaggle_json(tmp_path / ".kaggle" / "kaggle.json")
    source = credentials_source(
        env={"KAGGLE_CONFIG_DIR": str(tmp_path / "empty")}, home=tmp_path)
    assert source is None


def test_kaggle_json_in_home(tmp_path):
    path = kaggle_json(tmp_path / ".kaggle" / "kaggle.json")
    source = credentials_source(env={}, home=tmp_path)
    assert source == str(path) and SECRET not in source


def test_kaggle_json_in_xdg_config_home(tmp_path):
    xdg = tmp_path / "xdg"
    path = kaggle_json(xdg / "kaggle" / "kaggle.json")
    source = credentials_source(env={"XDG_CONFIG_HOME": str(xdg)},
                                              home=tmp_path / "home")
    assert source == str(path) and SECRET not in source
    # without XDG_CONFIG_HOME that folder is not looked at
    assert credentials_source(env={}, home=tmp_path / "home") is None


def test_kaggle_json_in_default_xdg_folder(tmp_path):
    path = kaggle_json(tmp_path / ".config" / "kaggle" / "kaggle.json")
    assert credentials_source(env={}, home=tmp_path) == str(path)
