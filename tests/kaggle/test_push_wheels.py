"""scripts/kaggle/push_wheels.py and eedi/kaggle/wheels.py: requirements-kaggle.txt is pinned, explained
and in step with requirements.txt; the pip command asks for binary CPython wheels for Kaggle's
Python and glibc (constraints-kaggle-image.txt's) without dependencies; real pip picks the right
wheels from a local wheelhouse (Linux x86_64 cp312 and pure ones, never macOS or cp311) and a pin
without such a wheel stages nothing; --dry-run prints both commands and downloads nothing; the
fake kaggle CLI receives the staged wheels and the marker is written after it succeeded. The
resolution check: pip's resolver, offline, in a venv standing for the image, refuses a shipped
wheel whose dependency the image has too old or lacks (and says which), and stops the push."""

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

import push_wheels
from conftest import venv_with, wheel
from eedi.errors import DataError
from eedi.kaggle.image import Image, read_image
from eedi.kaggle.wheels import (ResolutionFailed, check_resolution, pip_download_command,
                                pip_platforms, read_pins)
from eedi.registry import REPO

IMAGE = read_image(REPO / "constraints-kaggle-image.txt")


@pytest.fixture
def wheelhouse(tmp_path) -> Path:
    house = tmp_path / "wheelhouse"
    wheel(house, "fastlib", "1.0", "cp311-cp311-manylinux_2_28_x86_64")
    wheel(house, "fastlib", "1.0", "cp311-cp311-macosx_11_0_arm64")
    wheel(house, "fastlib", "1.0", "cp312-cp312-manylinux_2_28_x86_64")
    wheel(house, "purelib", "2.0", "py3-none-any")
    wheel(house, "newglibc", "1.0", "cp312-cp312-manylinux_2_39_x86_64")  # too new for 2.35
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
    assert IMAGE.python_minor == "3.12" and IMAGE.glibc == "2.35"  # Kaggle's image's, by default
    assert shlex.split(pip_line) == pip_download_command(
        sys.executable, requirements, staging(tmp_path), "3.12", "2.35")
    assert shlex.split(kaggle_line) == ["/opt/kaggle", "datasets", "create", "-p",
                                        str(staging(tmp_path)), "--dir-mode", "zip"]
    assert "fastlib==1.0" in result.stdout and "purelib==2.0" in result.stdout
    assert not (tmp_path / "out").exists()


def test_real_pip_picks_the_linux_wheels_of_the_images_python(run_cli, fake_cli, requirements,
                                                             wheelhouse, tmp_path):
    result = run_cli(push_wheels.main, ["--requirements", requirements, "--find-links",
                                        wheelhouse, "--staging", staging(tmp_path)])
    assert result.exit_code == 0, result.output
    [call] = fake_cli.calls()
    assert call["argv"] == ["datasets", "create", "-p", str(staging(tmp_path)),
                            "--dir-mode", "zip"]
    assert set(call["files"]) == {"fastlib-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
                                  "purelib-2.0-py3-none-any.whl", "requirements-kaggle.txt",
                                  "dataset-metadata.json"}
    meta = json.loads((staging(tmp_path) / "dataset-metadata.json").read_text())
    assert meta["id"] == "someone/eedi-wheels"
    pushed = json.loads((tmp_path / "out" / "wheels.dataset.pushed.json").read_text())
    assert pushed["requirements"] == ["fastlib==1.0", "purelib==2.0"]
    assert len(pushed["wheels"]) == 2
    assert re.fullmatch(r"\S+ 2 wheels for cp312 manylinux_2_35", pushed["message"])


@pytest.mark.parametrize("pin, python", [("newglibc==1.0", "3.12"), ("fastlib==1.0", "3.10")])
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


# --------------------------------------------------------------------------- the resolution check

