"""eedi/kaggle/install.py, the notebook's install cell, in a venv standing for Kaggle's image:
the wheels dataset installs exactly (no resolver), the image's freeze is saved with its Python,
pip check fails on a broken requirement of what we ship or rely on and only warns about the
image's own, and the smoke test catches a module that does not import and a version that is
not the shipped one."""

import pytest

from conftest import venv_with, wheel
from eedi.kaggle.install import (InstallFailed, broken_requirements, install_wheels, pinned,
                                 smoke_test)


def test_pip_checks_lines_are_ours_when_the_broken_package_is_one_we_use():
    out = ("peft 0.21.2 requires accelerate, which is not installed.\n"
           "datasets 4.0.0 has requirement huggingface-hub<1.0, but you have huggingface-hub 2.4.0.\n"
           "Jinja2 3.1.6 has requirement MarkupSafe>=2.0, but you have markupsafe 1.0.\n")
    mine, theirs = broken_requirements(out, {"peft", "jinja2"})
    assert [line.split()[0] for line in mine] == ["peft", "Jinja2"]
    assert [line.split()[0] for line in theirs] == ["datasets"]
    assert broken_requirements("No broken requirements found.\n", {"peft"}) == ([], [])


@pytest.fixture
def image(tmp_path):
    """(python, code, wheels): a venv with the image's baselib 1.0 and unrelated 1.0 (which
    wants baselib<1.0: the image's own breakage), a code folder, a wheels folder."""
    house = tmp_path / "house"
    python = venv_with(tmp_path / "image", [wheel(house, "baselib", "1.0"),
                                            wheel(house, "unrelated", "1.0", requires=("baselib<1.0",))])
    code = tmp_path / "code"
    (code / "scripts").mkdir(parents=True)
    (code / "requirements-kaggle-image.txt").write_text("baselib  # we import it\n")
    return python, code, tmp_path / "wheels"


def ship(wheels, *items):
    for name, version, requires in items:
        wheel(wheels, name, version, requires=requires)
    (wheels / "requirements-kaggle.txt").write_text(
        "".join(f"{n}=={v}  # why\n" for n, v, _ in items))


def test_installs_exactly_the_shipped_set_and_checks_it(image, tmp_path):
    python, code, wheels = image
    ship(wheels, ("newlib", "2.0", ("baselib>=1.0",)), ("extra", "0.5", ()))
    wheel(wheels, "newlib", "3.0")  # a newer wheel lying there: not what was pinned
    lines = []
    install_wheels(wheels, code, python, freeze_to=tmp_path / "image-freeze.txt",
                   echo=lines.append, modules=("newlib", "baselib"))
    freeze = (tmp_path / "image-freeze.txt").read_text()
    assert freeze.startswith("# python: 3.") and "baselib==1.0" in freeze and "newlib" not in freeze
    assert any("installed 2 packages" in line for line in lines)
    assert any(line.startswith("warning (the image's own") and "unrelated" in line for line in lines)
    assert any("pip check passed for the 3 packages" in line for line in lines)
    assert "2 shipped packages at their versions; 2 modules import" in lines[-1]
    assert pinned(wheels / "requirements-kaggle.txt") == {"newlib": "2.0", "extra": "0.5"}


def test_a_broken_requirement_of_a_shipped_package_fails_with_one_message(image):
    python, code, wheels = image
    ship(wheels, ("newlib", "2.0", ("ghost>=1",)))  # --no-deps installs it; pip check does not pass it
    with pytest.raises(InstallFailed, match=r"newlib 2.0 requires ghost.*which is not installed"):
        install_wheels(wheels, code, python, echo=lambda _: None, modules=())


def test_the_smoke_test_catches_a_missing_module_and_a_shadowing_version(image):
    python, code, _ = image
    assert "0 modules import" in smoke_test(python, code, {"baselib": "1.0"}, modules=())
    with pytest.raises(InstallFailed, match="No module named 'faiss'"):
        smoke_test(python, code, {}, modules=("baselib", "faiss"))
    with pytest.raises(InstallFailed, match=r"baselib 1.0 \(shipped 2.0\)"):
        smoke_test(python, code, {"baselib": "2.0"}, modules=())


def test_no_wheels_attached_still_runs_the_smoke_test(image):
    python, code, _ = image
    with pytest.raises(InstallFailed, match="No module named 'faiss'"):
        install_wheels(None, code, python, echo=lambda _: None, modules=("faiss",))
