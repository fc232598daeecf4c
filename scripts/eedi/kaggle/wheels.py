"""Wheels for Kaggle's Python, downloaded here for a notebook that has no internet.

    pins = read_pins("requirements-kaggle.txt")      # ["peft==0.21.2", ...]; each must be ==
    pip_platforms("2.35")                            # manylinux_2_35_x86_64 ... manylinux1_x86_64
    pip_download_command(python, "requirements-kaggle.txt", dest, "3.12", "2.35")
    # [python, -m, pip, download, --only-binary=:all:, --no-deps, --python-version, 3.12,
    #  --implementation, cp, --abi, cp312, --platform, manylinux_2_35_x86_64, ..., -r, ..., -d, dest]
    check_resolution(".venv-kaggle/bin/python", dest, "requirements-kaggle.txt", image)
    # pip's resolver, offline, where the image's packages are installed: ["peft==0.21.2", ...]
    # that it would install, or ResolutionFailed naming what the image lacks or has too old

Why these flags: --only-binary=:all: because the notebook cannot build anything; --no-deps
because Kaggle's image already has torch (its CUDA build), numpy, pandas...: resolving their
dependencies here would download another torch (GBs) that would replace Kaggle's, so the file
lists every package the notebook lacks, dependencies included. pip 23 takes a platform tag
literally (manylinux_2_35 does not imply manylinux_2_28), so every manylinux tag that runs on
Kaggle's glibc is passed. Without a resolver on Kaggle, the set is resolved here instead
(check_resolution), against the image's pins (eedi.kaggle.image).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

from eedi.errors import DataError
from eedi.kaggle.image import Image, canonical

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


# pip's words before the requirement it could not meet: "Could not find a version that
# satisfies the requirement X", "No matching distribution found for X", "(constraint) X==v"
UNMET = r"(?:the requirement|found for|\(constraint\)) ([A-Za-z0-9][A-Za-z0-9._-]*)"


class ResolutionFailed(Exception):
    pass


def resolve_command(python: str, sets: list[tuple[Path, Path]], constraints: Path,
                    report: Path) -> list[str]:
    """pip's own resolver, offline, run by `python` (an environment holding the image's
    packages: .venv-kaggle): can the shipped wheels' every dependency be met by what is installed
    or by another shipped wheel, with the image's packages held at their pinned versions?
    sets: (wheels folder, its requirements file) of each wheels dataset installed together."""
    command = [python, "-m", "pip", "install", "--dry-run", "--no-index"]
    for wheels, _ in sets:
        command += ["--find-links", str(wheels)]
    command += ["-c", str(constraints)]
    for _, requirements in sets:
        command += ["-r", str(requirements)]
    return command + ["--report", str(report)]


def pip_errors(output: str) -> list[str]:
    """pip's ERROR lines and its "The conflict is caused by:" paragraph."""
    lines, conflict = [], False
    for line in output.splitlines():
        if line.startswith("ERROR:"):
            lines.append(line)
        elif line.startswith("The conflict is caused by"):
            conflict = True
            lines.append(line)
        elif conflict:
            if not line.strip():
                conflict = False
            else:
                lines.append(line)
    return lines


def check_resolution(python: str, wheels: Path, requirements: Path, image: Image,
                     alongside: list[tuple[Path, Path]] = ()) -> list[str]:
    """Run resolve_command with the image's pins (minus the packages we ship, whose newer
    versions a pin would forbid) as constraints; `alongside`: other wheels datasets (folder,
    requirements) installed with this one (the vLLM wheels sit on the notebook's wheels).
    Returns what pip would install (name==version); ResolutionFailed with pip's error and, for
    each requirement it could not meet, whether the image has that package (then it belongs in
    requirements-kaggle-image.txt, or a newer one must be shipped) or not (then it must be
    shipped)."""
    sets = [(wheels, requirements), *alongside]
    shipped = [pin.split("==")[0] for _, r in sets for pin in read_pins(r)]
    with tempfile.TemporaryDirectory() as tmp:
        constraints, report = Path(tmp) / "image-constraints.txt", Path(tmp) / "report.json"
        constraints.write_text(image.constraints(without=shipped))
        done = subprocess.run(resolve_command(python, sets, constraints, report),
                              capture_output=True, text=True)
        if done.returncode == 0:
            return [f"{item['metadata']['name']}=={item['metadata']['version']}"
                    for item in json.loads(report.read_text()).get("install", [])]
    output = done.stdout + "\n" + done.stderr
    errors = pip_errors(output) or output.strip().splitlines()[-8:]
    hints = []
    for name in dict.fromkeys(re.findall(UNMET, output)):
        version = image.pins.get(canonical(name))
        hints.append(f"{name}: the image has {name}=={version} (too old: ship a newer one in "
                     "requirements-kaggle.txt; or, if it satisfies, list it in "
                     "requirements-kaggle-image.txt)" if version else
                     f"{name}: not in Kaggle's image: requirements-kaggle.txt must ship it")
    raise ResolutionFailed("pip cannot resolve the shipped wheels against Kaggle's image "
                           f"({image.path}):\n" + "\n".join(errors)
                           + ("\n" + "\n".join(hints) if hints else ""))
