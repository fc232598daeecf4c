"""Publish the pipeline's code as a Kaggle dataset, for the Kaggle notebook to run offline.

\b
Reads  REPO's files under scripts/ (with scripts/eedi/), Makefile, make/, requirements*.txt and
       README.md: those git tracks or would track (never ignored ones such as __pycache__),
       as they are in the working tree
       Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes STAGING/                  the dataset as uploaded: those files at their repository
                                 paths, VERSION.json ({"git": sha, "dirty": false, ...}) and
                                 dataset-metadata.json
       MARKER                    after a successful upload: dataset id, time, git sha, message;
                                 a dataset it lists gets a new version next time

Versioned by git: the version message is "<sha> pipeline code (N files)" and VERSION.json
says which commit the notebook runs. A working tree whose shipped files differ from HEAD
(modified, staged, deleted or new files) is refused: the sha would then name code that is
not what was uploaded, and a score could not be traced back to a commit. --allow-dirty
pushes anyway, marked "<sha>-dirty" in the message and "dirty": true in VERSION.json.

The first push runs `kaggle datasets create -p STAGING --dir-mode zip`, later ones
`kaggle datasets version -p STAGING -m MESSAGE --dir-mode zip` (each folder goes up as one
zip; without --dir-mode the CLI skips folders). --dry-run stages the files, prints the kaggle
command and the files, and uploads nothing. The kaggle executable is $KAGGLE_CLI if set, else
the one beside this Python, else the one on PATH.
"""

import datetime
import json
import shlex
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.kaggle.cli import require_credentials
from eedi.kaggle.dataset import (CODE_PATHS, check_staging, check_title, dataset_id, git_files,
                                 git_state, link_or_copy, listing, plan_push, run_push, stage)
from eedi.options import dataset_staging_options
from eedi.registry import REPO
from eedi.run_log import log, setup_logging, step_timer

VERSION_FILE = "VERSION.json"


def filler(repo: Path, files: list[str], version: dict):
    def fill(tmp: Path) -> None:
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(repo / rel, tmp / rel)
        (tmp / VERSION_FILE).write_text(json.dumps(version, indent=2) + "\n")
    return fill


@click.command(help=__doc__)
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=REPO, show_default=True, help="The git repository whose code is pushed.")
@click.option("--dataset", help="SLUG or USER/SLUG [default: eedi-code, user from the Kaggle "
              "credentials].")
@click.option("--title", default="Eedi pipeline code", show_default=True,
              help="Dataset title, 6-50 characters.")
@click.option("--license", "license_name", default="CC0-1.0", show_default=True)
@dataset_staging_options("code")
@click.option("--message", help="Version notes [default: '<sha>[-dirty] pipeline code (N "
              "files)'].")
@click.option("--allow-dirty", is_flag=True, help="Push a working tree that differs from "
              "HEAD (marked dirty) instead of refusing.")
@click.option("--dry-run", is_flag=True, help="Stage, print the kaggle command and the files; "
              "upload nothing.")
def main(repo: Path, dataset: str | None, title: str, license_name: str, staging: Path | None,
         marker: Path | None, message: str | None, action: str, allow_dirty: bool,
         dry_run: bool):
    setup_logging()
    repo = repo.resolve()
    staging = (staging or repo / "submissions" / "code.dataset").resolve()
    marker = (marker or staging.with_name(staging.name + ".pushed.json")).resolve()
    check_staging(staging, protected=[repo / "scripts"])
    if marker.parent == staging or staging in marker.parents:
        raise click.BadParameter(f"{marker} is inside STAGING, which is replaced on every push",
                                 param_hint="--marker")

    sha, dirty = git_state(repo, CODE_PATHS)
    if sha == "nogit":
        raise click.ClickException(f"{repo} is not a git repository with a commit: the code "
                                   "dataset is versioned by its git sha")
    if dirty and not allow_dirty:
        raise click.ClickException(
            f"{repo}: the shipped files ({', '.join(CODE_PATHS)}) differ from HEAD {sha} "
            "(see git status): commit them first, so the dataset's sha names the code it "
            "holds, or pass --allow-dirty (make push-code ALLOW_DIRTY=1)")
    if dirty:
        log.warning("PUSHING A DIRTY TREE: the code differs from %s; marked %s-dirty", sha, sha)
    files = git_files(repo, CODE_PATHS)
    if not any(f.startswith("scripts/eedi/") for f in files):
        raise click.ClickException(f"{repo}: no scripts/eedi/ files found: not this pipeline")

    ref = dataset_id(dataset, "eedi-code", make_hint="push-code")
    check_title(title)
    if not dry_run:
        source = require_credentials()  # before anything is staged or sent
        log.info("Kaggle credentials from %s", source)
    version = f"{sha}-dirty" if dirty else sha
    message = message or f"{version} pipeline code ({len(files)} files)"
    push = plan_push(ref, staging, marker, action, message)

    with step_timer("push-code", dataset=ref, action=push.action, git=version,
                    dry_run=dry_run) as record:
        now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        info = {"git": sha, "dirty": dirty, "dataset": ref, "message": message,
                "files": len(files), "staged": now}
        metadata = {"title": title, "id": ref, "licenses": [{"name": license_name}]}
        stage(staging, filler(repo, files, info), metadata)
        log.info("staged %d files of %s (git %s) in %s for %s (%s)", len(files), repo, version,
                 staging, ref, push.action)
        record["files"] = len(files)
        if dry_run:
            click.echo(shlex.join(push.command))
            click.echo(listing(staging))
            return
        run_push(push, {"git": sha, "dirty": dirty, "files": len(files)})
        log.info("pushed the code as https://www.kaggle.com/datasets/%s; wrote %s", ref, marker)


if __name__ == "__main__":
    main()
