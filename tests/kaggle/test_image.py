"""eedi/kaggle/image.py and scripts/kaggle/image_pins.py: a pip freeze becomes the image's
constraints (local labels dropped, direct references left out and named), the file's header
carries Python and glibc, a malformed file is one error naming the line; the committed
constraints-kaggle-image.txt is Kaggle's Python 3.12 image with the versions issue 23 names."""

import pytest

import image_pins
from eedi.kaggle.image import Image, canonical, freeze_pins, read_image
from eedi.registry import REPO

FREEZE = """\
# python: 3.12.13
# glibc: 2.35
click==8.3.3
Jinja2==3.1.6
torch==2.10.0+cu128
typing_extensions==4.15.0
google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz
-e git+https://github.com/x/y@abc#egg=y
"""


def test_a_freeze_becomes_pins_with_canonical_names_and_no_local_labels():
    pins, dropped = freeze_pins(FREEZE)
    assert pins == {"click": "8.3.3", "jinja2": "3.1.6", "torch": "2.10.0",
                    "typing-extensions": "4.15.0"}
    assert [d.split()[0] for d in dropped] == ["google-colab", "-e"]
    assert canonical("Typing_Extensions") == canonical("typing.extensions") == "typing-extensions"


def test_the_command_writes_a_file_read_image_reads_back(tmp_path, run_cli):
    freeze = tmp_path / "image-freeze.txt"
    freeze.write_text(FREEZE)
    out = tmp_path / "constraints.txt"
    result = run_cli(image_pins.main, ["--freeze", freeze, "--source", "a notebook run, 2026-12-03",
                                       "--out", out])
    assert result.exit_code == 0, result.output
    image = read_image(out)
    assert (image.python, image.python_minor, image.glibc) == ("3.12.13", "3.12", "2.35")
    assert image.pins["torch"] == "2.10.0" and len(image.pins) == 4
    text = out.read_text()
    assert "# source: a notebook run, 2026-12-03" in text and "google-colab" in text
    assert image.constraints(without=["Click"]) == ("jinja2==3.1.6\ntorch==2.10.0\n"
                                                    "typing-extensions==4.15.0\n")


def test_a_freeze_without_its_python_needs_the_option(tmp_path, run_cli):
    freeze = tmp_path / "pip-freeze.gpu.txt"
    freeze.write_text("click==8.3.3\n")
    result = run_cli(image_pins.main, ["--freeze", freeze, "--source", "x", "--out", tmp_path / "o"])
    assert result.exit_code == 2 and "no '# python: X.Y.Z' line" in result.output
    assert not (tmp_path / "o").exists()
    result = run_cli(image_pins.main, ["--freeze", freeze, "--source", "x", "--python-version",
                                       "3.12.13", "--out", tmp_path / "o"])
    assert result.exit_code == 0 and read_image(tmp_path / "o").glibc == "2.35"


def test_a_malformed_constraints_file_names_its_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("# python: 3.12.13\n# glibc: 2.35\nclick==8.3.3\nnumpy>=2\n")
    with pytest.raises(ValueError, match=r"c.txt, line 4: 'numpy>=2' is not name==version"):
        read_image(path)
    path.write_text("# glibc: 2.35\nclick==8.3.3\n")
    with pytest.raises(ValueError, match="no '# python: ...' line"):
        read_image(path)


def test_the_committed_image_is_kaggles_python_312_image():
    image = read_image(REPO / "constraints-kaggle-image.txt")
    assert isinstance(image, Image) and image.python_minor == "3.12"
    # the versions the review found there (issue 23): older than what .venv tests
    assert {k: image.pins[k] for k in ("pandas", "numpy", "pyarrow", "scikit-learn", "click",
                                       "idna", "torch")} == {
        "pandas": "2.2.2", "numpy": "2.0.2", "pyarrow": "18.1.0", "scikit-learn": "1.6.1",
        "click": "8.3.3", "idna": "3.13", "torch": "2.10.0"}
    assert "vllm" not in image.pins and "bitsandbytes" not in image.pins
    assert "faiss-cpu" not in image.pins  # so requirements-kaggle.txt ships it
    # everything the notebook takes from the image is pinned there
    from eedi.kaggle.install import requirement_names
    relied_on = requirement_names(REPO / "requirements-kaggle-image.txt")
    assert relied_on and all(name in image.pins for name in relied_on)
