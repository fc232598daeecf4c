"""Kaggle's GPU image as data: its Python, its glibc and its packages' versions.

The image is pinned in constraints-kaggle-image.txt, a pip constraints file made from a
`pip freeze` of the image (scripts/kaggle/image_pins.py), its header naming the source:

    # python: 3.12.13
    # glibc: 2.35
    # source: ...
    pandas==2.2.2
    torch==2.10.0            (the freeze's torch==2.10.0+cu128: local labels dropped)

    image = read_image("constraints-kaggle-image.txt")
    image.python, image.glibc         # "3.12.13", "2.35"
    image.pins["pandas"]              # "2.2.2" (keys are canonical names: PEP 503)
    image.constraints(without={"click"})   # the pins as pip -c lines, minus what we ship
    pins, dropped = freeze_pins(text) # a pip freeze -> {name: version}, [lines left out]

Standard library only: the notebook's install cell uses it before anything is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PIN_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
HEADER = re.compile(r"#\s*(python|glibc):\s*(\S+)")


def canonical(name: str) -> str:
    """PEP 503's normalised name: 'Jinja2' -> 'jinja2', 'typing_extensions' -> 'typing-extensions'."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Image:
    python: str                      # e.g. "3.12.13"
    glibc: str                       # e.g. "2.35"
    pins: dict[str, str] = field(default_factory=dict)  # canonical name -> version
    path: Path | None = None

    @property
    def python_minor(self) -> str:
        """'3.12.13' -> '3.12' (what pip's --python-version and the cp312 tags take)."""
        return ".".join(self.python.split(".")[:2])

    def constraints(self, without=()) -> str:
        """The pins as a pip constraints file, leaving out the packages in `without` (the ones
        the notebook replaces from its wheels: a constraint would forbid their new version)."""
        drop = {canonical(n) for n in without}
        return "".join(f"{n}=={v}\n" for n, v in self.pins.items() if n not in drop)


def freeze_pins(text: str) -> tuple[dict[str, str], list[str]]:
    """A `pip freeze` output -> ({canonical name: version}, [lines left out, with why]).

    A local version label is dropped (torch==2.10.0+cu128 -> 2.10.0: PyPI serves the build
    without the label); a direct reference (name @ URL), an editable install or anything else
    that is not name==version cannot be a pip constraint and is left out."""
    pins: dict[str, str] = {}
    dropped = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN_LINE.fullmatch(line)
        if not match:
            dropped.append(line)
            continue
        pins[canonical(match[1])] = match[2].split("+", 1)[0]
    return pins, dropped


def read_image(path: str | Path) -> Image:
    """constraints-kaggle-image.txt -> Image; ValueError naming the file and line if a line is
    not name==version or the header lacks python: / glibc:."""
    path = Path(path)
    header: dict[str, str] = {}
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if line.startswith("#"):
            match = HEADER.match(line)
            if match:
                header[match[1]] = match[2]
            continue
        if not line:
            continue
        match = PIN_LINE.fullmatch(line)
        if not match:
            raise ValueError(f"{path}, line {number}: {line!r} is not name==version")
        pins[canonical(match[1])] = match[2]
    missing = [key for key in ("python", "glibc") if key not in header]
    if missing:
        raise ValueError(f"{path}: its header has no '# {missing[0]}: ...' line")
    return Image(header["python"], header["glibc"], pins, path)


def image_text(image: Image, source: list[str], dropped: list[str]) -> str:
    """The constraints file's text for `image`: the header (python, glibc, where the pins come
    from, what was left out), then one name==version a line."""
    lines = [
        "# Kaggle's GPU image as pip constraints: what `pip freeze` lists there, name==version.",
        "# Written by scripts/kaggle/image_pins.py (make image-pins); do not edit by hand.",
        "# Used by: make kernel-local KAGGLE_IMAGE=1 (.venv-kaggle is built inside these pins),",
        "# make push-wheels (wheels for this Python and glibc) and the wheels' resolution check.",
        f"# python: {image.python}",
        f"# glibc: {image.glibc}",
        *(f"# source: {s}" for s in source),
        f"# left out ({len(dropped)}, not name==version): "
        + ", ".join(d.split(" @ ")[0] for d in dropped),
    ]
    return "\n".join(lines) + "\n" + image.constraints()
