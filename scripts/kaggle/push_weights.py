"""Publish a trained model's weights as a Kaggle dataset, for a Kaggle notebook to attach.

\b
Reads  MODEL_DIR/<cv-tag>/fold<k>/   the fold models (complete ones only: with train.json)
       MODEL_DIR/all/                the all-train model (the one a submission uses)
       CV_JSON                       (optional) evaluate.py's cv-*.json, copied in; their
                                     MAP@25s go into the version message
       Kaggle credentials (~/.kaggle/access_token, KAGGLE_API_TOKEN, or a legacy kaggle.json)
Writes STAGING/                      the dataset as uploaded: <cv-tag>/fold<k>/, all/, the cv
                                     JSONs, README.md, dataset-metadata.json
       MODEL_DIR/pushed.json         after a successful upload: dataset id, time, git sha,
                                     message; a dataset it lists gets a new version next time

The first push of a dataset runs `kaggle datasets create -p STAGING --dir-mode zip` (a private
dataset); later ones `kaggle datasets version -p STAGING -m MESSAGE --dir-mode zip`. Each
folder is uploaded as one zip (without --dir-mode the CLI skips folders). Training leftovers
(*.checkpoints, *.tmp*) and incomplete models are never uploaded. STAGING is assembled in a
temp folder beside it and renamed into place; files are hard-linked where possible.

--dry-run stages the dataset, then prints the kaggle command and the files it would upload,
and uploads nothing; with --dataset USER/SLUG it needs no credentials. The kaggle executable
is $KAGGLE_CLI if set, else the one beside this Python, else the one on PATH.
"""

import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the eedi library

from eedi.errors import DataError
from eedi.kaggle.cli import require_credentials
from eedi.kaggle.dataset import (METADATA, check_staging, check_title, dataset_id, git_sha,
                                 link_or_copy, listing, plan_push, run_push, stage)
from eedi.model_folder import STATS_FILE
from eedi.registry import REPO
from eedi.run_log import log, setup_logging, step_timer

MARKER = "pushed.json"
FOLD_DIR = re.compile(r"fold\d+")


def is_leftover(name: str) -> bool:
    """Training leftovers that must never be uploaded: optimizer checkpoints, temp outputs."""
    return name.endswith(".checkpoints") or ".tmp" in name


