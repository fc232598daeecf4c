"""Download the wheels the Kaggle notebook installs offline, check them, publish them as a dataset.

\b
Reads  REQUIREMENTS (requirements-kaggle.txt): the packages Kaggle's image lacks or has too
       old, each pinned name==version, with a comment saying why
       IMAGE (constraints-kaggle-image.txt): the image's Python, glibc and package versions
       the package index (or --find-links DIR), through this Python's pip
       Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes STAGING/                  the dataset: the .whl files, REQUIREMENTS (for the
                                 notebook's `pip install --no-index --no-deps --find-links`),
                                 dataset-metadata.json
       MARKER                    after a successful upload: dataset id, time, wheels, message

The wheels are for the image's CPython on manylinux x86_64 with its glibc, binary only and
without dependencies (see eedi/kaggle/wheels.py for why): `python -m pip download
--only-binary=:all: --no-deps --python-version 3.12 --implementation cp --abi cp312 --platform
manylinux_2_35_x86_64 ... -r REQUIREMENTS -d <temp folder>`; a pin that has no such wheel fails
the whole download, and nothing is staged. --check-with PYTHON (an environment holding the
image's packages: .venv-kaggle) then runs pip's resolver offline over the staged wheels with the
image's pins as constraints: a dependency neither shipped nor in the image stops it, naming the
package, before anything is uploaded. Then `kaggle datasets create|version -p STAGING
[-m MESSAGE] --dir-mode zip`; --stage-only stops before (no credentials needed).

--dry-run prints the pip command and the kaggle command and the pinned packages, downloads
and stages nothing, and uploads nothing.
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.kaggle.cli import require_credentials
from eedi.kaggle.dataset import (check_staging, check_title, dataset_id, git_sha, plan_push,
                                 run_push, stage, listing)
from eedi.kaggle.image import read_image
from eedi.kaggle.wheels import ResolutionFailed, check_resolution, pip_download_command, read_pins
from eedi.options import dataset_staging_options
from eedi.registry import REPO
from eedi.run_log import log, setup_logging, step_timer


def downloader(command_of, requirements: Path):
    """fill(tmp): pip download into tmp (pip's output goes to the log; its error tail becomes
    the error), then the requirements file beside the wheels."""
    def fill(tmp: Path) -> None:
        command = command_of(tmp)
        log.info("running %s", shlex.join(command))
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
            raise click.ClickException(f"pip download failed (exit code {proc.returncode}); "
                                       f"nothing staged:\n{tail}")
        shutil.copy2(requirements, tmp / requirements.name)
    return fill


@click.command(help=__doc__)
@click.option("--requirements", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=REPO / "requirements-kaggle.txt", show_default=True,
              help="The pinned packages the notebook installs.")
@click.option("--image", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=REPO / "constraints-kaggle-image.txt", show_default=True,
              help="Kaggle's image: its Python, glibc and package pins.")
@click.option("--python-version", help="Kaggle's Python (major.minor) [the image's].")
@click.option("--glibc", help="Kaggle image's glibc: the newest manylinux tag taken [the image's].")
@click.option("--check-with", "check_python", type=click.Path(dir_okay=False, exists=True),
              help="Resolve the staged wheels offline with this Python (its environment holding "
              "the image's packages: .venv-kaggle/bin/python) before pushing.")
@click.option("--alongside", type=click.Path(file_okay=False, exists=True, path_type=Path),
              multiple=True, help="A staged wheels dataset installed with this one (its wheels "
              "and requirements file join the check): the notebook's, for the vLLM wheels.")
@click.option("--stage-only", is_flag=True, help="Download (and check) into STAGING; push nothing.")
@click.option("--find-links", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Take the wheels from this folder instead of the package index.")
@click.option("--dataset", help="SLUG or USER/SLUG [default: eedi-wheels, user from the "
              "Kaggle credentials].")
@click.option("--title", default="Eedi offline wheels", show_default=True,
              help="Dataset title, 6-50 characters.")
@click.option("--license", "license_name", default="other", show_default=True,
              help="Each wheel keeps its own license.")
@dataset_staging_options("wheels")
@click.option("--message", help="Version notes [default: '<sha> N wheels for cp312 "
              "manylinux_2_35'].")
@click.option("--dry-run", is_flag=True, help="Print the pip and kaggle commands; download, "
              "stage and upload nothing.")
def main(requirements: Path, image: Path, python_version: str | None, glibc: str | None,
         check_python: str | None, alongside: tuple[Path, ...], stage_only: bool, find_links: Path | None,
         dataset: str | None, title: str, license_name: str, staging: Path | None,
         marker: Path | None, message: str | None, action: str, dry_run: bool):
    setup_logging()
    requirements = requirements.resolve()
    staging = (staging or REPO / "submissions" / "wheels.dataset").resolve()
    marker = (marker or staging.with_name(staging.name + ".pushed.json")).resolve()
    check_staging(staging)
    pins = read_pins(requirements)
    kaggle_image = read_image(image)
    python_version = python_version or kaggle_image.python_minor
    glibc = glibc or kaggle_image.glibc
    check_title(title)
    if stage_only:  # nothing goes to Kaggle: no dataset id, no credentials
        ref, push = dataset or "eedi-wheels", None
    else:
        ref = dataset_id(dataset, "eedi-wheels", make_hint="push-wheels")
        if not dry_run:
            source = require_credentials()  # before anything is downloaded or sent
            log.info("Kaggle credentials from %s", source)
        tag = f"cp{python_version.replace('.', '')} manylinux_{glibc.replace('.', '_')}"
        message = message or f"{git_sha(REPO)} {len(pins)} wheels for {tag}"
        push = plan_push(ref, staging, marker, action, message)

    def command_of(dest):
        return pip_download_command(sys.executable, requirements, dest, python_version, glibc,
                                    find_links)

    with step_timer("push-wheels", dataset=ref, action=push.action if push else "stage",
                    wheels=len(pins), dry_run=dry_run) as record:
        if dry_run:
            click.echo(shlex.join(command_of(staging)))
            if push:
                click.echo(shlex.join(push.command))
            click.echo("\n".join(f"  {pin}" for pin in pins))
            return
        metadata = {"title": title, "id": ref, "licenses": [{"name": license_name}]}
        stage(staging, downloader(command_of, requirements), metadata)
        wheels = sorted(p.name for p in staging.glob("*.whl"))
        record["files"] = wheels
        click.echo(listing(staging))
        if check_python:
            try:
                others = [(d, next(d.glob("requirements*.txt"))) for d in alongside]
                would_install = check_resolution(check_python, staging, requirements,
                                                 kaggle_image, others)
            except ResolutionFailed as e:
                raise click.ClickException(str(e)) from None
            log.info("pip resolves the %d wheels against Kaggle's image (%s) offline; it would "
                     "install %d packages", len(wheels), image.name, len(would_install))
        if push is None:
            log.info("staged %d wheels in %s (--stage-only: nothing pushed)", len(wheels), staging)
            return
        run_push(push, {"wheels": wheels, "requirements": pins})
        log.info("pushed %d wheels as https://www.kaggle.com/datasets/%s; wrote %s",
                 len(wheels), ref, marker)


if __name__ == "__main__":
    main()
