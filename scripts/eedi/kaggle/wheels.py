"""Wheels for Kaggle's Python, downloaded here for a notebook that has no internet.

    pins = read_pins("requirements-kaggle.txt")      # ["peft==0.21.2", ...]; each must be ==
    pip_platforms("2.35")                            # manylinux_2_35_x86_64 ... manylinux1_x86_64
    pip_download_command(python, "requirements-kaggle.txt", dest, "3.11", "2.35")
    # [python, -m, pip, download, --only-binary=:all:, --no-deps, --python-version, 3.11,
    #  --implementation, cp, --abi, cp311, --platform, manylinux_2_35_x86_64, ..., -r, ..., -d, dest]

Why these flags: --only-binary=:all: because the notebook cannot build anything; --no-deps
because Kaggle's image already has torch (its CUDA build), numpy, pandas...: resolving their
dependencies here would download another torch (GBs) that would replace Kaggle's, so the file
lists every package the notebook lacks, dependencies included. pip 23 takes a platform tag
literally (manylinux_2_35 does not imply manylinux_2_28), so every manylinux tag that runs on
Kaggle's glibc is passed.
"""

from __future__ import annotations

import re
from pathlib import Path

from eedi.errors import DataError

PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+")


def read_pins(path: Path) -> list[str]:
    """The requirement lines of a requirements file, comments stripped; each must pin one
    version (name==version), so the notebook's wheels are the ones tested."""
    pins = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not PIN.fullmatch(text):
            raise DataError(path, None, f"line {number}",
                            f"{text!r} is not pinned as name==version")
        pins.append(text)
    if not pins:
        raise DataError(path, None, None, "lists no package")
    return pins


def pip_platforms(glibc: str, arch: str = "x86_64") -> list[str]:
    """Every manylinux tag a system with this glibc runs, newest first: manylinux_2_<k> for
    k = minor down to 5, then the legacy aliases manylinux2014 (2.17), 2010 (2.12), 1 (2.5)."""
    major, minor = (int(x) for x in glibc.split("."))
    if major != 2 or minor < 17:
        raise ValueError(f"glibc {glibc}: expected 2.17 or newer")
    tags = [f"manylinux_2_{k}_{arch}" for k in range(minor, 4, -1)]
    return tags + [f"manylinux{alias}_{arch}" for alias in ("2014", "2010", "1")]


def pip_download_command(python: str, requirements: Path, dest: Path, python_version: str,
                         glibc: str, find_links: str | None = None) -> list[str]:
    """pip download of exactly the pinned wheels for CPython `python_version` on manylinux
    x86_64 with `glibc`; `find_links` (a folder of wheels) replaces the package index."""
    abi = "cp" + python_version.replace(".", "")
    command = [python, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
               "--python-version", python_version, "--implementation", "cp", "--abi", abi]
    for platform in pip_platforms(glibc):
        command += ["--platform", platform]
    if find_links:
        command += ["--no-index", "--find-links", str(find_links)]
    return command + ["-r", str(requirements), "-d", str(dest)]
