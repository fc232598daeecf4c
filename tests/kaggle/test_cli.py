"""eedi.kaggle.cli: `credentials_source` finds each credential source (env variables, an
access token, kaggle.json in KAGGLE_CONFIG_DIR, ~/.kaggle or the XDG folder) and names it
without ever echoing the secret; `kaggle_username` reads the user name from kaggle.json,
KAGGLE_CONFIG_DIR's kaggle.json, then KAGGLE_USERNAME."""

import json

import pytest

from eedi.kaggle.cli import credentials_source
from eedi.kaggle.cli import kaggle_username


SECRET = "s3cr3t-DO-NOT-PRINT-5f1e"


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


def test_user_name_from_kaggle_json(home, monkeypatch):
    put(home / ".kaggle" / "kaggle.json", json.dumps({"username": "jsonuser", "key": SECRET}))
    assert kaggle_username() == "jsonuser"
    config = home.parent / "config"
    put(config / "kaggle.json", json.dumps({"username": "configuser", "key": SECRET}))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    assert kaggle_username() == "configuser"
    monkeypatch.setenv("KAGGLE_USERNAME", "envuser")
    assert kaggle_username() == "envuser"