@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> str:
    """A venv standing for Kaggle's image: oldlib 1.0 and baselib 2.0 installed."""
    folder = tmp_path_factory.mktemp("image")
    return venv_with(folder / "venv", [wheel(folder / "w", "oldlib", "1.0"),
                                       wheel(folder / "w", "baselib", "2.0")])


def shipped(tmp_path, *wheels) -> tuple[Path, Path]:
    """A staged wheels folder of (name, version, requires) and its requirements-kaggle.txt."""
    folder = tmp_path / "wheels.dataset"
    for name, version, requires in wheels:
        wheel(folder, name, version, requires=requires)
    requirements = folder / "requirements-kaggle.txt"
    requirements.write_text("".join(f"{n}=={v}  # why\n" for n, v, _ in wheels))
    return folder, requirements


FAKE_IMAGE = Image("3.12.13", "2.35", {"oldlib": "1.0", "baselib": "2.0"}, Path("image.txt"))


def test_resolution_passes_when_the_image_or_a_shipped_wheel_meets_every_dependency(tmp_path, image_venv):
    folder, requirements = shipped(tmp_path, ("newlib", "3.0", ("baselib>=1.5", "helper==0.1")),
                                   ("helper", "0.1", ()))
    installs = check_resolution(image_venv, folder, requirements, FAKE_IMAGE)
    assert sorted(installs) == ["helper==0.1", "newlib==3.0"]  # baselib: the image's


def test_resolution_refuses_a_dependency_the_image_has_too_old(tmp_path, image_venv):
    # huggingface-hub 2.x needing click>=8.4.2 while the image has 8.3.3: issue 23's first defect
    folder, requirements = shipped(tmp_path, ("newlib", "3.0", ("oldlib>=1.5",)))
    with pytest.raises(ResolutionFailed) as e:
        check_resolution(image_venv, folder, requirements, FAKE_IMAGE)
    assert "newlib 3.0 depends on oldlib>=1.5" in str(e.value)
    assert "oldlib: the image has oldlib==1.0" in str(e.value)
    # shipping a newer oldlib fixes it (the image's pin is then not a constraint)
    wheel(folder, "oldlib", "1.6")
    requirements.write_text("newlib==3.0\noldlib==1.6\n")
    assert "oldlib==1.6" in check_resolution(image_venv, folder, requirements, FAKE_IMAGE)


def test_resolution_refuses_a_dependency_neither_shipped_nor_in_the_image(tmp_path, image_venv):
    folder, requirements = shipped(tmp_path, ("newlib", "3.0", ("ghost>=1",)))
    with pytest.raises(ResolutionFailed, match="ghost: not in Kaggle's image: requirements-kaggle.txt must ship it"):
        check_resolution(image_venv, folder, requirements, FAKE_IMAGE)


def test_a_failed_check_pushes_nothing_and_stage_only_needs_no_credentials(run_cli, fake_cli, tmp_path,
                                                                           image_venv, monkeypatch):
    house = tmp_path / "house"
    wheel(house, "newlib", "3.0", requires=("ghost>=1",))
    requirements = tmp_path / "requirements-kaggle.txt"
    requirements.write_text("newlib==3.0  # why\n")
    image = tmp_path / "image.txt"
    image.write_text("# python: 3.12.13\n# glibc: 2.35\noldlib==1.0\nbaselib==2.0\n")
    args = ["--requirements", requirements, "--image", image, "--find-links", house,
            "--check-with", image_venv, "--staging", staging(tmp_path)]
    result = run_cli(push_wheels.main, args)
    assert result.exit_code == 1 and "ghost: not in Kaggle's image" in result.output
    assert fake_cli.calls() == []
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    wheel(house, "ghost", "1.0")
    requirements.write_text("newlib==3.0  # why\nghost==1.0  # newlib needs it\n")
    result = run_cli(push_wheels.main, [*args, "--stage-only"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in staging(tmp_path).glob("*.whl")) == [
        "ghost-1.0-py3-none-any.whl", "newlib-3.0-py3-none-any.whl"]
    assert fake_cli.calls() == []
