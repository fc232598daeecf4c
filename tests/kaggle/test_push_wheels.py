"""scripts/kaggle/push_wheels.py and eedi/kaggle/wheels.py: requirements-kaggle.txt is pinned, explained
and in step with requirements.txt; the pip command asks for binary CPython wheels for Kaggle's
Python and glibc without dependencies; real pip picks the right wheels from a local wheelhouse
(Linux x86_64 cp311 and pure ones, never macOS or cp312) and a pin without such a wheel stages
nothing; --dry-run prints both commands and downloads nothing; the fake kaggle CLI receives the
staged wheels and the marker is written after it succeeded."""

import json
import re
import shlex
import sys
import zipfile
from pathlib import Path

import pytest

import push_wheels
from eedi.errors import DataError
from eedi.kaggle.wheels import pip_download_command, pip_platforms, read_pins
from eedi.registry import REPO


def wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    """A minimal wheel pip accepts: its dist-info METADATA and WHEEL."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: "
                                    f"false\nTag: {tag}\n")
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def wheelhouse(tmp_path) -> Path:
    house = tmp_path / "wheelhouse"
    wheel(house, "fastlib", "1.0", "cp311-cp311-manylinux_2_28_x86_64")
    wheel(house, "fastlib", "1.0", "cp311-cp311-macosx_11_0_arm64")
    wheel(house, "fastlib", "1.0", "cp312-cp312-manylinux_2_28_x86_64")
    wheel(house, "purelib", "2.0", "py3-none-any")
    wheel(house, "newglibc", "1.0", "cp311-cp311-manylinux_2_39_x86_64")  # too new for 2.35
    return house


@pytest.fixture
def requirements(tmp_path) -> Path:
    path = tmp_path / "requirements-kaggle.txt"
    path.write_text("# why each is here\nfastlib==1.0  # compiled\npurelib==2.0  # pure\n")
    return path


def staging(tmp_path):
    return tmp_path / "out" / "wheels.dataset"


# --------------------------------------------------------------------------- the library

def test_read_pins_requires_exact_versions(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("a==1.0  # why\n\n# note\nb[extra]==2.0\n")
    assert read_pins(path) == ["a==1.0", "b[extra]==2.0"]
    path.write_text("a==1.0\nb>=2\n")
    with pytest.raises(DataError, match="line 2.*'b>=2' is not pinned"):
        read_pins(path)
    path.write_text("# nothing\n")
    with pytest.raises(DataError, match="lists no package"):
        read_pins(path)


def test_platforms_cover_every_manylinux_tag_up_to_the_glibc():
    tags = pip_platforms("2.35")
    assert tags[0] == "manylinux_2_35_x86_64" and "manylinux_2_28_x86_64" in tags
    assert tags[-3:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    assert "manylinux_2_36_x86_64" not in tags
    with pytest.raises(ValueError):
        pip_platforms("2.12")


def test_pip_command_is_binary_only_without_dependencies(tmp_path):
    command = pip_download_command("py", Path("r.txt"), Path("d"), "3.11", "2.35")
    assert command[:6] == ["py", "-m", "pip", "download", "--only-binary=:all:", "--no-deps"]
    text = shlex.join(command)
    assert "--python-version 3.11 --implementation cp --abi cp311" in text
    assert text.endswith("-r r.txt -d d") and "--no-index" not in text


def test_the_kaggle_requirements_are_pinned_explained_and_tested_versions():
    path = REPO / "requirements-kaggle.txt"
    pins = read_pins(path)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert all("#" in line for line in lines), "each package needs a comment saying why"
    tested = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if version:
            tested[name.lower()] = version
    for pin in pins:
        name, version = pin.split("==")
        assert tested.get(name.lower(), version) == version, f"{pin} != requirements.txt"
        assert name.lower() not in {"torch", "numpy", "pandas"}, "Kaggle's own: never replace"


# --------------------------------------------------------------------------- the script

def test_dry_run_prints_both_commands_and_downloads_nothing(run_cli, home, requirements,
                                                            tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_CLI", "/opt/kaggle")
    result = run_cli(push_wheels.main, ["--requirements", requirements, "--dataset",
                                        "me/eedi-wheels", "--staging", staging(tmp_path),
                                        "--dry-run"])
    assert result.exit_code == 0, result.output
    pip_line, kaggle_line = result.stdout.splitlines()[:2]
    assert shlex.split(pip_line) == pip_download_command(
        sys.executable, requirements, staging(tmp_path), "3.11", "2.35")
    assert shlex.split(kaggle_line) == ["/opt/kaggle", "datasets", "create", "-p",
                                        str(staging(tmp_path)), "--dir-mode", "zip"]
    assert "fastlib==1.0" in result.stdout and "purelib==2.0" in result.stdout
    assert not (tmp_path / "out").exists()


def test_real_pip_picks_the_linux_cp311_wheels(run_cli, fake_cli, requirements, wheelhouse,
                                               tmp_path):
    result = run_cli(push_wheels.main, ["--requirements", requirements, "--find-links",
                                        wheelhouse, "--staging", staging(tmp_path)])
    assert result.exit_code == 0, result.output
    [call] = fake_cli.calls()
    assert call["argv"] == ["datasets", "create", "-p", str(staging(tmp_path)),
                            "--dir-mode", "zip"]
    assert set(call["files"]) == {"fastlib-1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                                  "purelib-2.0-py3-none-any.whl", "requirements-kaggle.txt",
                                  "dataset-metadata.json"}
    meta = json.loads((staging(tmp_path) / "dataset-metadata.json").read_text())
    assert meta["id"] == "someone/eedi-wheels"
    pushed = json.loads((tmp_path / "out" / "wheels.dataset.pushed.json").read_text())
    assert pushed["requirements"] == ["fastlib==1.0", "purelib==2.0"]
    assert len(pushed["wheels"]) == 2
    assert re.fullmatch(r"\S+ 2 wheels for cp311 manylinux_2_35", pushed["message"])


@pytest.mark.parametrize("pin, python", [("newglibc==1.0", "3.11"), ("fastlib==1.0", "3.10")])
def test_a_pin_without_a_kaggle_wheel_stages_and_pushes_nothing(run_cli, fake_cli, wheelhouse,
                                                               tmp_path, pin, python):
    requirements = tmp_path / "requirements-kaggle.txt"
    requirements.write_text(f"purelib==2.0\n{pin}\n")
    result = run_cli(push_wheels.main, ["--requirements", requirements, "--find-links",
                                        wheelhouse, "--staging", staging(tmp_path),
                                        "--python-version", python])
    assert result.exit_code == 1
    assert "pip download failed" in result.output and pin.split("==")[0] in result.output
    assert fake_cli.calls() == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no temp folder left
