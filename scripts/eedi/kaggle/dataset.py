"""A folder published as a Kaggle dataset: its id, the git state it comes from, staging it
atomically, and the create-or-version push that records what was sent.

    ref = dataset_id("eedi-code", default_slug="eedi-code", make_hint="push-code")  # "me/eedi-code"
    sha, dirty = git_state(REPO, ["scripts", "Makefile"])   # ("51e077f", False)
    check_staging(staging, protected=[model_dir])           # never replace a folder we did not stage
    stage(staging, fill, {"title": ..., "id": ref, ...}, readme_text)   # fill(tmp) adds the files
    print(listing(staging))                                 # sizes, paths, total
    push = plan_push(ref, staging, marker, action="auto", message="51e077f ...")
    push.command   # [kaggle, "datasets", "create"|"version", "-p", staging, ("-m", msg), "--dir-mode", "zip"]
    run_push(push, record={"models": [...]})                # run the CLI, then write the marker

The marker (a JSON file outside the staging folder) lists the datasets already created from
that source, so the next push is a `version`. It is written only after the CLI succeeded.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import click

from eedi.errors import DataError
from eedi.files import write_json
from eedi.kaggle.cli import kaggle_executable, kaggle_username, run_kaggle

METADATA = "dataset-metadata.json"
SLUG = re.compile(r"[a-z0-9-]{6,50}")

# The code dataset: what the notebook runs (the scripts and library, the Makefile with make/
# that chains them), the pinned requirements (requirements-kaggle*.txt: what it installs and what
# it takes from the image) and the README. push_code.py ships these; a rehearsal copies them.
CODE_PATHS = ("scripts", "Makefile", "make", "requirements*.txt", "README.md")


def dataset_id(dataset: str | None, default_slug: str, make_hint: str) -> str:
    """USER/SLUG from --dataset (SLUG or USER/SLUG; default `default_slug`), validated.
    `make_hint` is the Make target named in the error when the user name is unknown."""
    if dataset and "/" in dataset:
        user, _, slug = dataset.partition("/")
    else:
        slug = dataset or default_slug
        user = kaggle_username()
        if not user:
            raise click.ClickException(
                "cannot tell your Kaggle user name (an API token alone does not say it): pass "
                f"--dataset USER/{slug} (make {make_hint} DATASET=USER/{slug}), or set "
                "KAGGLE_USERNAME, or use a kaggle.json with a \"username\"")
    if not user or "/" in slug or not re.fullmatch(r"[A-Za-z0-9_-]+", user):
        raise click.BadParameter(f"{dataset!r} is not SLUG or USER/SLUG", param_hint="--dataset")
    if not SLUG.fullmatch(slug):
        raise click.BadParameter(
            f"dataset slug {slug!r} must be 6-50 characters of a-z, 0-9 and '-' (Kaggle's rule)",
            param_hint="--dataset")
    return f"{user}/{slug}"


def check_title(title: str) -> str:
    if not 6 <= len(title) <= 50:
        raise click.BadParameter(f"{title!r} has {len(title)} characters; Kaggle wants 6-50",
                                 param_hint="--title")
    return title


def _git(repo: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_sha(repo: Path) -> str:
    """The short sha of HEAD, or "nogit" outside a repository."""
    out = _git(repo, "rev-parse", "--short", "HEAD")
    return out.strip() if out and out.strip() else "nogit"


def git_state(repo: Path, paths: Iterable[str] = ()) -> tuple[str, bool]:
    """(short sha of HEAD, whether `paths` (all when empty) differ from it: modified, staged,
    deleted or untracked-and-not-ignored files). Outside a repository: ("nogit", True)."""
    sha = git_sha(repo)
    status = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *paths)
    return sha, status is None or sha == "nogit" or bool(status.strip())


def git_files(repo: Path, paths: Iterable[str]) -> list[str]:
    """The files under `paths` (pathspecs, globs allowed) that git tracks or would track (not
    ignored), as they are in the working tree (deleted ones left out), sorted."""
    out = _git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths)
    if out is None:
        raise click.ClickException(f"{repo} is not a git repository (git ls-files failed)")
    return sorted({f for f in out.split("\0") if f and (repo / f).is_file()})


def link_or_copy(src, dst):
    """Hard-link (no extra disk for multi-GB weights; the CLI only reads), else copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def check_staging(staging: Path, protected: Iterable[Path] = ()) -> None:
    """Refuse a staging folder that overlaps a protected folder (what is published), or that
    exists and is not a staged dataset (no dataset-metadata.json): staging replaces it."""
    for folder in protected:
        if staging == folder or folder in staging.parents or staging in folder.parents:
            raise click.BadParameter(f"{staging} overlaps {folder}", param_hint="--staging")
    if staging.exists() and (not staging.is_dir() or (any(staging.iterdir())
                                                      and not (staging / METADATA).is_file())):
        raise click.BadParameter(f"{staging} exists and is not a staged dataset (no {METADATA}): "
                                 "refusing to replace it", param_hint="--staging")