def complete_models(model_dir: Path, cv_tag: str | None) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) model folders, relative to model_dir: <tag>/fold<k> of cv_tag
    (of every tag when None) and all/. Complete means train.json is there (written last)."""
    candidates = []
    tags = ([model_dir / cv_tag] if cv_tag else
            sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name != "all"
                   and not is_leftover(p.name)))
    for tag in tags:
        if tag.is_dir():
            folds = [p for p in tag.iterdir() if p.is_dir() and FOLD_DIR.fullmatch(p.name)]
            candidates += sorted(folds, key=lambda p: int(p.name[len("fold"):]))
    candidates.append(model_dir / "all")
    complete = [p.relative_to(model_dir) for p in candidates if (p / STATS_FILE).is_file()]
    incomplete = [p.relative_to(model_dir) for p in candidates
                  if p.is_dir() and not (p / STATS_FILE).is_file()]
    return complete, incomplete


def cv_scores(cv_jsons: list[Path]) -> dict[str, dict[str, float]]:
    """{file name: {ranking: overall MAP@25}} from evaluate.py's JSON
    ({ranking: {slice: {"map@25": ...}}}); entries of another shape are left out."""
    scores = {}
    for path in cv_jsons:
        try:
            data = json.loads(path.read_text())
        except ValueError as e:
            raise DataError(path, None, None, f"not JSON ({e})") from None
        found = {}
        if isinstance(data, dict):
            for name, slices in data.items():
                value = slices.get("all", {}).get("map@25") if isinstance(slices, dict) else None
                if isinstance(value, (int, float)):
                    found[name] = float(value)
        scores[path.name] = found
    return scores


def default_message(sha: str, model: str, scores: dict[str, dict[str, float]]) -> str:
    """"<sha> <model> CV MAP@25 tfidf=0.1686 minilm-ft=0.2501" (each ranking once, first
    file wins); without CV scores just "<sha> <model>"."""
    best = {}
    for found in scores.values():
        for name, value in found.items():
            best.setdefault(name, value)
    cv = " ".join(f"{name}={value:.4f}" for name, value in best.items())
    return f"{sha} {model}" + (f" CV MAP@25 {cv}" if cv else "")


def readme(dataset: str, model_dir: Path, models: list[Path], scores, sha: str,
           message: str) -> str:
    lines = [f"# {dataset}", "",
             f"Weights of `{model_dir.name}` from the Eedi misconceptions pipeline "
             f"(git {sha}), pushed by scripts/kaggle/push_weights.py.", "",
             "Each folder is a complete model (its train.json has the training settings and "
             "stats): `<cv-tag>/fold<k>/` was trained on the other folds, `all/` on all of "
             "train (the one a submission uses).", "", "## Models", ""]
    lines += [f"- `{m.as_posix()}/`" for m in models]
    if scores:
        lines += ["", "## CV MAP@25", ""]
        for name, found in scores.items():
            lines += [f"- `{name}`: " + (", ".join(f"{r} {v:.4f}" for r, v in found.items())
                                          or "(no MAP@25 found)")]
    lines += ["", f"Version message: {message}", ""]
    return "\n".join(lines)


def filler(model_dir: Path, models: list[Path], cv_jsons: list[Path]):
    """The staging folder's content: each complete model folder (no training leftovers at
    any depth) and the CV JSONs, hard-linked where possible."""
    def fill(tmp: Path) -> None:
        for rel in models:
            shutil.copytree(model_dir / rel, tmp / rel, copy_function=link_or_copy,
                            ignore=lambda _, names: [n for n in names if is_leftover(n)])
        for path in cv_jsons:
            link_or_copy(path, tmp / path.name)
    return fill


@click.command(help=__doc__)
@click.option("--model-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="models/<data-key>/<model>/ (train_retriever.py's output).")
@click.option("--cv-tag", help="Fold set to include, e.g. QuestionId-5-42 [default: all found].")
@click.option("--cv-json", "cv_jsons", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="evaluate.py's cv-*.json to include; repeat for several.")
@click.option("--dataset", help="SLUG or USER/SLUG [default: eedi-<model>, user from the "
              "Kaggle credentials].")
@click.option("--title", help="Dataset title, 6-50 characters [default: Eedi <model> weights].")
@click.option("--license", "license_name", default="CC0-1.0", show_default=True)
@click.option("--staging", type=click.Path(file_okay=False, path_type=Path),
              help="Where the dataset folder is assembled [default: MODEL_DIR.dataset beside "
              "MODEL_DIR].")
@click.option("--message", help="Version notes [default: '<git sha> <model> CV MAP@25 ...'].")
@click.option("--action", type=click.Choice(["auto", "create", "version"]), default="auto",
              show_default=True, help="auto: create unless MODEL_DIR/pushed.json lists the "
              "dataset; version: for a dataset created elsewhere.")
@click.option("--dry-run", is_flag=True, help="Stage, print the kaggle command and the files; "
              "upload nothing.")
def main(model_dir: Path, cv_tag: str | None, cv_jsons: tuple[Path], dataset: str | None,
         title: str | None, license_name: str, staging: Path | None, message: str | None,
         action: str, dry_run: bool):
    setup_logging()
    model_dir = model_dir.resolve()
    model = model_dir.name
    staging = (staging or model_dir.parent / f"{model}.dataset").resolve()
    check_staging(staging, protected=[model_dir])
    names = [p.name for p in cv_jsons]
    if len(set(names)) < len(names) or {METADATA, "README.md"} & set(names):
        raise click.BadParameter(f"file names must be distinct ({', '.join(names)})",
                                 param_hint="--cv-json")

    models, incomplete = complete_models(model_dir, cv_tag)
    if not models:
        raise click.ClickException(
            f"{model_dir}: no complete model folder (one with train.json) in "
            f"{cv_tag or '<cv-tag>'}/fold<k>/ or all/: train it first (make train-retriever)")
    for rel in incomplete:
        log.warning("skipping %s: no train.json (training unfinished)", model_dir / rel)
    if not (model_dir / "all" / "train.json").is_file():
        log.warning("%s has no complete all/ model: a submission needs it", model_dir)

    ref = dataset_id(dataset, re.sub(r"[^a-z0-9]+", "-", f"eedi-{model}".lower()).strip("-"),
                     make_hint="push-weights")
    if title is None:
        title = f"Eedi {model} weights" if len(model) <= 37 else f"Eedi {model}"[:50]
    check_title(title)
    if not dry_run:
        source = require_credentials()  # before anything is staged or sent
        log.info("Kaggle credentials from %s", source)

    sha = git_sha(REPO)
    scores = cv_scores(list(cv_jsons))
    message = message or default_message(sha, model, scores)
    push = plan_push(ref, staging, model_dir / MARKER, action, message)

    with step_timer("push-weights", model=str(model_dir), dataset=ref, action=push.action,
                    dry_run=dry_run) as record:
        metadata = {"title": title, "id": ref, "licenses": [{"name": license_name}]}
        stage(staging, filler(model_dir, models, list(cv_jsons)), metadata,
              readme(ref, model_dir, models, scores, sha, message))
        log.info("staged %s for %s (%s): %s", staging, ref, push.action,
                 ", ".join(m.as_posix() for m in models))
        record["models"] = [m.as_posix() for m in models]
        if dry_run:
            click.echo(shlex.join(push.command))
            click.echo(listing(staging))
            return
        run_push(push, {"git": sha, "models": record["models"]})
        log.info("pushed %s as https://www.kaggle.com/datasets/%s; wrote %s",
                 model_dir, ref, push.marker)


if __name__ == "__main__":
    main()
