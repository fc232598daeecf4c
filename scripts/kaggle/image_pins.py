"""Write constraints-kaggle-image.txt, Kaggle's GPU image as pip constraints, from a pip freeze.

\b
Reads  FREEZE   a `pip freeze` of the image: the image-freeze.txt the notebook writes to its
                output on Kaggle (make kernel-output fetches it; its '# python:' and '# glibc:'
                lines say the rest), or Colab's published pip-freeze.gpu.txt (the base
                Kaggle's image extends; then give --python-version)
Writes OUT      constraints-kaggle-image.txt: '# python: X', '# glibc: Y', the sources, then
                name==version per package (local labels such as +cu128 dropped; direct
                references left out and listed in the header)

    make image-pins FREEZE=submissions/kernel-output/image-freeze.txt \\
        SOURCE="the notebook's pip freeze, kernel version 7, 2026-12-03"
"""

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.files import write_text
from eedi.kaggle.image import HEADER, Image, freeze_pins, image_text
from eedi.registry import REPO
from eedi.run_log import log, setup_logging


@click.command(help=__doc__)
@click.option("--freeze", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              required=True, help="A pip freeze of Kaggle's image.")
@click.option("--python-version", help="The image's Python, e.g. 3.12.13 [FREEZE's '# python:'].")
@click.option("--glibc", help="The image's glibc [FREEZE's '# glibc:', else 2.35: Ubuntu 22.04].")
@click.option("--source", "sources", multiple=True, required=True,
              help="Where the freeze comes from and when (repeatable; goes into the header).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=REPO / "constraints-kaggle-image.txt", show_default=True)
def main(freeze: Path, python_version: str | None, glibc: str | None, sources: tuple[str, ...],
         out: Path):
    setup_logging()
    text = freeze.read_text()
    header = dict(m.groups() for m in map(HEADER.match, text.splitlines()) if m)
    python_version = python_version or header.get("python")
    glibc = glibc or header.get("glibc") or "2.35"
    if not python_version:
        raise click.UsageError(f"{freeze} has no '# python: X.Y.Z' line: pass --python-version")
    if python_version.count(".") < 1 or not python_version.replace(".", "").isdigit():
        raise click.BadParameter(f"{python_version!r} is not a version such as 3.12.13",
                                 param_hint="--python-version")
    pins, dropped = freeze_pins(text)
    if not pins:
        raise click.ClickException(f"{freeze}: no name==version line: not a pip freeze")
    write_text(image_text(Image(python_version, glibc, pins), list(sources), dropped), out)
    log.info("wrote %s: %d pins for Python %s, glibc %s (%d lines left out)", out, len(pins),
             python_version, glibc, len(dropped))


if __name__ == "__main__":
    main()