def stage(staging: Path, fill: Callable[[Path], None], metadata: dict,
          readme_text: str | None = None) -> None:
    """Build the dataset folder in a temp folder beside STAGING (`fill(tmp)` puts the files
    in; then METADATA and README.md when given), then swap it in: a failure or a kill leaves
    the old staging folder or none, never half of one."""
    staging.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{staging.name}.", suffix=".tmp", dir=staging.parent))
    old = None
    try:
        fill(tmp)
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
        if readme_text is not None:
            (tmp / "README.md").write_text(readme_text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700
        if staging.exists():
            old = staging.parent / f".{staging.name}.{os.getpid()}.old.tmp"
            staging.rename(old)
        tmp.rename(staging)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def listing(folder: Path) -> str:
    """One line per file (size, path), then the total."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        return f"0  total, 0 files in {folder}"
    width = max(len(f"{p.stat().st_size:,}") for p in files)
    lines = [f"{p.stat().st_size:>{width},}  {p.relative_to(folder).as_posix()}" for p in files]
    total = sum(p.stat().st_size for p in files)
    return "\n".join(lines + [f"{total:>{width},}  total, {len(files)} files in {folder}"])


def read_marker(marker: Path) -> dict:
    try:
        return json.loads(marker.read_text()) if marker.is_file() else {}
    except ValueError as e:
        raise DataError(marker, None, None, f"not JSON ({e}): fix or delete it") from None


@dataclasses.dataclass
class Push:
    """A planned `kaggle datasets create|version`: what runs, and the marker it updates."""
    ref: str
    action: str          # create | version
    message: str
    marker: Path
    known: set           # datasets the marker lists already
    command: list[str]


def plan_push(ref: str, staging: Path, marker: Path, action: str, message: str) -> Push:
    """action auto: `version` when the marker lists `ref` (created before), else `create`.
    --dir-mode zip uploads each folder as one zip (without it the CLI silently skips folders)."""
    pushed = read_marker(marker)
    known = set(pushed.get("datasets", [])) | {pushed.get("dataset")}
    known.discard(None)
    if action == "auto":
        action = "version" if ref in known else "create"
    command = [kaggle_executable(), "datasets", action, "-p", str(staging)]
    command += ["-m", message] if action == "version" else []
    command += ["--dir-mode", "zip"]
    return Push(ref, action, message, marker, known, command)


def run_push(push: Push, record: dict | None = None) -> dict:
    """Run the CLI; on success write the marker: dataset, action, time, message, `record`'s
    fields, and every dataset created from this source. Returns what was written."""
    run_kaggle(push.command, hint="; if the dataset exists already (pushed from elsewhere), "
               "re-run with --action version" if push.action == "create" else "")
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    written = {"dataset": push.ref, "action": push.action, "time": now,
               "message": push.message, **(record or {}),
               "datasets": sorted(push.known | {push.ref})}
    write_json(written, push.marker)
    return written
